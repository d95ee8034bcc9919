"""The warehouse writer lock orders writers across processes and is re-entrant within one."""

import subprocess
import sys
import threading
import time

import pytest

from trade_warehouse.load.warehouse import WriterBusyError, writer_lock

pytestmark = pytest.mark.integration

HOLDER = """
import sys, time
from pathlib import Path
from trade_warehouse.load.warehouse import writer_lock
with writer_lock(Path(sys.argv[1])):
    print("held", flush=True)
    while not Path(sys.argv[2]).exists():
        time.sleep(0.05)
"""


def test_a_second_process_waits_for_the_writer_and_a_process_can_re_enter(tmp_path):
    database, release = tmp_path / "trade.duckdb", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database), str(release)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterBusyError, match="writer lock"), writer_lock(database, timeout_s=0.3):
            pass
        # queued, not failed: the lock is taken as soon as the other writer lets go
        acquired: list[float] = []

        def wait_for_it() -> None:
            with writer_lock(database, timeout_s=30):
                acquired.append(time.monotonic())

        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        time.sleep(0.5)
        assert acquired == []
        released = time.monotonic()
        release.touch()
        waiter.join(timeout=30)
        assert acquired and acquired[0] >= released
    finally:
        release.touch()
        holder.wait(timeout=30)
    with writer_lock(database), writer_lock(database):  # re-entrant: publish holds it across dbt
        pass
