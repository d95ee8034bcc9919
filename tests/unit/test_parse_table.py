"""Strict parsing of Census tables (no network: bodies built by hand)."""

import json

import pytest

from trade_warehouse.census_client import CensusResponseError, detail_request, parse_table, totals_request

pytestmark = pytest.mark.unit


def body(rows: list[list[str]]) -> bytes:
    return json.dumps(rows).encode()


def test_duplicate_predicate_columns_are_deduplicated():
    request = detail_request("exports", "2017-01", "HS6")
    header = ["CTY_CODE", "CTY_NAME", "E_COMMODITY", "E_COMMODITY_LDESC", "ALL_VAL_MO", "COMM_LVL", "SUMMARY_LVL", "time"]
    names, rows = parse_table(body([header, ["5880", "JAPAN", "870323", "CARS", "123", "HS6", "DET", "2017-01"]]),
                              request, "2017-01")
    assert names == header
    split = detail_request("exports", "2017-01", "HS6", prefix="87")
    header2 = header[:7] + ["E_COMMODITY", "time"]
    names, rows = parse_table(
        body([header2, ["5880", "JAPAN", "870323", "CARS", "123", "HS6", "DET", "87*", "2017-01"]]), split, "2017-01"
    )
    assert names.count("E_COMMODITY") == 1 and rows[0][names.index("E_COMMODITY")] == "870323"


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
