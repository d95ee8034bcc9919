"""A night builds and publishes only the months that changed, and gets what a full rebuild gets.

Through the pipeline's own path (extract, load, transform_and_publish): three months are
published; then the emulator's annual revision changes 2016-04, a new month arrives, and
another new month re-describes a commodity that older months also hold (the Census API's
text of the latest month wins everywhere). The second publish rebuilds and patches only
those months. Its marts, serving snapshot and Parquet set must equal, row for row, what a
`dbt build --full-refresh` and a full publish make from the same loads.
"""

import gzip
import json
import shutil
import uuid

import duckdb
import pytest
from duck import parquet_differences, query

from trade_warehouse.load.landing import latest_landed, record_extraction
from trade_warehouse.publish import parquet, snapshot
from trade_warehouse.publish.contract import published_models
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate
from trade_warehouse.sources.census.api import Response, detail_request, hs4_totals_request, totals_request
from trade_warehouse.sources.census.landing import land_response
from trade_warehouse.transform import dbt_runner

pytestmark = pytest.mark.integration

FIRST = ["2015-04", "2016-04", "2016-05", "2017-04"]  # 2015: a year the night leaves alone
REVISED = "2016-04"  # the emulator's vintage 1 revises it
NEW, REDESCRIBED = "2017-05", "2017-06"
LATER = "2015-05"  # a fourth night on a stale Parquet set in service: its 2016 is out of date
JANUARY = "2018-01"  # a fifth night opens a year: the monthly files of 2017 become one year file
NEW_TEXT = "RE-DESCRIBED BY THE LATEST MONTH"


COMMODITY = {"exports": "E_COMMODITY", "imports": "I_COMMODITY"}


def landed_tables(settings, flow: str, month: str) -> dict[str, list]:
    tables = {}
    for landed in latest_landed(settings.landing_dir, flow, "HS6", month):
        with gzip.open(landed.path, "rb") as handle:
            tables[landed.kind] = json.loads(handle.read())
    return tables


def land_redescribed(settings, month: str, code: str | None = None) -> str:
    """Land the month again as its newest extraction, one HS6 code (the lowest both flows
    trade, unless given) re-described in both flows; return it."""
    tables = {flow: landed_tables(settings, flow, month) for flow in COMMODITY}
    codes = {}
    for flow, var in COMMODITY.items():
        detail = tables[flow]["detail"]
        codes[flow] = [row[detail[0].index(var)] for row in detail[1:] if row[0] != "-"]
    shared = set(codes["exports"]) & set(codes["imports"])
    code = code or min(shared)
    assert code in shared, f"{code} is not traded in both flows in {month}"
    for flow, var in COMMODITY.items():
        detail = tables[flow]["detail"]
        code_at, text_at = detail[0].index(var), detail[0].index(var + "_LDESC")
        for row in detail[1:]:
            if row[code_at] == code:
                row[text_at] = NEW_TEXT
        requests = {
            "detail": detail_request(flow, month, "HS6"),
            "totals": totals_request(flow, month),
            "hs4": hs4_totals_request(flow, month),
        }
        extraction_id = str(uuid.uuid4())
        for kind, request in requests.items():
            table = tables[flow][kind]
            response = Response(
                request=request,
                status=200,
                body=json.dumps(table).encode(),
                source="census-emulator",
                fetched_at="2099-01-01T00:00:00+00:00",
                elapsed_s=0.0,
                attempts=1,
                header=table[0],
                row_count=len(table) - 1,
            )
            land_response(settings.landing_dir, "HS6", month, response, extraction_id)
        record_extraction(settings.landing_dir, flow, "HS6", month, {"extraction_id": extraction_id})
    return code


def differing_rows(left: str, right: str, tables: list[str]) -> dict[str, int]:
    """Rows in one DuckDB file's ``marts.<table>`` and not the other's (both ways), per table."""
    con = duckdb.connect()
    con.execute(f"attach '{left}' as l (read_only)")
    con.execute(f"attach '{right}' as r (read_only)")
    try:
        counts = {}
        for table in tables:
            counts[table] = con.execute(
                f"""
                select count(*) from (
                    (select * from l.marts.{table} except all select * from r.marts.{table})
                    union all
                    (select * from r.marts.{table} except all select * from l.marts.{table})
                )
                """
            ).fetchone()[0]
        return counts
    finally:
        con.close()


def parquet_equals_serving(settings) -> dict[str, int]:
    """Per contract table: rows that differ between the Parquet set in service and the snapshot."""
    tables = [m.name for m in published_models(settings) if m.contract]
    return parquet_differences(settings.serving_path, parquet.current_parquet(settings), tables)


def reused_parquet_files(settings, monthly: list[str]) -> dict[str, list[str]]:
    """Per ``publish_by`` mart: the files of the set in service that are the previous set's files.

    The monthly mart has a file per month of its newest year in ``monthly`` and one per
    earlier year, the annual one a file per year.
    """
    current = parquet.current_parquet(settings)
    previous = max(v for v in (settings.parquet_dir / "versions").iterdir() if v.resolve() != current)
    newest = max(m[:4] for m in monthly)
    layout = {
        "commodity_trade_monthly": [f"{k}.parquet" for k in sorted({m if m[:4] == newest else m[:4] for m in monthly})],
        "commodity_balance_annual": [f"{y}.parquet" for y in sorted({m[:4] for m in monthly})],
    }
    reused = {}
    for table, expected in layout.items():
        files = sorted(p.name for p in (current / table).glob("*.parquet"))
        assert files == expected, (table, files)
        reused[table] = [
            f
            for f in files
            if (previous / table / f).exists()
            and (current / table / f).stat().st_ino == (previous / table / f).stat().st_ino
        ]
    return reused


def test_a_night_touches_only_changed_months_and_equals_a_full_refresh(emulator, state_settings, tmp_path):
    settings = state_settings  # the state marts too: incremental by month and year, like the national ones
    load_and_validate(settings, extract(settings, FIRST).landed, "run-1")
    first = transform_and_publish(settings, "run-1")
    assert first.published and first.changed_months is None  # nothing in service yet: everything

    emulator.state.vintage = 1  # the annual revision
    extracted = extract(settings, [REVISED, NEW, REDESCRIBED])
    assert not extracted.failures
    code = land_redescribed(settings, REDESCRIBED)
    loaded = load_and_validate(settings, extracted.landed, "run-2")
    assert not loaded.failures
    assert {(o.flow, o.month) for o in loaded.loaded} >= {("exports", REVISED), ("exports", REDESCRIBED)}

    second = transform_and_publish(settings, "run-2")
    assert second.published
    assert second.changed_months == [f"{m}-01" for m in (REVISED, NEW, REDESCRIBED)]
    serving = settings.serving_path
    # the new description reached the months the night did not rebuild, in the snapshot too
    descriptions = query(
        serving,
        "select distinct hs_description from marts.commodity_trade_monthly where hs_level = 6 and hs_code = ?",
        [code],
    )
    assert descriptions == [(NEW_TEXT,)]
    assert query(serving, "select count(distinct month) from marts.commodity_trade_monthly") == [(6,)]
    assert set(parquet_equals_serving(settings).values()) == {0}
    # the copy of the snapshot the patch started from (made while dbt built) is gone
    assert not [p.name for p in serving.parent.iterdir() if p.name.startswith((".base-", ".candidate-"))]
    # Parquet files: per month of the newest year (2017) and per earlier year; per year for
    # the annual mart. commodity_trade_monthly's 2015 and 2017-04 were written again (they
    # hold the re-described HS6 code); commodity_balance_annual (HS4, not re-described) kept 2015
    months = [*FIRST, NEW, REDESCRIBED]
    assert reused_parquet_files(settings, months) == {
        "commodity_trade_monthly": [],
        "commodity_balance_annual": ["2015.parquet"],
    }

    # a third night: a later vintage revises 2016-04 again; 2015 and 2017 are left alone
    emulator.state.vintage = 2
    third_loads = load_and_validate(settings, extract(settings, [REVISED]).landed, "run-3")
    revised_flows = ("exports", "imports", "state_exports", "state_imports")
    assert {(o.flow, o.month) for o in third_loads.loaded} == {(flow, REVISED) for flow in revised_flows}
    third = transform_and_publish(settings, "run-3")
    assert third.published and third.changed_months == [f"{REVISED}-01"]
    assert set(parquet_equals_serving(settings).values()) == {0}
    # only the 2016 files are new
    assert reused_parquet_files(settings, months) == {
        "commodity_trade_monthly": ["2015.parquet", "2017-04.parquet", "2017-05.parquet", "2017-06.parquet"],
        "commodity_balance_annual": ["2015.parquet", "2017.parquet"],
    }

    published = [m.name for m in published_models(settings)]
    incremental_serving = tmp_path / "incremental-serving.duckdb"
    shutil.copyfile(serving, incremental_serving)
    incremental_warehouse = tmp_path / "incremental-warehouse.duckdb"
    shutil.copyfile(settings.warehouse_path, incremental_warehouse)
    mart_tables = [
        name
        for (name,) in query(
            settings.warehouse_path,
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1",
        )
    ]
    assert {"commodity_trade_monthly", "commodity_balance_annual", "fct_trade__partner_hs6_monthly"} <= set(mart_tables)
    assert {"state_trade_monthly", "state_trade_annual"} <= set(mart_tables)
    assert query(serving, "select count(distinct month) from marts.state_trade_monthly") == [(6,)]

    # the same loads, built from scratch and published whole
    dbt_runner.run_dbt(settings, "build", "--full-refresh")
    assert set(differing_rows(str(incremental_warehouse), str(settings.warehouse_path), mart_tables).values()) == {0}
    snapshot.publish(settings, "full-refresh", "full-refresh")
    assert set(differing_rows(str(incremental_serving), str(serving), published).values()) == {0}
    assert set(parquet_equals_serving(settings).values()) == {0}

    # A publish that stopped between the snapshot's rename and the Parquet pointer's switch
    # leaves another publish's set in service: here the second night's, from before 2016-04's
    # second revision. The next night must not hard-link its untouched years from that set.
    stale = next(
        v
        for v in (settings.parquet_dir / "versions").iterdir()
        if json.loads((v / parquet.PARQUET_MANIFEST).read_text())["publish_id"] == second.publish_id
    )
    parquet.point_parquet_at(settings, stale)
    assert set(parquet_equals_serving(settings).values()) != {0}  # the set in service is not the snapshot's
    assert not load_and_validate(settings, extract(settings, [LATER]).landed, "run-4").failures
    fourth = transform_and_publish(settings, "run-4")
    assert fourth.published and fourth.changed_months == [f"{LATER}-01"]  # a patch, not a full publish
    assert set(parquet_equals_serving(settings).values()) == {0}
    assert reused_parquet_files(settings, [*months, LATER]) == {
        "commodity_trade_monthly": [],
        "commodity_balance_annual": [],
    }

    # the first night of a year: 2017's month files are written once as 2017.parquet, 2018 gets
    # its month's file, and the years before are hard-linked; the set is still the snapshot
    emulator.state.latest_month = JANUARY  # released
    extracted = extract(settings, [JANUARY])
    # the newest month keeps the description the re-described code has had since 2017-06:
    # with the emulator's own text every year holding the code would be written again
    land_redescribed(settings, JANUARY, code)
    loaded = load_and_validate(settings, extracted.landed, "run-5")
    assert not loaded.failures and len(loaded.loaded) == 4  # national and state flows
    fifth = transform_and_publish(settings, "run-5")
    assert fifth.published and fifth.changed_months == [f"{JANUARY}-01"]
    assert set(parquet_equals_serving(settings).values()) == {0}
    reused = reused_parquet_files(settings, [*months, LATER, JANUARY])
    assert reused["commodity_balance_annual"] == ["2015.parquet", "2016.parquet", "2017.parquet"]
    # the years before are hard-linked, and exactly those whose rows are unchanged (2017's
    # months became one new year file)
    assert reused["commodity_trade_monthly"] == ["2015.parquet", "2016.parquet"]
    assert unchanged_parquet_files(settings, "commodity_trade_monthly") == ["2015.parquet", "2016.parquet"]
    state_files = sorted(p.name for p in (parquet.current_parquet(settings) / "state_trade_monthly").iterdir())
    assert state_files == ["2015.parquet", "2016.parquet", "2017.parquet", "2018-01.parquet"]


def unchanged_parquet_files(settings, table: str) -> list[str]:
    """The files of ``table`` in the set in service whose rows equal the previous set's file."""
    current = parquet.current_parquet(settings)
    previous = max(v for v in (settings.parquet_dir / "versions").iterdir() if v.resolve() != current)
    same = []
    for file in sorted((current / table).glob("*.parquet")):
        before = previous / table / file.name
        if before.exists():
            differing = duckdb.sql(
                f"select count(*) from ((from '{file}' except all from '{before}') "
                f"union all (from '{before}' except all from '{file}'))"
            ).fetchone()[0]
            if differing == 0:
                same.append(file.name)
    return same
