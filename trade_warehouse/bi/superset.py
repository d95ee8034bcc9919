"""Apache Superset on the serving snapshot: install, start and stop (``make bi`` / ``make bi-down``).

Superset pins SQLAlchemy < 2 and pandas < 2.2, so it cannot live in the Airflow venv. It
gets its own venv, built from ``bi/requirements.lock`` into a cache directory named after
the lock's hash (``~/.cache/trade-warehouse/bi-venv-<hash>``): every clone on a machine
shares it, and a changed lock builds a new one instead of mutating the old. This module
runs in the main venv and only drives that venv through subprocesses.

Each start generates a new admin password (printed once, stored nowhere) and, on first
start, a secret key kept in the Superset home with mode 0600. ``bi/bootstrap.py`` then
imports the dashboard kept as code in ``bi/dashboard`` with the serving file's path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from trade_warehouse.core.config import Settings, load_settings
from trade_warehouse.core.errors import TerminalError
from trade_warehouse.publish.serving import is_published

REPO = Path(__file__).resolve().parents[2]
BI_DIR = REPO / "bi"
LOCK_FILE = BI_DIR / "requirements.lock"
DASHBOARD_DIR = BI_DIR / "dashboard"
DEFAULT_PORT = 8088
DASHBOARD_SLUG = "trade-overview"
# In place of the serving file's path: the DuckLake backend, attached on every connection by
# bi/lake_attach.py from the settings in Superset's environment (never in its metadata).
LAKE_TARGET = "ducklake"


class BIError(RuntimeError):
    """Superset could not be installed, bootstrapped or started; the message says where to look."""


def cache_root() -> Path:
    return Path(os.environ.get("TRADE_BI_CACHE") or Path.home() / ".cache" / "trade-warehouse")


def venv_path() -> Path:
    """The BI venv for the current lock: a new lock means a new directory, never an in-place upgrade."""
    digest = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]
    return cache_root() / f"bi-venv-{digest}"


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise BIError("uv not found: run `make setup` first")
    return found


def ensure_venv() -> Path:
    """Install Superset's locked venv once per lock hash; concurrent callers wait on a file lock.

    The ``.complete`` marker is written last, so an interrupted install is redone, not trusted.
    """
    venv = venv_path()
    marker = venv / ".complete"
    if marker.exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(venv.parent / ".bi-venv.lock"):
        if marker.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        print(f"installing Superset's venv into {venv} (once per bi/requirements.lock)", flush=True)
        python = os.environ.get("TRADE_BI_PYTHON", sys.executable)  # the main venv's 3.11
        for cmd in (
            [_uv(), "venv", "--quiet", "--python", python, str(venv)],
            # the .pyc files once here, not on every start (see the Makefile's setup)
            [
                _uv(),
                "pip",
                "sync",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(venv / "bin" / "python"),
                str(LOCK_FILE),
            ],
        ):
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise BIError(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
        marker.write_text(f"installed in {time.monotonic() - started:.0f}s\n")
        print(f"Superset venv ready in {time.monotonic() - started:.0f}s", flush=True)
    return venv


def default_home(settings: Settings) -> Path:
    return Path(os.environ.get("TRADE_BI_HOME") or settings.data_dir / "bi")


def _secret_key(home: Path) -> str:
    """Generated on first start and kept (0600): sessions and encrypted fields survive restarts."""
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _environment(venv: Path, home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(
        {
            "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
            "SUPERSET_CONFIG_PATH": str(BI_DIR / "superset_config.py"),
            "SUPERSET_HOME": str(home),
            "TRADE_BI_HOME": str(home),
            "TRADE_BI_PORT": str(port),
            "SUPERSET_LOAD_EXAMPLES": "no",
        }
    )
    return env


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


@dataclass
class Superset:
    """A running Superset: where it listens, how to log in, and what the import created."""

    url: str
    pid: int
    home: Path
    admin_password: str
    dashboard_id: int
    charts: dict[str, int] = field(default_factory=dict)
    startup_s: float = 0.0
    # datasets the snapshot cannot answer (published before their mart existed): name -> error
    unreadable_datasets: dict[str, str] = field(default_factory=dict)

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/superset/dashboard/{DASHBOARD_SLUG}/"


GUNICORN_ARGS = (
    "--workers",
    "1",
    "--worker-class",
    "gthread",
    "--threads",
    "8",
    "--timeout",
    "120",
    "--limit-request-line",
    "0",
    "--limit-request-field_size",
    "0",
)


def serving_target(settings: Settings) -> Path | str:
    """What Superset reads: the serving file, or on the DuckLake backend the lake itself."""
    return LAKE_TARGET if settings.backend == "ducklake" else settings.serving_path


def start(
    serving_path: Path | str,
    home: Path,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    timeout_s: float = 240.0,
) -> Superset:
    """Bootstrap the home and start gunicorn in its own process group; wait (bounded) for /health.

    ``serving_path`` is the serving file, or ``LAKE_TARGET`` for the DuckLake backend (its
    settings must then be in this process's environment: Superset inherits them). The
    process group lets ``stop`` end gunicorn and its worker together, even after a crash.
    """
    started = time.monotonic()
    if serving_path != LAKE_TARGET and not Path(serving_path).exists():
        raise BIError(f"{serving_path} does not exist: publish the warehouse first (make run or make backfill)")
    if not _port_free(host, port):
        raise BIError(f"{host}:{port} is already in use (make bi-down, or set BI_PORT)")
    venv = ensure_venv()
    home.mkdir(parents=True, exist_ok=True)
    _secret_key(home)
    env = _environment(venv, home, port)
    password = secrets.token_urlsafe(18)
    info = _bootstrap(venv, {**env, "TRADE_BI_ADMIN_PASSWORD": password}, home, serving_path)
    proc = _spawn_gunicorn(venv, env, home, f"{host}:{port}")
    url = f"http://{host}:{port}"
    if _wait_healthy(proc, url, timeout_s):
        return Superset(
            url=url,
            pid=proc.pid,
            home=home,
            admin_password=password,
            dashboard_id=info["dashboard_id"],
            charts=info["charts"],
            startup_s=time.monotonic() - started,
            unreadable_datasets=info.get("unreadable_datasets", {}),
        )
    stop(home)
    tail = (home / "superset.log").read_text(errors="replace")[-3000:]
    raise BIError(f"Superset did not become healthy within {timeout_s:.0f}s (see {home / 'superset.log'}):\n{tail}")


def _bootstrap(venv: Path, env: dict[str, str], home: Path, serving_path: Path | str) -> dict:
    """Run bi/bootstrap.py in Superset's venv (admin user, dashboard import); return what it created."""
    target = LAKE_TARGET if serving_path == LAKE_TARGET else str(Path(serving_path).resolve())
    boot = subprocess.run(
        [str(venv / "bin" / "python"), str(BI_DIR / "bootstrap.py"), str(DASHBOARD_DIR), target],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (home / "bootstrap.log").write_text(boot.stdout + boot.stderr)
    info_lines = [line for line in boot.stdout.splitlines() if line.startswith("TRADE_BI_BOOTSTRAP ")]
    if boot.returncode != 0 or not info_lines:
        raise BIError(f"Superset bootstrap failed (see {home / 'bootstrap.log'}):\n{boot.stderr[-3000:]}")
    return json.loads(info_lines[-1].split(" ", 1)[1])


def _spawn_gunicorn(venv: Path, env: dict[str, str], home: Path, bind: str) -> subprocess.Popen:
    """Start Superset's gunicorn in its own session (logging to the home), recording its pid there."""
    with open(home / "superset.log", "ab") as log:
        proc = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), *GUNICORN_ARGS, "--bind", bind, "superset.app:create_app()"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=home,
        )
    (home / "superset.pid").write_text(str(proc.pid))
    return proc


def _wait_healthy(proc: subprocess.Popen, url: str, timeout_s: float) -> bool:
    """Poll ``/health`` until it answers 200 (True), the process exits or the time is up (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def stop(home: Path, grace_s: float = 20.0) -> bool:
    """End the Superset process group started from this home (TERM, then KILL); True if one ran."""
    pid_file = home / "superset.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:  # reap it when this process started it (a test), or its zombie keeps the group alive
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pid_file.unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m trade_warehouse.bi setup|up|down``: what the Makefile's bi targets run."""
    parser = argparse.ArgumentParser(prog="python -m trade_warehouse.bi")
    parser.add_argument("command", choices=["setup", "up", "down"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("BI_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    settings = load_settings()
    home = default_home(settings)
    if args.command == "setup":
        print(ensure_venv())
        return 0
    if args.command == "down":
        print("Superset stopped" if stop(home) else f"Superset is not running (no {home / 'superset.pid'})")
        return 0
    pid_file = home / "superset.pid"
    if pid_file.exists():
        try:
            os.killpg(int(pid_file.read_text()), 0)
            print(f"Superset is already running (pid {pid_file.read_text()}); make bi-down first")
            return 1
        except ProcessLookupError:
            pid_file.unlink()
    try:
        if settings.backend == "ducklake" and not is_published(settings):
            raise BIError("the lake serves no publish yet: publish the warehouse first (make run or make backfill)")
        server = start(serving_target(settings), home, port=args.port)
    except (BIError, TerminalError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Superset: {server.url}  (started in {server.startup_s:.0f}s; logs in {home})")
    for name, error in server.unreadable_datasets.items():
        print(f"warning: dataset {name} cannot be read from this snapshot ({error}); publish again to fill its tiles")
    print(f"Dashboard: {server.dashboard_url}")
    print(f"login: admin / {server.admin_password}   (generated now, shown once; a new one on every make bi)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
