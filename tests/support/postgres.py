"""A private PostgreSQL cluster on 127.0.0.1 for tests (the deployment stack, the DuckLake catalog).

Debian's PostgreSQL server, run as the `postgres` user when the tests run as root (`initdb`
refuses root), with scram-sha-256 and a random password, thrown away afterwards.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
from pathlib import Path


class StackError(RuntimeError):
    """A component of the test deployment did not start or stop as expected."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL server binaries on this machine."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise StackError("PostgreSQL server is not installed: make test-deps (or apt-get install postgresql)")
    return versions[-1].parent


class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1 with scram-sha-256 and a random password."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.dir = root / "postgres"
        self.data = self.dir / "data"
        self.port = free_port()
        self.password = ""
        self.env = env
        self.bin = postgres_bin()

    def start(self, password: str, database: str = "airflow") -> None:
        """initdb as the `postgres` user (it refuses root), start on a free loopback port, create the DB."""
        self.password = password
        self.dir.mkdir(parents=True)
        pwfile = self.dir / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.dir, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        done = _run_as_postgres(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "airflow",
                "-E",
                "UTF8",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
            ],
            env=self.env,
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise StackError(f"initdb failed: {done.stderr.strip()}")
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        done = _run_as_postgres(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.dir / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            env=self.env,
        )
        if done.returncode != 0:
            raise StackError(f"pg_ctl start failed: {done.stderr.strip()} {self.log_tail()}")
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", password=password, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"create database {database}")
        con.close()

    def url(self, scheme: str = "postgresql+psycopg2") -> str:
        """A SQLAlchemy URL of the `airflow` database (the driver is explicit: SQLAlchemy 2.1)."""
        return f"{scheme}://airflow:{self.password}@127.0.0.1:{self.port}/airflow"

    def log_tail(self) -> str:
        """The end of the server log, for error messages."""
        log = self.dir / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop(self) -> None:
        """Immediate shutdown: the cluster is thrown away anyway.

        Raises :class:`StackError` when ``pg_ctl stop`` fails and the server is still there
        (``postmaster.pid`` left): the callers then keep its directory instead of deleting
        the files of a server that still runs, and the test reports why.
        """
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        done = _run_as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop"],
            env=self.env,
        )
        if done.returncode != 0 and pid_file.exists():
            raise StackError(
                f"pg_ctl stop failed ({done.returncode}): {done.stderr.strip()}; the cluster is left in {self.dir}"
            )
