"""What `make backfill` prints when months fail: built from the stage results, never the log."""

import pytest

from trade_warehouse.cli import format_failures

pytestmark = pytest.mark.unit


def test_a_failed_validation_names_expectation_column_and_example():
    reason = ("suite census_imports_month: 1 of 14 expectations failed\n"
              "  - expect_column_values_to_match_regex gen_value_usd: observed 1 unexpected rows, "
              "expected {'regex': '^\\\\d+$'}; examples ['-5']")
    stages = {"extract": {"failures": [{"flow": "exports", "month": "2016-07", "stage": "extract",
                                        "error": "exports/hs?...: HTTP 500 (gave up after 5 attempts)"}]},
              "load": {"failures": [{"flow": "imports", "month": "2016-06", "stage": "validate", "error": reason}]}}
    summary = format_failures(stages)
    lines = summary.splitlines()
    assert lines[0] == "2 flow-month(s) failed:"
    assert lines[1].startswith("  exports 2016-07 at extract: ") and "HTTP 500" in lines[1]
    assert lines[2] == "  imports 2016-06 at validate: suite census_imports_month: 1 of 14 expectations failed"
    assert "expect_column_values_to_match_regex gen_value_usd" in lines[3] and "examples ['-5']" in lines[3]


def test_no_failures_prints_nothing():
    assert format_failures({"load": {"failures": []}}) == "" and format_failures({}) == ""
