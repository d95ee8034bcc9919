"""End to end through the command line, as a user runs it: ``python -m trade_warehouse backfill|run``.

The CLI starts its own emulator (``CENSUS_API_BASE_URL`` unset) and runs the DAGs in a child
process; what is checked is what the user reads on the terminal, and what was published.
"""

from __future__ import annotations

import json

import pytest
from duck import query
from webhook import webhook

from trade_warehouse.cli.main import main
from trade_warehouse.core.config import load_settings

pytestmark = pytest.mark.dag
WRONG_KEY = "not-a-census-key-7f3a9c"
UPSTREAM_OF_PLAN = ("has_work", "extract", "load", "transform_and_publish", "report", "dbt_docs")


def test_backfill_with_a_wrong_key_names_the_key_problem_in_one_line(airflow_db, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CENSUS_API_KEY", WRONG_KEY)  # the emulator accepts only its demo key: 302 invalid_key
    monkeypatch.delenv("CENSUS_API_BASE_URL", raising=False)
    with webhook() as (url, alerts):
        monkeypatch.setenv("TRADE_ALERT_WEBHOOK_URL", url)
        code = main(["backfill", "--from", "2017-01", "--to", "2017-01", "--scale", "small"])
    output = capfd.readouterr()
    printed = output.out + output.err
    assert code == 1, printed
    [summary] = [line for line in printed.splitlines() if " FAILED at " in line]
    print(f"summary line: {summary}")
    assert summary.startswith("backfill FAILED at plan: "), summary
    assert "the Census API rejected the request because the API key is invalid (HTTP 302" in summary
    assert "Request a key at https://api.census.gov/data/key_signup.html" in summary
    [failed] = [line for line in printed.splitlines() if line.startswith("failed task(s): ")]
    assert failed.startswith("failed task(s): plan (after "), failed  # plan only, once
    assert not any(task in failed for task in UPSTREAM_OF_PLAN) and "also FAILED" not in printed, printed
    assert WRONG_KEY not in printed
    # the alert says the same line, and carries the cause as a typed field
    [alert] = alerts
    assert alert["task_id"] == "plan" and alert["text"].endswith(summary.removeprefix("backfill "))
    assert alert["task_failure"] == {"task": "plan", "cause": alert["reason"], "transient": False}
    assert WRONG_KEY not in json.dumps(alert)


def test_run_publishes_the_mirror_marts(airflow_db, tmp_path, monkeypatch, capfd):
    """``make run`` runs the mirror DAG after the Census one: the dashboard's two-sides tile has data."""
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "data"))
    code = main(["run", "--from", "2017-01", "--to", "2017-01", "--scale", "small"])
    printed = capfd.readouterr().out
    assert code == 0, printed
    assert "running DAG comtrade_mirror_monthly" in printed and "Two sides of the balance" in printed
    serving = load_settings().serving_path
    years = query(serving, "select year, count(*) from marts.mirror_trade_annual group by year order by year")
    assert [year for year, rows in years if rows > 0] == [2017], years
    partner_side = query(serving, "select count(*) from marts.mirror_trade_annual where partner_months_covered > 0")
    assert partner_side[0][0] > 0
    # make status reads the same warehouse: the last attempt of each flow-month (one copy of that SQL)
    assert main(["status"]) == 0
    status = capfd.readouterr().out.splitlines()
    assert [line.split()[:3] for line in status[1:3]] == [
        ["2017-01", "exports", "loaded"],
        ["2017-01", "imports", "loaded"],
    ]
