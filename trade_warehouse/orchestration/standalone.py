"""``make up`` / ``make down``: Airflow standalone on 127.0.0.1:8080, its DAGs fed by a local emulator.

The scheduler starts the nightly DAG as soon as it parses it, so a standalone Airflow pointed
at the live Census API shows a failed run within a minute on a machine without network (and
loads real data into the demo warehouse on one with it). Like ``make run``, the demo points
both sources (Census and UN Comtrade) at a local emulator instead: started here in its own
process group with a fresh per-session API key, its pid and base URL kept under
``$AIRFLOW_HOME``, and stopped by ``make down``. Like ``make backfill``, an explicitly set
``CENSUS_API_BASE_URL`` wins: then no emulator is started and the sources' variables are
passed through as they are (the live API, with your key).

The DAGs are paused while standalone starts and unpaused once its API server answers: the
scheduler would otherwise hand the first tasks to an Execution API that is not listening yet
(``Connection refused``), a red run that says nothing about the pipeline.

The emulator is started as a process (``python -m trade_warehouse.emulator``), not imported:
orchestration knows Airflow, not the development tools.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from trade_warehouse.orchestration.airflow_env import DAG_ID, NIGHTLY_DAG_ID, airflow_environment, ensure_airflow

API_HOST = "127.0.0.1"
API_PORT = 8080
CENSUS_PATH = "/data/timeseries/intltrade"
COMTRADE_PATH = "/data/v1"
STARTUP_S = 180  # Airflow standalone migrates, creates the admin user and starts four processes
EMULATOR_STARTUP_S = 30
PARSE_S = 120  # after the API answers, how long the DAG processor may take to register the DAGs
COMTRADE_DAG_ID = "comtrade_mirror_monthly"  # orchestration/comtrade_dag.py (imports the Airflow SDK)
PROJECT_DAGS = (NIGHTLY_DAG_ID, DAG_ID, COMTRADE_DAG_ID)


def demo_sources(census_base_url: str, api_key: str) -> dict[str, str]:
    """The environment that points both sources at one emulator (``census_base_url`` is what it printed)."""
    return {
        "CENSUS_API_BASE_URL": census_base_url,
        "CENSUS_API_KEY": api_key,
        "CENSUS_API_PACING_S": "0",
        "COMTRADE_API_BASE_URL": census_base_url.replace(CENSUS_PATH, COMTRADE_PATH),
        "COMTRADE_API_KEY": api_key,
        "COMTRADE_API_PACING_S": "0",
    }


def standalone_environment(
    census_base_url: str | None, api_key: str, env: dict[str, str] | None = None
) -> dict[str, str]:
    """Everything ``airflow standalone`` runs with: our Airflow defaults, the emulator at ``census_base_url``
    as both sources (None: the caller's own source settings, untouched), the UI on 127.0.0.1:8080."""
    env = airflow_environment(env)
    if census_base_url is not None:
        env.update(demo_sources(census_base_url, api_key))
    env.update(AIRFLOW__API__HOST=API_HOST, AIRFLOW__API__PORT=str(API_PORT))
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"  # unpaused by up() once the API answers
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def alive(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` when that process still runs, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start_emulator(home: Path, api_key: str, scale: str = "demo") -> str:
    """Start the emulator detached (its own session), record its pid; return its Census base URL."""
    log_path = home / "emulator.log"
    command = [sys.executable, "-m", "trade_warehouse.emulator", "--port", "0", "--scale", scale, "--api-key", api_key]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (home / "emulator.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + EMULATOR_STARTUP_S
    while time.monotonic() < deadline:
        for line in log_path.read_text(encoding="utf-8").splitlines():
            if line.startswith("CENSUS_API_BASE_URL="):
                return line.split("=", 1)[1]
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(home / "emulator.pid")
    raise RuntimeError(f"the emulator did not start; see {log_path}")


def stop(pid_file: Path, grace_s: float = 30) -> bool:
    """Terminate the process group whose leader ``pid_file`` names (KILL after ``grace_s``); False if none ran."""
    pid = alive(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            os.killpg(pid, 0)  # raises once the whole group is gone
            time.sleep(0.5)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def set_paused(env: dict[str, str], paused: bool, dag_ids: tuple[str, ...] = PROJECT_DAGS) -> set[str]:
    """Pause or unpause those of ``dag_ids`` the metadata DB knows (through ``env``'s Airflow); return them."""
    os.environ.update(env)  # Airflow reads its configuration when first imported
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(DagModel).filter(DagModel.dag_id.in_(dag_ids)).all()
        for row in rows:
            row.is_paused = paused
        return {row.dag_id for row in rows}


def unpause_when_parsed(env: dict[str, str], timeout_s: float = PARSE_S) -> set[str]:
    """Unpause the project's DAGs as the DAG processor registers them; return those still missing."""
    deadline = time.monotonic() + timeout_s
    missing = set(PROJECT_DAGS) - set_paused(env, False)
    while missing and time.monotonic() < deadline:
        time.sleep(2)
        missing = set(PROJECT_DAGS) - set_paused(env, False)
    return missing


def api_up() -> bool:
    try:
        with urllib.request.urlopen(f"http://{API_HOST}:{API_PORT}/api/v2/version", timeout=2):
            return True
    except OSError:
        return False


def up() -> int:
    """Start the emulator, then Airflow standalone pointed at it; wait for the UI; print how to log in."""
    env = airflow_environment()
    home = Path(env["AIRFLOW_HOME"])
    pid = alive(home / "standalone.pid")
    if pid is not None:
        print(f"Airflow is already running (pid {pid}); make down first")
        return 1
    ensure_airflow()
    stop(home / "emulator.pid")  # a leftover from a standalone that died on its own
    api_key = secrets.token_urlsafe(16)
    live = env.get("CENSUS_API_BASE_URL")
    base_url = None if live else start_emulator(home, api_key, env.get("CENSUS_EMULATOR_SCALE", "demo"))
    airflow = str(Path(sys.executable).with_name("airflow"))
    standalone_env = standalone_environment(base_url, api_key, env)
    set_paused(standalone_env, True)  # DAGs a `make run` registered unpaused wait for the API too
    with open(home / "standalone.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [airflow, "standalone"],
            env=standalone_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (home / "standalone.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + STARTUP_S
    while not api_up() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(2)
    if not api_up():
        print(f"Airflow did not come up; see {home / 'standalone.log'}")
        down()
        return 1
    missing = unpause_when_parsed(standalone_env)
    if missing:
        print(f"not registered yet, so still paused: {', '.join(sorted(missing))} (unpause them in the UI)")
    print(f"Airflow UI: http://{API_HOST}:{API_PORT}")
    print(f"login: admin / {admin_password(home)}")
    if base_url:
        print(f"the DAGs read SYNTHETIC data from a local emulator at {base_url} (both sources); make down stops both")
    else:
        print(f"the DAGs read from CENSUS_API_BASE_URL={live} (no emulator started)")
    return 0


def admin_password(home: Path) -> str:
    path = home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("admin", "")
    except (OSError, ValueError):
        return f"see {path}"


def down() -> int:
    """Stop Airflow standalone and the emulator ``up`` started (each a whole process group)."""
    home = Path(airflow_environment()["AIRFLOW_HOME"])
    if stop(home / "standalone.pid"):
        print("Airflow stopped")
    else:
        print(f"Airflow is not running (no live {home / 'standalone.pid'})")
    if stop(home / "emulator.pid", grace_s=5):
        print("emulator stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in (["up"], ["down"]):
        print("usage: python -m trade_warehouse.orchestration.standalone up|down", file=sys.stderr)
        return 2
    return up() if argv == ["up"] else down()


if __name__ == "__main__":
    sys.exit(main())
