"""The tests' private PostgreSQL cluster (tests/support/postgres.py) stops for real or says it did not.

A stop that failed used to pass silently, and the callers then deleted the directory of a
server that might still be running.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
from postgres import Postgres, StackError

pytestmark = pytest.mark.integration  # a real Debian PostgreSQL server (make test-deps)


@pytest.fixture
def root():
    """A directory the `postgres` user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="tw-pg-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_started_cluster_stops_and_leaves_no_pid_file(root):
    cluster = Postgres(root, dict(os.environ))
    cluster.start(secrets.token_hex(8), database="probe")
    try:
        assert (cluster.data / "postmaster.pid").exists()
    finally:
        cluster.stop()
    assert not (cluster.data / "postmaster.pid").exists()
    cluster.stop()  # stopping a stopped cluster is not an error


def test_a_stop_that_fails_names_the_cluster_it_left(root):
    cluster = Postgres(root, dict(os.environ))
    cluster.data.mkdir(parents=True)
    (cluster.data / "postmaster.pid").write_text("999999\n")  # no such server: pg_ctl cannot stop it
    with pytest.raises(StackError, match="pg_ctl stop failed") as raised:
        cluster.stop()
    assert str(cluster.dir) in str(raised.value)
    assert (cluster.data / "postmaster.pid").exists()
