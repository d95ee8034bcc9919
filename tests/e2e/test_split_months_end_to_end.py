"""Heavy months end to end: a month that had to be split reaches the published marts
exactly as the same month fetched whole (real DAG via dag.test(), emulator over HTTP)."""

import math
import threading
from contextlib import contextmanager

import duckdb
import pytest
from duck import query as duck_query

from trade_warehouse.core.months import month_range
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.server import EmulatorState, make_server
from trade_warehouse.emulator.synthetic import HS4_DESCRIPTIONS, Universe
from trade_warehouse.load.landing import latest_landed, read_extractions
from trade_warehouse.orchestration.dag_runner import run_dag
from trade_warehouse.sources.census.api import collapse_repeats

pytestmark = pytest.mark.dag
WINDOW = {"start_month": "2017-01", "end_month": "2017-03"}
MONTHS = month_range(WINDOW["start_month"], WINDOW["end_month"])
LIMIT = 250  # rows; a month is ~5,000 detail rows per flow at this scale, the largest chapters ~300
TABLES = (
    "trade_balance_monthly",
    "trade_balance_annual",
    "trade_balance_groups_monthly",
    "commodity_trade_monthly",
    "commodity_balance_annual",
    "dim_partner",
    "dim_commodity",
    "dim_month",
)


@contextmanager
def pipeline_env(data_dir, base_url):
    """Point the pipeline (run in this process by dag.test) at a data dir and an emulator."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADE_DATA_DIR", str(data_dir))
        patch.setenv("CENSUS_API_BASE_URL", base_url)
        patch.setenv("CENSUS_API_KEY", DEMO_API_KEY)
        patch.setenv("CENSUS_API_PACING_S", "0")
        yield


@pytest.fixture(scope="module")
def whole_snapshot(airflow_db, tmp_path_factory):
    """The window published from whole-month responses: the reference for the split runs."""
    state = EmulatorState(universe=Universe("small"), api_keys=frozenset([DEMO_API_KEY]), latest_month="2017-06")
    server = make_server(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data_dir = tmp_path_factory.mktemp("whole") / "data"
    try:
        with pipeline_env(data_dir, f"http://127.0.0.1:{server.server_address[1]}/data/timeseries/intltrade"):
            result = run_dag(WINDOW)
    finally:
        server.shutdown()
        server.server_close()
    assert result["state"].endswith("success"), result
    for flow in ("exports", "imports"):
        assert {
            r["mode"] for m in MONTHS for r in read_extractions(data_dir / "landing" / "census", flow, "HS6", m)
        } == {"whole"}
    serving = data_dir / "serving" / "trade.duckdb"
    # the API's own HS4 descriptions (world x HS4 totals, one request per flow-month) reach the
    # published dimension; the split runs below must publish the same
    published = dict(
        duck_query(
            serving,
            "select hs_code, hs_description from marts.dim_commodity "
            "where hs_level = 4 and hs_code in ('8703', '2701')",
        )
    )
    assert published == {code: HS4_DESCRIPTIONS[code] for code in ("8703", "2701")}
    return serving


def differences(left, right) -> dict[str, tuple[int, int, int]]:
    """Per table: (rows, rows only in left, rows only in right); duplicates counted."""
    con = duckdb.connect()
    con.execute(f"attach '{left}' as l (read_only)")
    con.execute(f"attach '{right}' as r (read_only)")
    found = {}
    for table in TABLES:
        rows = con.execute(f"select count(*) from l.marts.{table}").fetchone()[0]
        only_left = con.execute(
            f"select count(*) from (from l.marts.{table} except all from r.marts.{table})"
        ).fetchone()
        only_right = con.execute(
            f"select count(*) from (from r.marts.{table} except all from l.marts.{table})"
        ).fetchone()
        found[table] = (rows, only_left[0], only_right[0])
    con.close()
    return found


def assert_identical(whole, split):
    found = differences(whole, split)
    assert all(rows > 0 and left == right == 0 for rows, left, right in found.values()), found


def latest_records(settings):
    return {
        (flow, month): read_extractions(settings.landing_dir, flow, "HS6", month)[-1]
        for flow in ("exports", "imports")
        for month in MONTHS
    }


def test_every_month_forced_to_split_publishes_identical_marts(emulator, settings, whole_snapshot):
    emulator.state.row_budget = LIMIT  # below the largest chapters' rows: those split again
    result = run_dag(WINDOW)
    assert result["state"].endswith("success"), result
    assert_identical(whole_snapshot, settings.serving_path)

    records = latest_records(settings)
    assert {r["mode"] for r in records.values()} == {"split"}
    assert any(len(unit) > 2 for r in records.values() for unit in r["units"]), "no month split below a chapter"
    # the two failed whole-month attempts are spent once per flow and run, not per month
    whole_attempts = [f for r in records.values() for f in r["failed_requests"] if f["part"] == "all"]
    assert len(whole_attempts) == 4
    # months that start from the previous month's split: few, well-sized requests, within
    # 1.5 x the minimum possible + 1 on average (the first month of a run without any memory
    # has to find the limit; the 12-month average is measured by bench-extract)
    later = [r for (_, month), r in records.items() if month != MONTHS[0]]
    detail_requests = sum(r["detail_requests"] for r in later) / len(later)
    minimum = sum(math.ceil(r["rows"] / LIMIT) for r in later) / len(later)
    assert detail_requests <= 1.5 * minimum + 1, [(r["detail_requests"], r["rows"]) for r in later]
    assert all(r["failed_requests"] == [] or r["failed"] < r["parts"] for r in later)
    # the manifest keeps each part's header as served: the commodity predicate appears twice
    parts = [f for f in latest_landed(settings.landing_dir, "imports", "HS6", "2017-02") if f.kind == "detail"]
    assert len(parts) > 1 and all(f.header.count("I_COMMODITY") == 2 for f in parts)
    assert len({tuple(collapse_repeats(f.header)) for f in parts}) == 1
    assert all(f.extraction_id == records[("imports", "2017-02")]["extraction_id"] for f in parts)


def test_transient_500s_on_the_whole_month_then_a_good_split(emulator, settings, whole_snapshot):
    emulator.set_faults(fail_whole_month=4)  # each flow's two allowed whole-month attempts fail
    result = run_dag(WINDOW)
    assert result["state"].endswith("success"), result
    assert_identical(whole_snapshot, settings.serving_path)
    records = latest_records(settings)
    for flow in ("exports", "imports"):
        first = records[(flow, MONTHS[0])]
        assert first["mode"] == "split" and [f["part"] for f in first["failed_requests"]] == ["all", "all"]
        assert "HTTP 500" in first["failed_requests"][0]["error"]
        # the later months start at the split that worked: no more whole-month attempts
        for month in MONTHS[1:]:
            assert records[(flow, month)]["mode"] == "split" and records[(flow, month)]["failed"] == 0
    assert emulator.state.faults.fail_whole_month == 0
