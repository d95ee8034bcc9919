"""Start a dbt process before its command is known, so that dbt's import overlaps earlier work.

Every dbt command of the pipeline runs in a process of its own (``dbt_runner``: dbt-duckdb
keeps file locks inside a long-lived process; a process releases them when it exits). A new
dbt process spends about 3.5 s of one core importing dbt and its DuckDB adapter before it
reads its arguments (measured here: ``python -c "import dbt.cli.main, dbt.adapters.duckdb"``).

When a run's tasks share one process (``dag.test()``: ``make run``, ``make backfill``, the
bench), the load task calls :func:`warm_up`: a process starts and imports dbt
(``dbt_child.py``) while the load works. The next dbt command (:func:`start`) is sent to it
over its stdin; without a warm process, :func:`start` runs the ``dbt`` executable as
before. Either way the caller gets a process running ``dbt <args>`` whose stdout (stderr
merged) it reads line by line. A warm process nobody uses exits when this process ends
(its stdin closes) or at :func:`discard`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("dbt_child.py")

_lock = threading.Lock()
_warm: subprocess.Popen | None = None  # started by warm_up, taken by the next start


def warm_up() -> None:
    """Start a dbt process that imports dbt and waits for its command (one at a time)."""
    global _warm
    with _lock:
        if _warm is not None and _warm.poll() is None:
            return
        _warm = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        log.debug("dbt process %d started ahead of its command", _warm.pid)


def start(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """A process running ``dbt <args>`` in ``cwd`` with exactly ``env``: the warm one if any."""
    process = _take_warm()
    if process is not None:
        request = {"args": list(args), "env": env, "cwd": str(cwd or Path.cwd())}
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.close()
            log.info("dbt %s: run by the dbt process started ahead (pid %d)", args[0] if args else "", process.pid)
            return process
        except OSError as error:  # it died importing dbt: run the executable, which will say why
            log.warning("the dbt process started ahead could not take its command (%s): starting dbt", error)
            _stop(process)
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dbt")), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )


def discard() -> None:
    """Stop a warm process nobody took (tests; a run that ends before its dbt command)."""
    process = _take_warm()
    if process is not None:
        _stop(process)


def _take_warm() -> subprocess.Popen | None:
    global _warm
    with _lock:
        process, _warm = _warm, None
    if process is None:
        return None
    if process.poll() is not None:  # it died importing dbt: say how, the caller starts dbt itself
        output = process.communicate()[0] if process.stdout else ""
        log.warning("the dbt process started ahead exited (code %s): %s", process.returncode, output[-500:])
        return None
    return process


def _stop(process: subprocess.Popen) -> None:
    process.kill()
    process.communicate()
