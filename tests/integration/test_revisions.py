"""Vintage history and the revisions marts, against the emulator's annual revision.

One warehouse for the module: load 2016-04..2016-05, publish; switch the emulator to its
revised vintage, reload through the path the nightly run takes (extract, then load, which
reloads only the months whose data changed), publish again. In the emulator's vintage 1,
2016-04 changes and 2016-05 does not. Expectations are computed from the landed
files themselves (the two extractions of each flow-month), not from the marts' SQL.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from duck import query

from trade_warehouse.core.config import Settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.server import EmulatorState, make_server
from trade_warehouse.emulator.synthetic import Universe
from trade_warehouse.load.landing import read_extractions, read_manifest
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, history, load_and_validate
from trade_warehouse.transform import dbt_runner, snapshot_replay

pytestmark = pytest.mark.integration

MONTHS = ["2016-04", "2016-05"]
REVISED = {"2016-04"}  # the emulator's vintage 1 changes 2016-04, not 2016-05
VALUE = {"exports": "ALL_VAL_MO", "imports": "GEN_VAL_MO"}
LATEST_MONTH = "2017-06"  # as tests/conftest.py: the revision window reaches back to 2014


@dataclass
class Revised:
    settings: Settings
    before_revision: datetime  # a time between the first publish and the revision's loads
    annual_first: list[tuple]  # trade_balance_annual as the first publish served it
    revisions_after_revision: list[tuple]
    rerun: object


def _partner_values(path: str, flow: str) -> dict[str, int]:
    """Individual partners' values in one landed totals file, read from its own header row."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header, *rows = json.load(handle)
    code, value = header.index("CTY_CODE"), header.index(VALUE[flow])
    return {
        r[code]: int(r[value])
        for r in rows
        if r[code] != "-" and not r[code].startswith("0") and not r[code].endswith("X")
    }


def landed_versions(settings: Settings, flow: str, month: str) -> list[dict[str, int]]:
    """The partner totals of every extraction of a flow-month, oldest first, from the landing zone."""
    files = read_manifest(settings.landing_dir, flow, settings.hs_level, month)
    versions = []
    for record in read_extractions(settings.landing_dir, flow, settings.hs_level, month):
        totals = [f for f in files if f.extraction_id == record["extraction_id"] and f.kind == "totals"]
        assert len(totals) == 1
        versions.append(_partner_values(totals[0].path, flow))
    return versions


@pytest.fixture(scope="module")
def revised(tmp_path_factory: pytest.TempPathFactory) -> Revised:
    state = EmulatorState(universe=Universe("small"), api_keys=frozenset([DEMO_API_KEY]), latest_month=LATEST_MONTH)
    server = make_server(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    base_url = f"http://{host}:{port}/data/timeseries/intltrade"
    monkeypatch = pytest.MonkeyPatch()
    data_dir = tmp_path_factory.mktemp("revisions") / "data"
    monkeypatch.setenv("TRADE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CENSUS_API_BASE_URL", base_url)
    monkeypatch.setenv("CENSUS_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("CENSUS_API_PACING_S", "0")
    monkeypatch.setenv("TRADE_STATE_TRADE", "off")  # the national revisions: the state months have their own tests
    settings = Settings(
        base_url=base_url, api_key=DEMO_API_KEY, data_dir=data_dir, hs_level="HS6", pacing_s=0.0, state_trade=False
    )
    try:
        load_and_validate(settings, extract(settings, MONTHS).landed, "run-1")
        assert transform_and_publish(settings, "run-1").published
        annual_first = query(settings.serving_path, "select * from marts.trade_balance_annual order by all")
        assert query(settings.serving_path, "select count(*) from marts.trade_revisions_monthly") == [(0,)]
        time.sleep(0.05)
        before_revision = datetime.now(UTC).replace(tzinfo=None)
        time.sleep(0.05)
        state.vintage = 1  # the annual revision
        loaded = load_and_validate(settings, extract(settings, MONTHS).landed, "run-2")
        assert sorted((o.flow, o.month) for o in loaded.loaded) == sorted((f, m) for f in VALUE for m in REVISED)
        assert transform_and_publish(settings, "run-2").published
        revisions = query(settings.serving_path, "select * from marts.trade_revisions_monthly order by all")
        # a re-run: the same revised data again (nothing reloaded, nothing published), and the
        # snapshot taken again over it adds no row
        rerun = load_and_validate(settings, extract(settings, MONTHS).landed, "run-3")
        assert rerun.loaded == [] and len(rerun.unchanged) == 4
        unchanged = transform_and_publish(settings, "run-3")
        assert not unchanged.published and unchanged.reason == "unchanged"
        snapshot_rows = query(settings.warehouse_path, f"select count(*) from snapshots.{history.SNAPSHOT}")
        dbt_runner.run_dbt(settings, "snapshot", "--select", history.SNAPSHOT)
        assert query(settings.warehouse_path, f"select count(*) from snapshots.{history.SNAPSHOT}") == snapshot_rows
        yield Revised(settings, before_revision, annual_first, revisions, rerun)
    finally:
        monkeypatch.undo()
        server.shutdown()
        server.server_close()


def test_revisions_list_exactly_the_changed_partner_months(revised: Revised) -> None:
    settings = revised.settings
    expected = set()
    for flow in VALUE:
        for month in MONTHS:
            versions = landed_versions(settings, flow, month)
            first, last = versions[0], versions[-1]
            for code in first.keys() | last.keys():
                before, after = first.get(code, 0), last.get(code, 0)
                if before != after:
                    expected.add((f"{month}-01", code, flow, before, after))
    assert expected and {m for m, *_ in expected} == {f"{m}-01" for m in REVISED}
    rows = query(
        settings.serving_path,
        """
        select strftime(month, '%Y-%m-%d'), partner_code, flow, value_before_usd, value_after_usd, change_usd,
               load_id_before, load_id_after, revised_at, in_revision_window
        from marts.trade_revisions_monthly""",
    )
    assert {r[:5] for r in rows} == expected
    assert len(rows) == len(expected)  # one revision each: no duplicates
    assert all(r[5] == r[4] - r[3] for r in rows)
    # both load ids and the time are the loads' own (audit.loads), one revising load per flow-month
    loads = {
        (flow, month.isoformat()): (load_id, finished)
        for load_id, flow, month, finished, run_id in query(
            settings.warehouse_path,
            """
                 select load_id, flow, month, finished_at, run_id from audit.loads where status = 'loaded'
                 order by finished_at""",
        )
        if run_id == "run-2"
    }
    first_loads = dict(
        query(
            settings.warehouse_path,
            "select flow || month, load_id from audit.loads where status = 'loaded' and run_id = 'run-1'",
        )
    )
    for month, _, flow, *_, before_id, after_id, revised_at, _window in rows:
        assert (after_id, revised_at) == loads[(flow, month)]
        assert before_id == first_loads[flow + month]
    # the newest month loaded is 2016-05, so the last annual revision came with the April 2016 data and
    # covered January 2013 - March 2016: 2016-04's revision was an ad-hoc reload (the unit test
    # revisions_list_changed_added_and_dropped_partners_only covers a month inside the window)
    assert {(r[0], r[-1]) for r in rows} == {("2016-04-01", False)}


def test_unchanged_months_have_no_revisions_and_a_rerun_adds_nothing(revised: Revised) -> None:
    settings = revised.settings
    assert query(
        settings.serving_path, "select count(*) from marts.trade_revisions_monthly where month = '2016-05-01'"
    ) == [(0,)]
    assert query(
        settings.warehouse_path, "select count(*) from audit.loads where month = '2016-05-01' and status = 'loaded'"
    ) == [(2,)]  # one per flow: never reloaded
    assert (
        query(settings.serving_path, "select * from marts.trade_revisions_monthly order by all")
        == revised.revisions_after_revision
    )
    # the snapshot holds two versions of each changed key, one of the others
    assert query(
        settings.warehouse_path,
        """
        select max(n) from (select count(*) as n from snapshots.snap_census__country_values
                            where month = '2016-05-01' group by flow, country_code)""",
    ) == [(1,)]


def test_vintages_and_as_of_query_on_the_serving_snapshot(revised: Revised) -> None:
    settings = revised.settings
    serving = settings.serving_path
    # the as-of table macro, read-only as a BI tool: before the revision = what the first publish served
    as_of_before = query(
        serving, "select * from marts.trade_balance_annual_as_of(?) order by all", [revised.before_revision]
    )
    assert as_of_before == revised.annual_first
    assert query(serving, "select * from marts.trade_balance_annual_as_of(now()) order by all") == query(
        serving, "select * from marts.trade_balance_annual order by all"
    )
    assert query(serving, "select count(*) from marts.trade_balance_annual_as_of(timestamp '2000-01-01')") == [(0,)]
    # vintages: first published = the first extraction's balance, current = the revised one
    first = {f: landed_versions(settings, f, "2016-04")[0] for f in VALUE}
    last = {f: landed_versions(settings, f, "2016-04")[-1] for f in VALUE}
    japan = query(
        serving,
        "select balance_first_published_usd, balance_current_usd, revisions, "
        "last_revised_at > first_published_at from marts.trade_balance_vintages "
        "where partner_code = '5880' and month = '2016-04-01'",
    )
    assert japan == [
        (
            first["exports"]["5880"] - first["imports"]["5880"],
            last["exports"]["5880"] - last["imports"]["5880"],
            1,
            True,
        )
    ]
    assert query(
        serving,
        """
        select count(*) from marts.trade_balance_vintages v
        left join marts.trade_balance_monthly m using (month, partner_code)
        where v.balance_current_usd <> coalesce(m.balance_usd, 0)
           or (v.month = '2016-05-01' and (v.revisions <> 0 or v.balance_first_published_usd <> v.balance_current_usd))
        """,
    ) == [(0,)]


def test_history_backfill_from_the_landing_zone_reproduces_the_versions(revised: Revised) -> None:
    settings = revised.settings
    versions = "select load_id, flow, month, kind, code, name, value_usd from raw.census_values_history order by all"
    snapshot = (
        "select flow, month, country_code, value_usd, is_published, load_id, dbt_valid_from, dbt_valid_to "
        "from snapshots.snap_census__country_values order by all"
    )
    written_at_load, snapshotted = query(settings.warehouse_path, versions), query(settings.warehouse_path, snapshot)
    assert {r[0] for r in written_at_load} == {
        r[0] for r in query(settings.warehouse_path, "select load_id from audit.loads where status = 'loaded'")
    }
    # a warehouse from before the vintage history: no history table, no snapshot
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute("drop table raw.census_values_history")
        con.execute("drop table snapshots.snap_census__country_values")
    finally:
        con.close()
    result = snapshot_replay.backfill_and_replay(settings)
    assert len(result.recorded) == 6 and result.missing == []  # 4 first loads + 2 revising loads
    assert query(settings.warehouse_path, versions) == written_at_load
    assert query(settings.warehouse_path, snapshot) == snapshotted
    assert snapshot_replay.backfill_and_replay(settings).recorded == []  # nothing left: no replay
    assert not snapshot_replay.replay_marker(settings).exists()
    # a replay that died after dropping the snapshot (the marker stays) is redone by the next build
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute("drop table snapshots.snap_census__country_values")
    finally:
        con.close()
    snapshot_replay.replay_marker(settings).write_text("replay of 2 step(s) started\n")
    assert snapshot_replay.backfill_and_replay(settings).recorded == []
    assert query(settings.warehouse_path, snapshot) == snapshotted
    assert not snapshot_replay.replay_marker(settings).exists()


def test_report_shows_what_the_last_revision_changed(revised: Revised) -> None:
    from trade_warehouse.report import html

    page = html.render(revised.settings).read_text(encoding="utf-8")
    assert "What the last revision changed" in page
    section = page[page.index("What the last revision changed") :]
    partners = section[section.index('id="revision-partners-table"') : section.index("</table>")]
    products = section[section.index('id="revision-products-table"') :]
    products = products[: products.index("</table>")]
    assert partners.count("<tr>") > 1 and "ad hoc" in partners  # header + partners; 2016-04 is outside the window
    assert products.count("<tr>") > 1
    # the products are the HS4 world totals whose balance moved most
    top = query(
        revised.settings.serving_path,
        """
        select hs_code from marts.commodity_revisions_hs4_monthly group by hs_code
        order by abs(sum(case when flow = 'exports' then change_usd else -change_usd end)) desc limit 1""",
    )[0][0]
    assert f"<td>{top} " in products
