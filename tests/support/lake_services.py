"""The services a DuckLake warehouse needs, run for real on 127.0.0.1: PostgreSQL and an S3 store.

The catalog is a private Debian PostgreSQL cluster (``postgres.Postgres``); the object store
is npm's ``s3rver``, a file-backed S3 implementation that DuckDB's httpfs speaks to (no real
S3 server installs here; ``make test-deps`` installs s3rver). ``env()`` is what a user sets.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from postgres import Postgres, StackError, free_port

S3_KEY_ID = "S3RVER"  # s3rver's only key pair: it checks signatures against it
S3_SECRET = "S3RVER"
BUCKET = "trade-lake"


class S3Store:
    """``s3rver`` on a free loopback port, its buckets as directories under ``root``."""

    def __init__(self, root: Path, bucket: str = BUCKET) -> None:
        self.root = root
        self.bucket = bucket
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("s3rver")
        if binary is None:
            raise StackError("s3rver is not installed: make test-deps (npm install -g s3rver@3.7.1)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "-d", str(self.root), "-a", "127.0.0.1", "-p", str(self.port), "-s"]
            + ["--configure-bucket", self.bucket],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise StackError(f"s3rver did not listen on 127.0.0.1:{self.port} within 30 s")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class LakeServices:
    """A catalog database and a bucket; :meth:`env` gives the settings of a lake in them."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tw-lake-"))
        self.root.chmod(0o755)  # the postgres user must reach its cluster under it
        self.password = secrets.token_hex(16)
        self.postgres = Postgres(self.root, dict(os.environ))
        self.s3 = S3Store(self.root / "s3")

    def start(self) -> LakeServices:
        self.postgres.start(self.password, database="postgres_admin")
        self.s3.start()
        return self

    def create_catalog(self, name: str) -> str:
        """A fresh catalog database; returns its DuckLake catalog string (no password: PGPASSWORD)."""
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=self.postgres.port, user="airflow", password=self.password, dbname="postgres"
        )
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"create database {name}")
        con.close()
        return f"postgres:dbname={name} host=127.0.0.1 port={self.postgres.port} user=airflow"

    def env(self, catalog: str, prefix: str) -> dict[str, str]:
        """The environment of a lake with ``catalog`` and its data under s3://bucket/prefix/."""
        return {
            "TRADE_WAREHOUSE_BACKEND": "ducklake",
            "TRADE_DUCKLAKE_CATALOG": catalog,
            "TRADE_DUCKLAKE_DATA_PATH": f"s3://{self.s3.bucket}/{prefix}/",
            "PGPASSWORD": self.password,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.s3.endpoint,
        }

    def stop(self) -> None:
        try:
            self.s3.stop()
        finally:  # the catalog's server stops even when the store did not
            self.postgres.stop()  # raises if it did not stop: its files are then kept, not deleted
            shutil.rmtree(self.root, ignore_errors=True)
