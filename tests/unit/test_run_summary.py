"""What `make backfill` prints when months fail: built from the typed stage results, never the log."""

import json

import pytest

from trade_warehouse.cli.summary import failure_summary, format_failures
from trade_warehouse.core.results import ExtractResult, FailedExpectation, LoadResult, MonthFailure, TaskFailure

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


KEY_REJECTED = (
    "exports/hs?get=CTY_CODE&time=2017-01&key=s3cr3t: the Census API rejected the request because the API key "
    "is invalid (HTTP 302, redirect to https://api.census.gov/data/invalid_key.html). Request a key at "
    "https://api.census.gov/data/key_signup.html"
)


def run_result(states: dict[str, str], failures: list[TaskFailure] = (), stages: dict | None = None) -> dict:
    """A run's result as dag_runner writes it: task states (with when they ended), stage results, causes."""
    tasks = [
        {"task_id": task, "state": state, "end_date": f"2026-12-03T06:57:{i:02d}+00:00"}
        for i, (task, state) in enumerate(states.items())
    ]
    return {"state": "failed", "tasks": tasks, "stages": stages or {}, "task_failures": [f.to_xcom() for f in failures]}


def test_a_failed_task_is_named_once_with_its_cause_and_upstream_failed_tasks_are_not_listed():
    plan = TaskFailure.from_error("plan", RuntimeError(KEY_REJECTED), secrets=("s3cr3t",))
    states = {"plan": "failed", "has_work": "upstream_failed", "extract": "upstream_failed", "load": "upstream_failed"}
    states |= {"gx_docs": "success", "transform_and_publish": "upstream_failed", "report": "upstream_failed"}
    states |= {"dbt_docs": "upstream_failed", "finish": "success"}
    lines = failure_summary(run_result(states, [plan]), "backfill", 28).splitlines()
    assert lines[0].startswith("backfill FAILED at plan: exports/hs?get=CTY_CODE&time=2017-01&key=***: the Census ")
    assert "the API key is invalid (HTTP 302" in lines[0] and "s3cr3t" not in lines[0]
    assert lines[1:] == ["failed task(s): plan (after 28s)"]


def test_month_failures_name_finish_then_each_month():
    failure = MonthFailure("imports", "2016-06", "validate", transient=False, reason="1 of 14 expectations failed")
    result = run_result({"load": "success", "finish": "failed"}, stages=stages(failure))
    lines = failure_summary(result, "backfill", 3).splitlines()
    assert lines[0] == "backfill FAILED at finish: 1 flow-month(s) failed at validate"
    assert lines[1] == "failed task(s): finish (after 3s)"
    assert lines[2:] == ["1 flow-month(s) failed:", "  imports 2016-06 at validate: 1 of 14 expectations failed"]


def test_the_first_task_to_fail_leads_and_a_multi_line_cause_keeps_its_detail():
    dbt = TaskFailure("transform_and_publish", "dbt build failed: 1 of 80 tests failed\nunique_dim_month_month: 2 rows")
    states = {"transform_and_publish": "failed", "report": "upstream_failed", "dbt_docs": "upstream_failed"}
    states |= {"finish": "failed"}  # ended after transform_and_publish, with no cause recorded
    lines = failure_summary(run_result(states, [dbt]), "run", 61).splitlines()
    assert lines == [
        "run FAILED at transform_and_publish: dbt build failed: 1 of 80 tests failed",
        "  unique_dim_month_month: 2 rows",
        "failed task(s): transform_and_publish, finish (after 61s)",
        "also FAILED at finish: no cause recorded: see the full log",
    ]


def test_a_task_failure_survives_the_xcom_round_trip():
    error = TimeoutError("dbt took too long")
    error.transient = True
    failure = TaskFailure.from_error("transform_and_publish", error)
    assert failure == TaskFailure("transform_and_publish", "dbt took too long", transient=True)
    assert TaskFailure.from_xcom(json.loads(json.dumps(failure.to_xcom()))) == failure
