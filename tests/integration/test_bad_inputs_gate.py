"""Every kind of bad month is stopped by the gate, through the real load path.

Crafted landed files (a real extraction, altered, landed as a newer extraction) go
through the same load + GX path as API responses. Each must fail with a message naming
the problem, leave the previously loaded version of the month intact, and publish nothing.
"""

import gzip
import json
import uuid
from dataclasses import replace

import duckdb
import pytest

from trade_warehouse.core.results import FlowMonth
from trade_warehouse.load.landing import latest_landed, record_extraction
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate
from trade_warehouse.sources.census.api import CHAPTERS, Response, detail_request, hs4_totals_request, totals_request
from trade_warehouse.sources.census.landing import land_response

pytestmark = pytest.mark.integration
MONTH = "2017-02"


def rows_and_sums(settings) -> tuple:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return (
            con.execute(
                "select count(*), sum(all_value_usd), min(load_id) from raw.census_exports_hs where month = ?",
                [f"{MONTH}-01"],
            ).fetchone()
            + con.execute(
                "select count(*), sum(all_value_usd) from raw.census_exports_totals where month = ?", [f"{MONTH}-01"]
            ).fetchone()
        )
    finally:
        con.close()


def serving_checksum(settings) -> tuple:
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return con.execute("select count(*), sum(exports_usd) from marts.trade_balance_monthly").fetchone()
    finally:
        con.close()


def good_tables(settings) -> dict:
    tables = {}
    for landed in latest_landed(settings.landing_dir, "exports", "HS6", MONTH):
        with gzip.open(landed.path, "rb") as handle:
            tables[landed.kind] = json.loads(handle.read())
    return tables


def land_body(settings, request, body: bytes, extraction_id: str) -> None:
    """Land ``body`` as the answer to ``request`` (the header recorded as served)."""
    table = json.loads(body) if body.strip().startswith(b"[[") else []
    response = Response(
        request=request,
        status=200,
        body=body,
        source="census-emulator",
        fetched_at="2099-01-01T00:00:00+00:00",
        elapsed_s=0.0,
        attempts=1,
        header=table[0] if table else [],
        row_count=max(0, len(table) - 1),
    )
    land_response(settings.landing_dir, "HS6", MONTH, response, extraction_id)


def land_extraction(settings, bodies: dict) -> None:
    """Land ``{request: body}`` as the month's newest complete extraction."""
    extraction_id = str(uuid.uuid4())
    for request, body in bodies.items():
        land_body(settings, request, body if isinstance(body, bytes) else json.dumps(body).encode(), extraction_id)
    record_extraction(settings.landing_dir, "exports", "HS6", MONTH, {"extraction_id": extraction_id})


REQUESTS = {
    "detail": detail_request("exports", MONTH, "HS6"),
    "totals": totals_request("exports", MONTH),
    "hs4": hs4_totals_request("exports", MONTH),
}


def land_crafted(settings, good: dict, kind: str, alter) -> None:
    """Land the month's good tables again as the newest extraction, with ``kind`` altered."""
    land_extraction(settings, {REQUESTS[k]: alter(table) if k == kind else table for k, table in good.items()})


def restore_good(settings, good: dict) -> None:
    land_crafted(settings, good, "detail", lambda table: table)


def with_row(table, index, column, value):
    position = table[0].index(column)
    row = list(table[index])
    row[position] = value
    return [table[0], *table[1:index], row, *table[index + 1 :]]


def first_partner_row(table) -> int:
    codes = [row[0] for row in table]
    return next(i for i, code in enumerate(codes) if i > 0 and code != "-")


CASES = {
    "duplicated rows": ("detail", lambda t: [t[0], t[1], *t[1:]], "on duplicate_partner_hs_code: observed 1"),
    "a negative value": (
        "detail",
        lambda t: with_row(t, first_partner_row(t), "ALL_VAL_MO", "-5"),
        "on malformed_all_value_usd: observed 1; e.g. -5",
    ),
    "a non-numeric value": ("detail", lambda t: with_row(t, first_partner_row(t), "ALL_VAL_MO", "12x"), "e.g. 12x"),
    "an unknown partner code": ("detail", lambda t: with_row(t, first_partner_row(t), "CTY_CODE", "9999"), "e.g. 9999"),
    "a row for another month": (
        "detail",
        lambda t: with_row(t, first_partner_row(t), "time", "2017-01"),
        "on other_month_rows: observed 1; e.g. 2017-01",
    ),
    "a missing column": (
        "detail",
        lambda t: [[v for j, v in enumerate(r) if j != 1] for r in t],
        "lacks columns ['CTY_NAME']",
    ),
    "an empty 200 response": ("detail", lambda t: [t[0]], "observed detail_rows 0, min_rows"),
    "a row-count collapse": (
        "detail",
        lambda t: [r for i, r in enumerate(t) if i % 20 == 0],
        "on detail_rows, min_rows: observed detail_rows",
    ),
    "partners not summing to the world total": (
        "totals",
        lambda t: with_row(
            t, [r[0] for r in t].index("-"), "ALL_VAL_MO", str(int(t[[r[0] for r in t].index("-")][3]) + 1)
        ),
        "partners sum to world total",
    ),
    "HS4 totals that disagree with the detail": (
        "hs4",
        lambda t: with_row(t, 1, "ALL_VAL_MO", str(int(t[1][2]) + 1)),
        "HS6 world rows sum to the published HS4 total",
    ),
}


def test_every_bad_input_fails_the_gate_and_keeps_the_good_month(emulator, settings):
    good = extract(settings, ["2016-12", "2017-01", MONTH])
    load_and_validate(settings, good.landed, "good")
    transform_and_publish(settings, "good")
    before, published = rows_and_sums(settings), serving_checksum(settings)
    good_bodies = good_tables(settings)

    for name, (kind, alter, expected) in CASES.items():
        land_crafted(settings, good_bodies, kind, alter)
        result = load_and_validate(settings, [FlowMonth("exports", MONTH)], f"bad {name}")
        assert not result.loaded, name
        [failure] = result.failures
        assert expected in failure.describe(), (name, failure)
        assert rows_and_sums(settings) == before, name
        assert transform_and_publish(settings, f"bad {name}").published is False, name
        assert serving_checksum(settings) == published, name
        restore_good(settings, good_bodies)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    statuses = con.execute("select status, count(*) from audit.loads where run_id like 'bad %' group by 1").fetchall()
    con.close()
    assert dict(statuses) == {"failed_validation": len(CASES) - 1, "failed": 1}  # the missing column fails at read


def test_an_error_inside_the_swap_keeps_the_previous_version(emulator, settings):
    from trade_warehouse.load import warehouse
    from trade_warehouse.sources.census import reader, swap

    load_and_validate(settings, extract(settings, [MONTH]).landed, "good")
    before = rows_and_sums(settings)
    files = latest_landed(settings.landing_dir, "exports", "HS6", MONTH)
    with warehouse.connect(settings.warehouse_path) as con:
        staged = reader.stage_month(con, files, "doomed-load")
        # the detail rows are deleted and re-inserted, then the totals insert fails mid-transaction
        broken = replace(staged, totals_table="no_such_stage_table")
        with pytest.raises(duckdb.CatalogException):
            swap.replace_month(
                con,
                broken,
                {
                    "load_id": "doomed-load",
                    "flow": "exports",
                    "hs_level": "HS6",
                    "month": f"{MONTH}-01",
                    "status": "loaded",
                },
            )
        assert con.execute("select count(*) from audit.loads where load_id = 'doomed-load'").fetchone()[0] == 0
    assert rows_and_sums(settings) == before


def test_a_split_part_with_another_layout_is_named(emulator, settings):
    load_and_validate(settings, extract(settings, [MONTH]).landed, "good")
    before = rows_and_sums(settings)
    good = good_tables(settings)
    header, *rows = good["detail"]
    assert header[-1] == "time"
    low = tuple(c for c in CHAPTERS["exports"] if c < "50")
    high = tuple(c for c in CHAPTERS["exports"] if c >= "50")
    # the API appends the commodity predicate before time; the second part has it elsewhere

    def land_parts(part_a: list, part_b: list) -> None:
        """The month split in two detail parts (chapters 01-49 and 50-98), with the good totals."""
        land_extraction(
            settings,
            {
                detail_request("exports", MONTH, "HS6", low): part_a,
                detail_request("exports", MONTH, "HS6", high): part_b,
                REQUESTS["totals"]: good["totals"],
                REQUESTS["hs4"]: good["hs4"],
            },
        )

    part_a = [header[:-1] + ["E_COMMODITY", "time"]] + [r[:-1] + ["01*", r[-1]] for r in rows if r[2][:2] < "50"]
    odd = header[:6] + ["E_COMMODITY"] + header[6:]
    part_b = [odd] + [r[:6] + ["50*"] + r[6:] for r in rows if r[2][:2] >= "50"]
    land_parts(part_a, part_b)
    result = load_and_validate(settings, [FlowMonth("exports", MONTH)], "bad layout")
    [failure] = result.failures
    assert "landed part 50-98" in failure.reason and "must share one layout" in failure.reason, failure
    assert rows_and_sums(settings) == before

    # the same parts, both in the layout the API serves, load and equal the whole month
    part_b = [part_a[0]] + [r[:-1] + ["50*", r[-1]] for r in rows if r[2][:2] >= "50"]
    land_parts(part_a, part_b)
    result = load_and_validate(settings, [FlowMonth("exports", MONTH)], "split layout")
    # read by their own headers, the parts hold exactly the whole month's rows: nothing to reload
    assert [x.month for x in result.unchanged] == [MONTH] and not result.failures, result
    assert rows_and_sums(settings) == before
    forced = load_and_validate(settings, [FlowMonth("exports", MONTH)], "split forced", force=True)
    assert [x.month for x in forced.loaded] == [MONTH], forced
    after = rows_and_sums(settings)
    assert after[:2] == before[:2] and after[3:] == before[3:] and after[2] != before[2]  # same data, new load
