"""Strict parsing of Census tables (no network: bodies built by hand)."""

import json

import pytest

from trade_warehouse.sources.census.api import (
    CensusResponseError,
    column_positions,
    detail_request,
    parse_table,
    totals_request,
)

pytestmark = pytest.mark.unit


def body(rows: list[list[str]]) -> bytes:
    return json.dumps(rows).encode()


def test_header_is_kept_as_served_with_duplicate_predicate_columns():
    request = detail_request("exports", "2017-01", "HS6")
    header = [
        "CTY_CODE",
        "CTY_NAME",
        "E_COMMODITY",
        "E_COMMODITY_LDESC",
        "ALL_VAL_MO",
        "COMM_LVL",
        "SUMMARY_LVL",
        "time",
    ]
    parsed = parse_table(
        body([header, ["5880", "JAPAN", "870323", "CARS", "123", "HS6", "DET", "2017-01"]]), request, "2017-01"
    )
    assert parsed.header == header and parsed.row_count == 1
    assert parsed.prefix_rows == {"87": 1}  # a whole month is counted per chapter
    split = detail_request("exports", "2017-01", "HS6", ["87"])
    header2 = header[:7] + ["E_COMMODITY", "time"]  # the predicate comes back as a second E_COMMODITY
    parsed = parse_table(
        body([header2, ["5880", "JAPAN", "870323", "CARS", "123", "HS6", "DET", "87*", "2017-01"]]), split, "2017-01"
    )
    assert parsed.header == header2 and parsed.header.count("E_COMMODITY") == 2
    assert column_positions(parsed.header)["E_COMMODITY"] == 2  # the get column, not the echoed predicate


@pytest.mark.parametrize("echoes", [1, 3])
def test_a_repeated_predicate_may_be_echoed_once_or_per_repetition(echoes):
    request = detail_request("imports", "2017-01", "HS6", ["01", "02", "870"])
    assert request.part == "01-870"
    header = [
        "CTY_CODE",
        "CTY_NAME",
        "I_COMMODITY",
        "I_COMMODITY_LDESC",
        "GEN_VAL_MO",
        "CON_VAL_MO",
        "COMM_LVL",
        "SUMMARY_LVL",
        *["I_COMMODITY"] * echoes,
        "time",
    ]
    rows = [
        ["5880", "JAPAN", code, "X", "5", "4", "HS6", "DET", *["01*"] * echoes, "2017-01"]
        for code in ("010121", "020110", "020120", "870323")
    ]
    parsed = parse_table(body([header, *rows]), request, "2017-01")
    assert parsed.prefix_rows == {"01": 1, "02": 2, "870": 1}


def test_a_row_outside_the_requested_prefixes_is_rejected():
    request = detail_request("exports", "2017-01", "HS6", ["01"])
    header = [
        "CTY_CODE",
        "CTY_NAME",
        "E_COMMODITY",
        "E_COMMODITY_LDESC",
        "ALL_VAL_MO",
        "COMM_LVL",
        "SUMMARY_LVL",
        "E_COMMODITY",
        "time",
    ]
    with pytest.raises(CensusResponseError, match="commodity '870323', outside the requested prefixes"):
        parse_table(
            body([header, ["5880", "JAPAN", "870323", "CARS", "1", "HS6", "DET", "01*", "2017-01"]]), request, "2017-01"
        )


def test_missing_and_unexpected_columns_are_named():
    request = totals_request("imports", "2017-01")
    with pytest.raises(CensusResponseError, match=r"missing columns: \['CON_VAL_MO'\]; unexpected columns: \['X'\]"):
        parse_table(body([["CTY_CODE", "CTY_NAME", "SUMMARY_LVL", "GEN_VAL_MO", "X", "time"]]), request, "2017-01")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["5880", "JAPAN", "DET", "12.5", "2017-01"], "row 1 field ALL_VAL_MO = '12.5' is not an integer"),
        (["5880", "JAPAN", "DET", "12", "2017-02"], "row 1 field time = '2017-02', but 2017-01 was requested"),
        (["5880", "JAPAN", "DET", "12"], "row 1 has 4 fields"),
    ],
)
def test_bad_rows_name_row_and_field(row, message):
    request = totals_request("exports", "2017-01")
    header = ["CTY_CODE", "CTY_NAME", "SUMMARY_LVL", "ALL_VAL_MO", "time"]
    with pytest.raises(CensusResponseError, match=message):
        parse_table(body([header, row]), request, "2017-01")


def test_html_and_truncated_bodies_are_rejected():
    request = totals_request("exports", "2017-01")
    with pytest.raises(CensusResponseError, match="not JSON"):
        parse_table(b"<html>Missing Key</html>", request, "2017-01")
    with pytest.raises(CensusResponseError, match="not JSON"):
        parse_table(b'[["CTY_CODE","CTY_NAME"],["58', request, "2017-01")
