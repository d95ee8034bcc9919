"""Run a DAG in a child process and say how it went: the run summary of ``make run`` / ``make backfill``.

Built from typed results only, never from the log: the month failures of the stage results
(``MonthFailure``) and the causes failed tasks left (``TaskFailure``). A failed run's summary
opens with one line naming the first failed task and its cause, the same words as the alert;
it lists only tasks that failed themselves, never those skipped or not run because of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.cli.costs import extraction_costs, print_extraction_costs
from trade_warehouse.core.config import load_settings
from trade_warehouse.core.months import month_range
from trade_warehouse.core.results import (
    ExtractResult,
    LoadResult,
    MonthFailure,
    TaskFailure,
    describe_failures,
)
from trade_warehouse.core.results import run_failures as run_failures_of
from trade_warehouse.orchestration.airflow_env import DAG_ID

STAGES = {  # what each task of the pipeline graph does, in the order the graph runs them
    "plan": "plan",
    "has_work": "plan",
    "extract": "extract",
    "load": "load + validate",
    "gx_docs": "GX docs",
    "transform_and_publish": "dbt build + publish",
    "report": "report",
    "dbt_docs": "dbt docs",
    "finish": "finish",
}
MAX_CAUSE_LINES = 20


def run_dag_process(conf: dict, env: dict[str, str], log_path: Path, dag_id: str = DAG_ID) -> tuple[int, dict]:
    """Run one DAG run in a child process (its Airflow log to ``log_path``); its exit code and result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    command = [sys.executable, "-m", "trade_warehouse.orchestration.dag_runner", json.dumps(conf), str(result_path)]
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            code = subprocess.run(
                [*command, dag_id],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        text = result_path.read_text(encoding="utf-8")
        return code, json.loads(text) if text.strip() else {}
    finally:
        result_path.unlink(missing_ok=True)


def log_file(env: dict[str, str], label: str) -> Path:
    """A new log file under ``$TRADE_DATA_DIR/logs`` named by the time and the command."""
    log_dir = load_settings(env).data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{label}.log"


def run_pipeline(conf: dict, env: dict[str, str], label: str) -> int:
    """Run the Census DAG in a child process (its Airflow log goes to a file); report the outcome."""
    settings = load_settings(env)
    log_path = log_file(env, label)
    started = time.monotonic()
    run_started = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{label}: running DAG {DAG_ID} with {json.dumps(conf)}; Airflow log: {log_path}", flush=True)
    code, result = run_dag_process(conf, env, log_path)
    elapsed = time.monotonic() - started
    window = month_range(conf["start_month"], conf["end_month"]) if conf.get("start_month") else []
    print_extraction_costs(extraction_costs(settings, window, since=run_started))
    if code != 0:
        print("\n" + failure_summary(result, label, elapsed), file=sys.stderr)
        print(f"full log: {log_path}", file=sys.stderr)
        return 1
    print(f"{label}: pipeline succeeded in {elapsed:.0f}s", flush=True)
    return 0


def state_of(task: dict) -> str:
    """``failed``, ``upstream_failed``, ``success`` ... whether Airflow wrote an enum or its value."""
    return str(task.get("state")).rsplit(".", 1)[-1].lower()


def failed_tasks(result: dict) -> list[str]:
    """The tasks that failed themselves (not upstream_failed, not skipped), each once, first to fail first."""
    order = list(STAGES)
    failed = {t["task_id"]: t for t in result.get("tasks", []) if state_of(t) == "failed"}
    return sorted(
        failed,
        key=lambda task: (
            failed[task].get("end_date") or "~",
            order.index(task) if task in order else len(order),
        ),
    )


def task_failures(result: dict) -> dict[str, TaskFailure]:
    """The typed causes the failed tasks left, by task."""
    return {f.task: f for f in map(TaskFailure.from_xcom, result.get("task_failures") or [])}


def headline(task: str, causes: dict[str, TaskFailure], months: list[MonthFailure]) -> TaskFailure:
    """The cause of one failed task: what it left, its failed months (``finish``), or the log."""
    if task in causes:
        return causes[task]
    if task == "finish" and months:
        stages = ", ".join(sorted({f.stage for f in months}))
        return TaskFailure(task, f"{len(months)} flow-month(s) failed at {stages}")
    return TaskFailure(task, "no cause recorded: see the full log")


def failure_summary(result: dict, label: str, elapsed: float) -> str:
    """A failed run: one line naming the first failed task and its cause, then the failed tasks and months."""
    months = run_failures(result.get("stages") or {})
    causes = task_failures(result)
    failed = failed_tasks(result)
    if not failed:
        return f"{label} FAILED: the run did not complete (after {elapsed:.0f}s); see the full log"
    first = headline(failed[0], causes, months)
    lines = [f"{label} FAILED at {first.describe()}"]
    lines += ["  " + line for line in first.cause.strip().splitlines()[1:MAX_CAUSE_LINES]]
    lines.append(f"failed task(s): {', '.join(failed)} (after {elapsed:.0f}s)")
    lines += [f"also FAILED at {headline(task, causes, months).describe()}" for task in failed[1:]]
    if months:
        lines.append(describe_failures(months))
    return "\n".join(lines)


def run_failures(stages: dict) -> list[MonthFailure]:
    """Every failed flow-month of a run, from its stage results (the XCom of extract and load)."""
    extracted, loaded = stages.get("extract"), stages.get("load")
    return run_failures_of(
        ExtractResult.from_xcom(extracted) if extracted else None, LoadResult.from_xcom(loaded) if loaded else None
    )


def format_failures(stages: dict) -> str:
    """Every failed flow-month of a run with its stage and full reason, from the stage results.

    A validation failure's reason names each failed expectation, its column, what was
    observed and example values, so nobody has to open the Airflow log to learn them.
    """
    return describe_failures(run_failures(stages))


def print_summary(env: dict[str, str], year: int) -> None:
    """After ``make run``: the year's ten largest deficit partners, and where the results are."""
    from trade_warehouse.publish.serving import open_served, where_served

    settings = load_settings(env)
    with open_served(settings) as con:
        rows = con.execute(
            """
            select deficit_rank, partner_name, exports_usd / 1e9, imports_usd / 1e9, balance_usd / 1e9
            from marts.trade_balance_annual where year = ? and deficit_rank <= 10 order by deficit_rank
            """,
            [year],
        ).fetchall()
        synthetic = con.execute("select bool_or(data_source = 'census-emulator') from marts.dim_month").fetchone()[0]
    print(
        f"\nTen largest U.S. goods deficit partners, {year} ($ billions)"
        + (" - SYNTHETIC emulator data" if synthetic else "")
    )
    print(f"{'#':>2}  {'partner':<24}{'exports':>10}{'imports':>10}{'balance':>10}")
    for rank, name, exports, imports, balance in rows:
        print(f"{rank:>2}  {name:<24}{exports:>10.1f}{imports:>10.1f}{balance:>10.1f}")
    print(f"\nserving database: {where_served(settings)}")
    print(f"report:           {settings.report_path}")
