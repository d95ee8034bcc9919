"""What `make backfill` prints when months fail: built from the typed stage results, never the log."""

import json

import pytest

from trade_warehouse.cli.main import format_failures
from trade_warehouse.core.results import ExtractResult, FailedExpectation, LoadResult, MonthFailure

pytestmark = pytest.mark.unit

NEGATIVE = FailedExpectation.from_gx(
    "census_imports_month",
    {
        "expectation": "expect_column_values_to_match_regex",
        "column": "gen_value_usd",
        "observed": "1 unexpected rows",
        "expected": {"regex": "^\\d+$"},
        "examples": ["-5", "-7", "-9", "-11", "-13"],
    },
)


def stages(*failures: MonthFailure) -> dict:
    extract = ExtractResult(failures=[f for f in failures if f.stage == "extract"])
    load = LoadResult(failures=[f for f in failures if f.stage != "extract"])
    return {"extract": extract.to_xcom(), "load": load.to_xcom()}  # as they come back from XCom


def test_a_failed_validation_names_expectation_column_and_example():
    summary = format_failures(
        stages(
            MonthFailure(
                "exports",
                "2016-07",
                "extract",
                transient=True,
                reason="exports/hs?...: HTTP 500 (gave up after 5 attempts)",
            ),
            MonthFailure(
                "imports",
                "2016-06",
                "validate",
                transient=False,
                reason="suite census_imports_month: 1 of 14 expectations failed",
                expectations=(NEGATIVE,),
            ),
        )
    )
    lines = summary.splitlines()
    assert lines[0] == "2 flow-month(s) failed:"
    assert lines[1] == "  imports 2016-06 at validate: suite census_imports_month: 1 of 14 expectations failed"
    assert lines[2] == (
        "      - census_imports_month: expect_column_values_to_match_regex on gen_value_usd: "
        "observed 1 unexpected rows; e.g. -5, -7, -9 (expected {'regex': '^\\\\d+$'})"
    )
    assert lines[3].startswith("  exports 2016-07 at extract: ") and "HTTP 500" in lines[3]


def test_months_skipped_because_of_an_earlier_failure_come_after_the_causes():
    summary = format_failures(
        stages(
            MonthFailure("exports", "2016-01", "extract", transient=False, consequence=True, reason="not requested"),
            MonthFailure("exports", "2016-02", "extract", transient=False, reason="HTTP 401: key rejected"),
        )
    )
    assert [line.split(" at ")[0].strip() for line in summary.splitlines()[1:]] == [
        "exports 2016-02",
        "exports 2016-01",
    ]


def test_failures_survive_the_xcom_round_trip():
    failure = MonthFailure("imports", "2016-06", "validate", transient=False, reason="r", expectations=(NEGATIVE,))
    serialized = LoadResult(failures=[failure]).to_xcom()
    assert json.loads(json.dumps(serialized)) == serialized  # plain JSON: no tuple for XCom to encode
    again = LoadResult.from_xcom(serialized).failures[0]
    assert again == failure and again.expectations[0].examples == ("-5", "-7", "-9")


def test_no_failures_prints_nothing():
    assert format_failures({"load": LoadResult().to_xcom()}) == "" and format_failures({}) == ""
