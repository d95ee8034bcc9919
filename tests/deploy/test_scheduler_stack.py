"""The pipeline under real Airflow services, as docker/docker-compose.yaml deploys it.

One stack for the module (tests run in file order and build on each other's data): a
throwaway PostgreSQL, the compose file's init script, `airflow api-server`,
`airflow dag-processor` and `airflow scheduler` (LocalExecutor) as separate processes,
then the Celery profile (Redis, two workers). Tasks reach the project's Census API
emulator over HTTP on 127.0.0.1. Nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from duck import query
from stack import DEPLOYMENT_SECRETS, Stack, StackError, stray_processes, wait_for

from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.server import EmulatorState, make_server
from trade_warehouse.emulator.synthetic import Universe
from trade_warehouse.orchestration.airflow_env import DAGS_DIR

pytestmark = pytest.mark.deploy

MONTHLY, NIGHTLY = "census_trade_monthly", "census_trade_nightly"
WRITERS = {"load", "transform_and_publish", "dbt_docs"}  # the tasks in the writer pool and queue
TERMINAL = {"success", "failed"}
RUN_TIMEOUT_S = 300


class Emulator:
    """A running emulator: its base URL, and its state (which says what is released)."""

    def __init__(self, state: EmulatorState, base_url: str) -> None:
        self.state = state
        self.base_url = base_url


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The Census API emulator (small scale) in a thread of the test process."""
    state = EmulatorState(universe=Universe("small"), api_keys=frozenset([DEMO_API_KEY]), latest_month="2016-03")
    server = make_server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Emulator(state, "http://{}:{}/data/timeseries/intltrade".format(*server.server_address[:2]))
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def stack(emulator: Emulator) -> Iterator[Stack]:
    """The running stack; stopped, checked for stray processes and removed even on failure."""
    deployment = Stack(emulator.base_url)
    seen: dict[int, float] = {}
    try:
        deployment.start()
        expected = {path.stem for path in DAGS_DIR.glob("*.py")}  # one DAG per file, named after it
        wait_for(
            f"the DAGs {sorted(expected)} to be parsed into the metadata DB",
            lambda: {d["dag_id"] for d in deployment.api("GET", "/dags").get("dags", [])} == expected,
            timeout_s=120,
        )
        yield deployment
    finally:
        stopped = False
        try:
            seen = process_times(deployment.pids())
            deployment.stop()
            stopped = True
        finally:
            strays = wait_for_no_strays(deployment.marker, seen)
            if stopped:  # a part that did not stop keeps its files (and the StackError names it)
                deployment.remove()
        assert not strays, f"processes of the stack still running after teardown: {strays}"


def process_times(pids: set[int]) -> dict[int, float]:
    """pid -> start time, to recognise the same processes later (pids are reused)."""
    import psutil

    times = {}
    for pid in pids:
        try:
            times[pid] = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            continue
    return times


def wait_for_no_strays(marker: str, seen: dict[int, float], timeout_s: float = 20) -> list[str]:
    """Processes of the stack still alive after teardown: marked ones, and any process seen
    in its tree before the stop. They are killed, and reported."""
    deadline = time.monotonic() + timeout_s
    while True:
        strays = stray_processes(marker)
        strays += [
            f"{pid}: (seen in the stack's process tree)"
            for pid, started in process_times(set(seen)).items()
            if started == seen[pid] and not any(s.startswith(f"{pid}:") for s in strays)
        ]
        if not strays or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for line in strays:
        try:
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return strays


# ----- helpers: the REST API and the warehouse, read as a user would ---------------------
def runs(stack: Stack, dag_id: str) -> list[dict]:
    """The DAG's runs as the REST API lists them (what an operator sees in the UI)."""
    return stack.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]


def task_instances(stack: Stack, dag_id: str, run_id: str) -> dict[str, dict]:
    """task_id -> task instance (state, try_number, queue, hostname) from the REST API."""
    tis = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {ti["task_id"]: ti for ti in tis}


def wait_run(stack: Stack, dag_id: str, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> dict:
    """The run once it has finished; on a timeout, fail with the end of every component's log."""

    def finished() -> dict | None:
        run = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        return run if run["state"] in TERMINAL else None

    try:
        return wait_for(f"{dag_id} run {run_id}", finished, timeout_s=timeout_s, interval_s=2)
    except StackError as error:
        raise AssertionError(f"{error}\n{stack.logs_tail()}") from None


def trigger(stack: Stack, dag_id: str, conf: dict) -> str:
    """Trigger a run through the REST API, as the UI's trigger form does; returns its run id."""
    return stack.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})["dag_run_id"]


def states(stack: Stack, dag_id: str, run_id: str) -> dict[str, str]:
    """task_id -> state of one run."""
    return {task: ti["state"] for task, ti in task_instances(stack, dag_id, run_id).items()}


def published_months(stack: Stack) -> list[str]:
    """The months a BI reader sees in the serving snapshot (YYYY-MM)."""
    path = stack.data_dir / "serving" / "trade.duckdb"
    return [m.isoformat()[:7] for (m,) in query(path, "select month from marts.dim_month order by 1")]


def month_state(warehouse: Path, month: str) -> dict[str, tuple]:
    """Per raw table: rows, distinct load ids and value total of one month."""
    tables = {
        "exports_hs": "all_value_usd",
        "exports_totals": "all_value_usd",
        "imports_hs": "gen_value_usd",
        "imports_totals": "gen_value_usd",
    }
    sql = " union all ".join(
        f"select '{t}', count(*), count(distinct load_id), coalesce(sum({v}), 0), min(load_id) "
        f"from raw.census_{t} where month = date '{month}-01'"
        for t, v in tables.items()
    )
    return {name: tuple(rest) for name, *rest in query(warehouse, sql)}


def assert_whole_month(warehouse: Path, month: str) -> dict[str, tuple]:
    """The month is one complete load per flow: one load id, shared by detail and totals,
    recorded in audit.loads as loaded with the detail row count the table holds."""
    state = month_state(warehouse, month)
    for flow in ("exports", "imports"):
        detail, totals = state[f"{flow}_hs"], state[f"{flow}_totals"]
        assert detail[0] > 0 and totals[0] > 0, state
        assert detail[1] == 1 and totals[1] == 1, f"{flow} {month} mixes loads: {state}"
        assert detail[3] == totals[3], f"{flow} {month}: detail and totals from different loads: {state}"
        [(status, rows)] = query(
            warehouse, "select status, detail_rows from audit.loads where load_id = ?", [detail[3]]
        )
        assert (status, rows) == ("loaded", detail[0]), (flow, month, status, rows, detail)
    return state


def writer_pids(stack: Stack, warehouse: Path) -> list[int]:
    """Processes of the stack that have the warehouse database file open."""
    found = []
    for pid in sorted(stack.pids()):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if str(warehouse) in links:
            found.append(pid)
    return found


# ----- the scenarios -----------------------------------------------------------------------
def test_admin_login_comes_from_the_environment(stack):
    """The admin password is the one from the environment; Airflow's defaults do not log in."""
    assert stack.token().status_code == 201
    assert stack.token(password="admin").status_code == 401
    assert stack.token(password="airflow").status_code == 401
    for name in ("airflow-init.log", "api-server.log", "scheduler.log", "dag-processor.log"):
        text = (stack.logs / name).read_text(errors="replace")
        for secret in ("AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "POSTGRES_PASSWORD"):
            assert stack.secrets[secret] not in text, f"{secret} in {name}"


def test_backfill_create_runs_three_months_one_at_a_time(stack):
    """`airflow backfill create` for 3 months, --max-active-runs 1: 3 runs, in turn, exactly those months."""
    stack.api("PATCH", f"/dags/{MONTHLY}", json={"is_paused": False})  # a backfill needs it unpaused
    stack.airflow_cli(
        "backfill",
        "create",
        "--dag-id",
        MONTHLY,
        "--from-date",
        "2016-01-01",
        "--to-date",
        "2016-03-01",
        "--max-active-runs",
        "1",
    )

    def backfill_runs() -> list[dict] | None:
        found = sorted(
            (r for r in runs(stack, MONTHLY) if r["run_type"] == "backfill"), key=lambda r: r["logical_date"]
        )
        return found if len(found) == 3 and all(r["state"] in TERMINAL for r in found) else None

    try:
        done = wait_for("3 backfill runs", backfill_runs, timeout_s=3 * RUN_TIMEOUT_S, interval_s=2)
    except StackError as error:
        raise AssertionError(f"{error}\n{stack.logs_tail()}") from None
    assert [r["logical_date"][:7] for r in done] == ["2016-01", "2016-02", "2016-03"]
    assert [r["state"] for r in done] == ["success"] * 3, done
    for earlier, later in zip(done, done[1:], strict=False):  # --max-active-runs 1: one after the other
        assert earlier["end_date"] <= later["start_date"], (earlier, later)
    assert published_months(stack) == ["2016-01", "2016-02", "2016-03"]
    warehouse = stack.data_dir / "warehouse" / "trade.duckdb"
    loads = query(
        warehouse,
        "select run_id, strftime(month, '%Y-%m') from audit.loads "
        "where flow = 'imports' and status = 'loaded' order by 2",
    )
    assert loads == [(r["dag_run_id"], r["logical_date"][:7]) for r in done]


def test_nightly_scheduled_new_month_then_noop_night(stack, emulator):
    """The scheduler runs the nightly DAG on its own: a new month is loaded; then a night with
    nothing new probes once and publishes nothing."""
    emulator.state.latest_month = "2016-04"  # Census releases April
    stack.api("PATCH", f"/dags/{NIGHTLY}", json={"is_paused": False})
    # nobody triggers it: the scheduler creates the latest nightly run on its own
    scheduled = wait_for(
        "the scheduler to create a nightly run",
        lambda: [r for r in runs(stack, NIGHTLY) if r["run_type"] == "scheduled"],
        timeout_s=60,
    )
    night = wait_run(stack, NIGHTLY, scheduled[0]["dag_run_id"])
    assert night["state"] == "success", states(stack, NIGHTLY, night["dag_run_id"])
    assert {states(stack, NIGHTLY, night["dag_run_id"])[t] for t in ("extract", "load", "transform_and_publish")} == {
        "success"
    }
    assert published_months(stack) == ["2016-01", "2016-02", "2016-03", "2016-04"]
    serving = stack.data_dir / "serving" / "trade.duckdb"
    published = query(serving, "select publish_id from meta.publish")

    requests = emulator.state.request_count
    quiet = wait_run(stack, NIGHTLY, trigger(stack, NIGHTLY, {}))
    stack.api("PATCH", f"/dags/{NIGHTLY}", json={"is_paused": True})
    assert quiet["state"] == "success"
    quiet_states = states(stack, NIGHTLY, quiet["dag_run_id"])
    assert {quiet_states[t] for t in ("extract", "load", "transform_and_publish", "report", "dbt_docs")} == {"skipped"}
    assert emulator.state.request_count - requests == 1  # one probe: is 2016-05 out?
    assert query(serving, "select publish_id from meta.publish") == published


def test_sigkill_in_the_middle_of_load_is_noticed_and_retried(stack):
    """A load killed mid-way is failed by the scheduler's heartbeat check and retried; the
    warehouse never holds a half-replaced month."""
    warehouse = stack.data_dir / "warehouse" / "trade.duckdb"
    before = assert_whole_month(warehouse, "2016-02")
    run_id = trigger(stack, MONTHLY, {"month": "2016-02", "force": True})  # reload: replaces the month

    # Before dbt, only the `load` task opens the warehouse: the first process that has it
    # open is the load task's process, staging and validating the month.
    [pid] = wait_for(
        "the load task to open the warehouse",
        lambda: writer_pids(stack, warehouse),
        timeout_s=RUN_TIMEOUT_S,
        interval_s=0.1,
    )
    task = psutil.Process(pid)
    supervisor = task.parent()
    # The task and its supervisor (a LocalExecutor worker) die together, as in an OOM kill
    # or a lost machine: nobody reports the failure, the scheduler must notice the silence.
    assert supervisor.pid != stack.processes["scheduler"].popen.pid
    assert "LocalExecutor" in " ".join(supervisor.cmdline()), supervisor.cmdline()
    for process in (supervisor, task):
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs([supervisor, task], timeout=10)
    assert not task.is_running() and not supervisor.is_running()

    # before the retry: the warehouse still holds a whole month, the one loaded before
    during = assert_whole_month(warehouse, "2016-02")
    assert {t: s[:3] for t, s in during.items()} == {t: s[:3] for t, s in before.items()}

    def noticed() -> bool:
        load = task_instances(stack, MONTHLY, run_id)["load"]
        return load["state"] in ("up_for_retry", "failed") or load["try_number"] >= 2

    assert wait_for("the scheduler to notice the dead task", noticed, timeout_s=90, interval_s=0.5)
    detected = [
        line
        for line in stack.processes["scheduler"].log_tail(1_000_000).splitlines()
        if "Detected a task instance without a heartbeat" in line
    ]
    assert any(run_id in line and "'Task Id': 'load'" in line for line in detected), detected

    run = wait_run(stack, MONTHLY, run_id)
    load = task_instances(stack, MONTHLY, run_id)["load"]
    assert run["state"] == "success" and load["state"] == "success" and load["try_number"] == 2, (run, load)
    tries = stack.api("GET", f"/dags/{MONTHLY}/dagRuns/{run_id}/taskInstances/load/tries")["task_instances"]
    assert [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])] == ["failed", "success"], tries
    after = assert_whole_month(warehouse, "2016-02")
    assert {t: s[:3] for t, s in after.items()} == {t: s[:3] for t, s in before.items()}
    assert all(after[t][3] != before[t][3] for t in after)  # the retry reloaded the month
    assert published_months(stack) == ["2016-01", "2016-02", "2016-03", "2016-04"]


def test_celery_profile_writer_tasks_run_only_on_the_duckdb_worker(stack):
    """The Celery profile: Redis, a default worker and the `duckdb` worker (concurrency 1);
    the writer tasks ran on the `duckdb` worker and nowhere else."""
    stack.stop_process("scheduler")
    stack.start_celery({"worker-default": ("default", 2), "worker-duckdb": ("duckdb", 1)})
    stack.start_scheduler("CeleryExecutor")

    run = wait_run(stack, MONTHLY, trigger(stack, MONTHLY, {"month": "2016-03", "force": True}))
    tis = task_instances(stack, MONTHLY, run["dag_run_id"])
    assert run["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    ran = {task: ti for task, ti in tis.items() if ti["state"] == "success"}
    assert WRITERS <= set(ran) and {"plan", "extract", "report"} <= set(ran)
    for task, ti in ran.items():
        expected = ("duckdb", "worker-duckdb") if task in WRITERS else ("default", "worker-default")
        assert (ti["queue"], ti["hostname"]) == expected, (task, ti["queue"], ti["hostname"])
    assert "worker-duckdb@" in stack.processes["worker-duckdb"].log_tail(100_000)
    assert published_months(stack) == ["2016-01", "2016-02", "2016-03", "2016-04"]


def test_no_secret_in_any_log(stack):
    """After every scenario: no component or task log holds a secret of the deployment."""
    secrets = {name: stack.secrets[name] for name in DEPLOYMENT_SECRETS}
    logs = [*stack.logs.glob("*.log"), *(stack.root / "task-logs").rglob("*.log")]
    assert len(logs) > 20  # component logs and the task logs of every run above
    for path in logs:
        text = path.read_text(errors="replace")
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{leaked} in {path}"
