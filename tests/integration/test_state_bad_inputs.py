"""Bad state-level months are refused by the gate, by name, and the national months still publish.

The emulator serves one bad row in every state detail response (an unknown state code, a
value that makes the states miss the national value, a negative value); the month goes
through the real extract, load (GX gate) and publish stages.
"""

from __future__ import annotations

import duckdb
import pytest
from duck import query

from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.integration
MONTH = "2017-02"
STATE_FLOWS = ("state_exports", "state_imports")


def state_rows(settings) -> tuple:
    """What the raw state tables hold for MONTH: rows, value sum and load id per flow."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return tuple(
            con.execute(
                f"select count(*), sum({value}), min(load_id) from raw.census_{flow}_hs where month = ?",
                [f"{MONTH}-01"],
            ).fetchone()
            for flow, value in (("state_exports", "all_value_usd"), ("state_imports", "gen_value_usd"))
        )
    finally:
        con.close()


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("unknown_state", ["unknown_state_code", "ZZ"]),
        ("off_national", ["states sum to the national value [partner ", "state rows sum to the state total"]),
        ("negative", ["negative_values", "all_value_usd=-"]),
    ],
)
def test_a_bad_state_month_is_refused_by_name_and_the_national_month_publishes(emulator, state_settings, fault, named):
    settings = state_settings
    emulator.set_faults(state_fault=fault)
    extracted = extract(settings, [MONTH], run_id="bad")
    assert not extracted.failures and len(extracted.landed) == 4
    loaded = load_and_validate(settings, extracted.landed, "bad")
    assert sorted(m.flow for m in loaded.loaded) == ["exports", "imports"]
    failed = {f.flow: f for f in loaded.failures}
    assert sorted(failed) == list(STATE_FLOWS)
    for flow in STATE_FLOWS:
        assert failed[flow].stage == "validate" and failed[flow].month == MONTH
        described = "\n".join(e.describe() for e in failed[flow].expectations)
        for words in named if flow == "state_exports" else named[:1]:
            assert words in described, described
    assert state_rows(settings) == ((0, None, None), (0, None, None))  # nothing of the bad month was loaded

    published = transform_and_publish(settings, "bad")
    assert published.published, published
    assert query(settings.serving_path, "select strftime(month, '%Y-%m') from marts.trade_balance_monthly limit 1")
    assert query(settings.serving_path, "select count(*) from marts.state_trade_monthly") == [(0,)]
    validations = query(
        settings.warehouse_path,
        "select suite from audit.validations where flow = 'state_exports' and not success order by suite",
    )
    assert validations and {s for (s,) in validations} <= {"census_state_month", "census_state_reconciliation"}


def test_a_bad_state_revision_keeps_the_loaded_state_month(emulator, state_settings):
    settings = state_settings
    good = extract(settings, [MONTH], run_id="good")
    assert not load_and_validate(settings, good.landed, "good").failures
    assert transform_and_publish(settings, "good").published
    before = state_rows(settings)
    marts_before = query(settings.serving_path, "select count(*), sum(exports_usd) from marts.state_trade_monthly")
    assert before[0][0] > 0 and marts_before[0][0] > 0

    emulator.set_faults(state_fault="off_national")
    bad = extract(settings, [MONTH], run_id="bad")
    loaded = load_and_validate(settings, bad.landed, "bad")
    assert sorted(f.flow for f in loaded.failures) == list(STATE_FLOWS)
    assert state_rows(settings) == before  # the loaded version stays, row for row
    transform_and_publish(settings, "bad")
    after = query(settings.serving_path, "select count(*), sum(exports_usd) from marts.state_trade_monthly")
    assert after == marts_before


def test_a_state_month_without_its_national_month_is_refused(emulator, state_settings):
    settings = state_settings
    extracted = extract(settings, [MONTH], flows=STATE_FLOWS, run_id="states-only")
    loaded = load_and_validate(settings, extracted.landed, "states-only")
    assert sorted(f.flow for f in loaded.failures) == list(STATE_FLOWS)
    described = "\n".join(e.describe() for f in loaded.failures for e in f.expectations)
    assert "the national month is not loaded" in described
