"""The emulator speaks the Census protocol, over real loopback HTTP."""

from collections import defaultdict

import httpx
import pytest

from trade_warehouse.emulator import DEMO_API_KEY

pytestmark = pytest.mark.integration


def get(emulator, flow: str, query: str, key: str | None = DEMO_API_KEY) -> httpx.Response:
    suffix = f"&key={key}" if key else ""
    return httpx.get(f"{emulator.base_url}/{flow}/hs?{query}{suffix}", follow_redirects=False)


def table(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    header, *rows = response.json()
    return [dict(zip(header, row, strict=False)) for row in rows]


def test_key_is_checked_first(emulator):
    missing = get(emulator, "exports", "get=CTY_CODE,ALL_VAL_MO&time=2017-01", key=None)
    assert missing.status_code == 302
    assert missing.headers["Location"].endswith("missing_key.html")
    assert missing.headers["X-DataWebAPI-KeyError"] == "1"
    invalid = get(emulator, "exports", "get=CTY_CODE,ALL_VAL_MO&time=2017-01", key="wrong")
    assert invalid.status_code == 302 and invalid.headers["Location"].endswith("invalid_key.html")


def test_header_is_get_then_predicates_with_duplicates(emulator):
    response = get(emulator, "imports", "get=I_COMMODITY,CTY_CODE,GEN_VAL_MO&COMM_LVL=HS4&CTY_CODE=5880&time=2017-01")
    header, *rows = response.json()
    assert header == ["I_COMMODITY", "CTY_CODE", "GEN_VAL_MO", "COMM_LVL", "CTY_CODE", "time"]
    assert all(isinstance(v, str) for row in rows for v in row)
    assert {row[1] for row in rows} == {"5880"} and {len(row[0]) for row in rows} == {4}


def test_default_to_total_rows_and_groupings(emulator):
    rows = table(get(emulator, "exports", "get=CTY_CODE,CTY_NAME,SUMMARY_LVL,ALL_VAL_MO&time=2017-01"))
    by_code = {r["CTY_CODE"]: r for r in rows}
    assert by_code["-"]["CTY_NAME"] == "TOTAL FOR ALL COUNTRIES" and by_code["-"]["SUMMARY_LVL"] == "DET"
    assert by_code["0003"]["SUMMARY_LVL"] == "CGP"
    partners = [r for r in rows if r["CTY_CODE"][0] != "0" and not r["CTY_CODE"].endswith("X") and r["CTY_CODE"] != "-"]
    assert sum(int(r["ALL_VAL_MO"]) for r in partners) == int(by_code["-"]["ALL_VAL_MO"])
    north_america = ["1010", "1220", "1610"]
    assert int(by_code["1XXX"]["ALL_VAL_MO"]) == sum(
        int(by_code[c]["ALL_VAL_MO"]) for c in north_america if c in by_code
    )
    # no CTY_CODE anywhere: one world-total row
    only_total = table(get(emulator, "exports", "get=ALL_VAL_MO&time=2017-01"))
    assert len(only_total) == 1 and only_total[0]["ALL_VAL_MO"] == by_code["-"]["ALL_VAL_MO"]


def test_hs_levels_nest_exactly(emulator):
    query = "get=CTY_CODE,E_COMMODITY,ALL_VAL_MO&CTY_CODE=5880&COMM_LVL={level}&time=2017-02"
    sums = {}
    for level in ("HS2", "HS4", "HS6"):
        rows = table(get(emulator, "exports", query.format(level=level)))
        by_chapter = defaultdict(int)
        for r in rows:
            by_chapter[r["E_COMMODITY"][:2]] += int(r["ALL_VAL_MO"])
        sums[level] = dict(by_chapter)
    assert sums["HS2"] == sums["HS4"] == sums["HS6"]
    total = table(get(emulator, "exports", "get=CTY_CODE,ALL_VAL_MO&CTY_CODE=5880&time=2017-02"))
    assert sum(sums["HS2"].values()) == int(total[0]["ALL_VAL_MO"])


def test_prefix_and_or_predicates_and_ranges(emulator):
    rows = table(
        get(
            emulator,
            "imports",
            "get=I_COMMODITY,GEN_VAL_MO,GEN_VAL_YR&CTY_CODE=5880&I_COMMODITY=8703*&I_COMMODITY=27*"
            "&COMM_LVL=HS6&time=from+2017-01+to+2017-02",
        )
    )
    assert {r["I_COMMODITY"][:2] for r in rows} <= {"87", "27"} and "870323" in {r["I_COMMODITY"] for r in rows}
    jan = {r["I_COMMODITY"]: r for r in rows if r["time"] == "2017-01"}
    feb = {r["I_COMMODITY"]: r for r in rows if r["time"] == "2017-02"}
    code = "870323"
    assert int(feb[code]["GEN_VAL_YR"]) == int(jan[code]["GEN_VAL_YR"]) + int(feb[code]["GEN_VAL_MO"])
    assert jan[code]["GEN_VAL_YR"] == jan[code]["GEN_VAL_MO"]


def test_no_rows_unreleased_months_and_errors(emulator):
    assert get(emulator, "exports", "get=CTY_CODE,ALL_VAL_MO&time=2017-07").status_code == 204
    assert get(emulator, "exports", "get=CTY_CODE,ALL_VAL_MO&CTY_CODE=9999&time=2017-01").status_code == 204
    unknown = get(emulator, "exports", "get=CTY_CODE,NOPE&time=2017-01")
    assert unknown.status_code == 400 and unknown.text == "error: unknown variable 'NOPE'"
    predicate = get(emulator, "exports", "get=CTY_CODE,ALL_VAL_MO&BOGUS=1&time=2017-01")
    assert predicate.status_code == 400 and "unknown predicate variable: 'BOGUS'" in predicate.text


def test_row_budget_answers_500(emulator):
    emulator.state.row_budget = 100
    response = get(emulator, "exports", "get=CTY_CODE,E_COMMODITY,ALL_VAL_MO&COMM_LVL=HS6&time=2017-01")
    assert response.status_code == 500


def test_data_is_deterministic(emulator):
    query = "get=CTY_CODE,E_COMMODITY,ALL_VAL_MO&COMM_LVL=HS6&CTY_CODE=5800&time=2016-05"
    assert get(emulator, "exports", query).content == get(emulator, "exports", query).content


def test_split_requests_echo_the_commodity_predicate_like_the_api(emulator):
    """The header rule a split part depends on: get, then every predicate in URL order,
    so a predicate also in get comes back twice; a repeated predicate (OR) once."""
    get_vars = "CTY_CODE,CTY_NAME,E_COMMODITY,E_COMMODITY_LDESC,ALL_VAL_MO"
    one = get(emulator, "exports", f"get={get_vars}&COMM_LVL=HS6&SUMMARY_LVL=DET&E_COMMODITY=87*&time=2017-01")
    header, *rows = one.json()
    assert header == [*get_vars.split(","), "COMM_LVL", "SUMMARY_LVL", "E_COMMODITY", "time"]
    assert {row[2][:2] for row in rows} == {"87"}
    assert all(row[7] == row[2] for row in rows)  # the echoed predicate column holds the row's own code
    packed = get(
        emulator, "exports", f"get={get_vars}&COMM_LVL=HS6&SUMMARY_LVL=DET&E_COMMODITY=01*&E_COMMODITY=87*&time=2017-01"
    )
    header, *rows = packed.json()
    assert header == [*get_vars.split(","), "COMM_LVL", "SUMMARY_LVL", "E_COMMODITY", "time"]
    assert {row[2][:2] for row in rows} == {"01", "87"}  # a repeated predicate is OR


def test_heavy_partner_by_commodity_queries_are_refused_and_light_ones_are_not(emulator):
    emulator.state.row_budget = 500
    heavy = get(emulator, "imports", "get=CTY_CODE,I_COMMODITY,GEN_VAL_MO&COMM_LVL=HS6&time=2017-01")
    assert heavy.status_code == 500
    # all partners over all commodities, or the world over all HS4 headings: light, whatever the size
    totals = table(get(emulator, "imports", "get=CTY_CODE,CTY_NAME,GEN_VAL_MO&time=2017-01"))
    hs4 = table(get(emulator, "imports", "get=I_COMMODITY,I_COMMODITY_LDESC,GEN_VAL_MO&COMM_LVL=HS4&time=2017-01"))
    assert len(totals) > 200 and len(hs4) > 100 and {len(r["I_COMMODITY"]) for r in hs4} == {4}
    emulator.set_faults(fail_whole_month=1)
    emulator.state.row_budget = 10_000_000
    assert get(emulator, "imports", "get=CTY_CODE,I_COMMODITY,GEN_VAL_MO&COMM_LVL=HS6&time=2017-01").status_code == 500
    assert get(emulator, "imports", "get=CTY_CODE,I_COMMODITY,GEN_VAL_MO&COMM_LVL=HS6&time=2017-01").status_code == 200
