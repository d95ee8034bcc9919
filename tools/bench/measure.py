"""Measuring one DAG run: its task instances' own timings, the process tree's peak RSS, the machine's load.

A run goes through ``trade_warehouse.orchestration.dag_runner`` in a child process, as
``make run`` / ``make backfill`` do it; the stages are the Airflow task instances (from the
metadata DB), and the RSS samples are sliced by their time windows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.core.config import FLOWS, PROJECT_ROOT

MONTHLY_DAG, NIGHTLY_DAG = "census_trade_monthly", "census_trade_nightly"
STAGE_ORDER = [
    "plan",
    "has_work",
    "extract",
    "load",
    "gx_docs",
    "transform_and_publish",
    "report",
    "dbt_docs",
    "finish",
]


class BenchError(RuntimeError):
    """A measured run did not succeed: its numbers would be meaningless."""


def now() -> str:
    """The current UTC time, to the second, as recorded with every result."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class RssSampler:
    """Samples the summed RSS of a process and its descendants (psutil) in a thread.

    Per-stage peaks come from slicing the samples by the task instances' time windows.
    """

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += process.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            self.samples.append((time.time(), total))
            self._stop.wait(self.interval_s)

    def peak_mb(self, start: float | None = None, end: float | None = None) -> float:
        """Largest sample in [start, end] (the whole run when not given), in MB."""
        values = [
            rss
            for t, rss in self.samples
            if (start is None or t >= start - self.interval_s) and (end is None or t <= end + self.interval_s)
        ]
        return round(max(values, default=0) / 1e6, 1)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: the machine is shared, so they go with every number."""
    return [round(x, 2) for x in os.getloadavg()]


def git_state() -> dict:
    """The commit measured, and whether tracked files other than the results differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short=12", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        # the results file itself is left out: a run's first scenario appends to it before the
        # next one records its state, which flagged every later scenario of the run as dirty
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results.jsonl")),
    }


@dataclass
class Stage:
    task_id: str
    state: str
    wall_s: float
    start: float
    end: float
    peak_rss_mb: float = 0.0


@dataclass
class DagRun:
    """One measured DAG run: process wall, the task instances' stages and the tasks' results."""

    dag_id: str
    run_id: str
    state: str
    wall_s: float
    peak_rss_mb: float
    stages: list[Stage]
    results: dict = field(default_factory=dict)  # task_id -> XCom return value (extract, load, transform)
    log_path: str = ""

    def stage(self, task_id: str) -> Stage | None:
        return next((s for s in self.stages if s.task_id == task_id), None)

    def seconds(self, task_id: str) -> float:
        stage = self.stage(task_id)
        return stage.wall_s if stage else 0.0

    def span(self, first: str, last: str) -> float:
        """From the start of task ``first`` to the end of task ``last`` (0 if either did not run)."""
        a, b = self.stage(first), self.stage(last)
        return round(b.end - a.start, 2) if a and b and b.end and a.start else 0.0


def task_instances(dag_id: str, run_id: str) -> tuple[list[Stage], dict]:
    """The run's task instances (start, end, state) and the XCom results of its stages."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).all()
        stages = []
        for ti in rows:
            if ti.start_date is None or ti.end_date is None:
                stages.append(Stage(ti.task_id, str(ti.state), 0.0, 0.0, 0.0))
                continue
            start, end = ti.start_date.timestamp(), ti.end_date.timestamp()
            stages.append(Stage(ti.task_id, str(ti.state), round(end - start, 2), start, end))
        results = {}
        for row in session.scalars(
            XComModel.get_many(
                run_id=run_id, dag_ids=dag_id, key="return_value", task_ids=["extract", "load", "transform_and_publish"]
            )
        ).all():
            try:
                results[row.task_id] = XComModel.deserialize_value(row)
            except Exception:  # noqa: BLE001 - a result we cannot read is left out, not guessed
                pass
    stages.sort(key=lambda s: (STAGE_ORDER.index(s.task_id) if s.task_id in STAGE_ORDER else 99, s.start))
    return stages, results


def run_dag(env: dict[str, str], dag_id: str, conf: dict, label: str) -> DagRun:
    """Run one DAG run through ``trade_warehouse.orchestration.dag_runner`` in a child process and measure it."""
    data_dir = Path(env["TRADE_DATA_DIR"])
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-bench-{label}.log"
    handle, result_name = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    result_path = Path(result_name)
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trade_warehouse.orchestration.dag_runner",
                json.dumps(conf),
                str(result_path),
                dag_id,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        with RssSampler(child.pid) as sampler:
            code = child.wait()
    wall = round(time.monotonic() - started, 2)
    text = result_path.read_text() if result_path.stat().st_size else "{}"
    result_path.unlink(missing_ok=True)
    result = json.loads(text)
    if not result.get("run_id"):
        raise BenchError(f"{label}: the DAG runner exited {code} without a result; see {log_path}")
    stages, results = task_instances(dag_id, result["run_id"])
    for stage in stages:
        if stage.end:
            stage.peak_rss_mb = sampler.peak_mb(stage.start, stage.end)
    run = DagRun(
        dag_id, result["run_id"], result.get("state", "?"), wall, sampler.peak_mb(), stages, results, str(log_path)
    )
    if code != 0:
        failed = [s.task_id for s in stages if "failed" in s.state]
        raise BenchError(f"{label}: DAG run {run.run_id} ended {run.state} (failed tasks: {failed}); see {log_path}")
    return run


def bench_env(data_dir: Path, base_url: str) -> dict[str, str]:
    """The environment of a measured run: the project's Airflow, this data dir, the emulator."""
    from trade_warehouse.emulator import DEMO_API_KEY
    from trade_warehouse.orchestration.airflow_env import airflow_environment

    env = airflow_environment()
    env.update(
        TRADE_DATA_DIR=str(data_dir), CENSUS_API_BASE_URL=base_url, CENSUS_API_KEY=DEMO_API_KEY, CENSUS_API_PACING_S="0"
    )
    env.pop("TRADE_HS_LEVEL", None)
    return env


def landed_detail_rows(data_dir: Path, months: list[str]) -> int:
    """Detail rows landed for ``months`` (both flows), from the landing zone's extraction records."""
    from trade_warehouse.load.landing import latest_landed

    landing = data_dir / "landing" / "census"
    return sum(
        f.row_count
        for month in months
        for flow in FLOWS
        for f in latest_landed(landing, flow, "HS6", month)
        if f.kind == "detail"
    )


def state_figures(env: dict[str, str], run_id: str, months: list[str]) -> dict:
    """What the state-level data (``statehs``) cost in a run: rows landed, load and dbt seconds.

    Rows from the landing zone's manifests; load seconds from the run's ``audit.loads`` rows
    of the state flows (validation and swap included); build seconds are dbt's own timings of
    the state models and their tests (``run_results.json``: node seconds, which dbt threads
    overlap, so they may exceed the build's wall time share).
    """
    from trade_warehouse.core.config import STATE_FLOWS, load_settings
    from trade_warehouse.load.landing import latest_landed
    from trade_warehouse.load.warehouse import open_reader

    settings = load_settings(env)
    if not settings.state_trade:
        return {"enabled": False}
    rows = sum(
        f.row_count
        for month in months
        for flow in STATE_FLOWS
        for f in latest_landed(settings.landing_dir, flow, settings.state_hs_level, month)
        if f.kind == "detail"
    )
    with open_reader(settings) as con:
        loaded = con.execute(
            "select count(*) filter (where status = 'loaded'), coalesce(sum(duration_s), 0) from audit.loads "
            "where run_id = ? and flow in ('state_exports', 'state_imports')",
            [run_id],
        ).fetchone()
    results_path = settings.data_dir / "dbt" / "target" / "run_results.json"
    nodes = json.loads(results_path.read_text(encoding="utf-8")).get("results", []) if results_path.exists() else []
    state_nodes = [n for n in nodes if "state" in n.get("unique_id", "").split(".")[-1].split("__")[-1]]
    return {
        "enabled": True,
        "hs_level": settings.state_hs_level,
        "detail_rows": rows,
        "months_loaded": loaded[0],
        "load_s": round(loaded[1], 2),
        "dbt_nodes": len(state_nodes),
        "dbt_node_s": round(sum(n.get("execution_time", 0) for n in state_nodes), 2),
    }
