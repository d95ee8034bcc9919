"""State-level trade end to end: the real DAG (dag.test()) over a window with the national and
the state endpoints, every month forced to split, published state marts equal to sums
computed independently from the rows the emulator serves, and the states of every partner x
commodity summing to the national mart."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager

import duckdb
import httpx
import pandas as pd
import pytest
from duck import query

from trade_warehouse.core.months import month_range
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.server import EmulatorState, make_server
from trade_warehouse.emulator.synthetic import Universe
from trade_warehouse.load.landing import read_extractions
from trade_warehouse.orchestration.dag_runner import run_dag

pytestmark = pytest.mark.dag
WINDOW = {"start_month": "2017-01", "end_month": "2017-02"}
MONTHS = month_range(WINDOW["start_month"], WINDOW["end_month"])
LIMIT = 2_000  # rows per request: a state month at HS4 is ~25,000 rows, a national HS6 month ~5,000
MEASURES = {  # served variable -> mart column suffix, per flow
    "exports": {"ALL_VAL_MO": "exports_usd", "AIR_VAL_MO": "export_air_usd", "AIR_SWT_MO": "export_air_kg",
                "VES_VAL_MO": "export_vessel_usd", "VES_SWT_MO": "export_vessel_kg",
                "CNT_VAL_MO": "export_container_usd", "CNT_SWT_MO": "export_container_kg"},
    "imports": {"GEN_VAL_MO": "imports_usd", "AIR_VAL_MO": "import_air_usd", "AIR_SWT_MO": "import_air_kg",
                "VES_VAL_MO": "import_vessel_usd", "VES_SWT_MO": "import_vessel_kg",
                "CNT_VAL_MO": "import_container_usd", "CNT_SWT_MO": "import_container_kg"},
}  # fmt: skip


@contextmanager
def serving(state: EmulatorState):
    """An emulator on 127.0.0.1 for the duration of the block; yields its base URL."""
    server = make_server(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data/timeseries/intltrade"
    finally:
        server.shutdown()
        server.server_close()


def served_state_rows() -> pd.DataFrame:
    """Whole state months as another emulator serves them (no row limit), one row per key.

    Only what the API serves is used: individual states (XX included, '-' left out) x
    individual partners at HS4, every measure by flow, read from the JSON over HTTP.
    """
    state = EmulatorState(universe=Universe("small"), api_keys=frozenset([DEMO_API_KEY]), latest_month="2017-06")
    frames = []
    with serving(state) as base_url:
        for flow, commodity in (("exports", "E_COMMODITY"), ("imports", "I_COMMODITY")):
            variables = ["STATE", "CTY_CODE", commodity, *MEASURES[flow]]
            for month in MONTHS:
                params = {
                    "get": ",".join(variables),
                    "COMM_LVL": "HS4",
                    "SUMMARY_LVL": "DET",
                    "time": month,
                    "key": DEMO_API_KEY,
                }
                response = httpx.get(f"{base_url}/{flow}/statehs", params=params, timeout=120)
                assert response.status_code == 200, response.text[:200]
                table = json.loads(response.content)
                frame = pd.DataFrame(table[1:], columns=table[0]).iloc[:, : len(variables)]
                frame = frame.rename(columns={"STATE": "state_code", "CTY_CODE": "partner_code", commodity: "hs_code"})
                frame = frame.rename(columns=MEASURES[flow]).astype({c: "int64" for c in MEASURES[flow].values()})
                frames.append(frame.assign(month=pd.Timestamp(f"{month}-01").date()))
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[(rows["state_code"] != "-") & (rows["partner_code"] != "-")]
    return rows.groupby(["month", "state_code", "partner_code", "hs_code"], as_index=False).sum().fillna(0)


@pytest.fixture(scope="module")
def published(airflow_db, tmp_path_factory):
    """The window through the real DAG with every request above LIMIT rows refused: all months split."""
    state = EmulatorState(
        universe=Universe("small"), api_keys=frozenset([DEMO_API_KEY]), latest_month="2017-06", row_budget=LIMIT
    )
    data_dir = tmp_path_factory.mktemp("state") / "data"
    with serving(state) as base_url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADE_DATA_DIR", str(data_dir))
        patch.setenv("CENSUS_API_BASE_URL", base_url)
        patch.setenv("CENSUS_API_KEY", DEMO_API_KEY)
        patch.setenv("CENSUS_API_PACING_S", "0")
        patch.setenv("TRADE_STATE_TRADE", "on")
        result = run_dag(WINDOW)
    assert result["state"].endswith("success"), result
    return data_dir


def test_state_months_were_split_and_landed_like_the_national_ones(published):
    landing = published / "landing" / "census"
    for flow in ("state_exports", "state_imports"):
        for month in MONTHS:
            record = read_extractions(landing, flow, "HS4", month)[-1]
            assert record["mode"] == "split" and record["parts"] > 5, record
            assert record["rows"] > LIMIT


def test_published_state_marts_equal_the_served_rows(published):
    expected = served_state_rows()
    columns = [c for measures in MEASURES.values() for c in measures.values()]
    con = duckdb.connect()
    con.execute(f"attach '{published / 'serving' / 'trade.duckdb'}' as s (read_only)")
    con.register("expected", expected)
    mart = f"""
        select month, state_code, partner_code, hs_code, {", ".join(f"coalesce({c}, 0) as {c}" for c in columns)}
        from s.marts.state_trade_monthly where hs_level = 4
    """
    reference = f"select month, state_code, partner_code, hs_code, {', '.join(columns)} from expected"
    assert con.execute(f"select count(*) from ({mart})").fetchone()[0] == len(expected) > 10_000
    assert con.execute(f"select count(*) from ({mart} except all {reference})").fetchone()[0] == 0
    assert con.execute(f"select count(*) from ({reference} except all {mart})").fetchone()[0] == 0
    # each coarser level sums the finest one
    hs2 = con.execute(
        """
        select count(*) from (
            select month, state_code, partner_code, left(hs_code, 2), sum(exports_usd), sum(imports_usd)
            from expected group by all
            except all
            select month, state_code, partner_code, hs_code, coalesce(exports_usd, 0), coalesce(imports_usd, 0)
            from s.marts.state_trade_monthly where hs_level = 2
        )
        """
    ).fetchone()[0]
    assert hs2 == 0
    # the year by state x partner, and the states ranked within each partner
    annual = con.execute(
        """
        select a.exports_usd, a.imports_usd, a.export_rank_in_partner
        from s.marts.state_trade_annual as a
        where a.year = 2017 and a.partner_code = '5880' order by a.export_rank_in_partner nulls last limit 1
        """
    ).fetchone()
    top = con.execute(
        "select sum(exports_usd) as usd from expected where partner_code = '5880' "
        "group by state_code order by usd desc limit 1"
    ).fetchone()[0]
    assert annual[0] == top and annual[2] == 1
    con.close()


def test_states_sum_to_the_national_mart_for_every_partner_and_commodity(published):
    serving_path = published / "serving" / "trade.duckdb"
    differing = query(
        serving_path,
        """
        with states as (
            select month, partner_code, hs_code, sum(coalesce(exports_usd, 0)) as exports_usd,
                   sum(coalesce(imports_usd, 0)) as imports_usd
            from marts.state_trade_monthly where hs_level = 4 group by all
        ),
        national as (
            select month, partner_code, hs_code, coalesce(exports_usd, 0) as exports_usd,
                   coalesce(imports_usd, 0) as imports_usd
            from marts.commodity_trade_monthly
            where hs_level = 4 and (exports_usd <> 0 or imports_usd <> 0)
        )
        select * from (from states except all from national)
        union all
        select * from (from national except all from states)
        """,
    )
    assert differing == []
    keys = query(serving_path, "select count(*) from marts.state_trade_monthly where hs_level = 4")[0][0]
    assert keys > 10_000
    states = query(serving_path, "select count(*), count(*) filter (where state_code = 'XX') from marts.dim_state")[0]
    assert states[0] >= 57 and states[1] == 1
