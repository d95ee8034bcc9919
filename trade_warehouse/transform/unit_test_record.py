"""Which dbt projects' unit tests have passed on this machine, so a full build runs them once.

dbt's unit tests check the models' SQL on fixtures written in the YAML: their verdict
depends on the project (SQL, YAML, macros), the settings the models read, the HS levels,
and the dbt, dbt-duckdb and DuckDB releases, never on the warehouse's data. A night already
leaves them out (its project is the one its published state was built and unit-tested
with); a full build, into a new data dir too, leaves them out when a build has passed them
with the same key on this machine. A changed key, a forced run or a missing record runs
them. The record is kept beside dbt's partial parse (``dbt_runner.parse_cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)
RECORD = "unit_tests_passed.json"
KEEP = 8  # keys kept: a few projects or HS levels side by side on one machine


def key(scope_fingerprint: str, target: str) -> str:
    """The unit tests' inputs: the scope fingerprint (project, model settings, HS levels), the
    dbt target they ran on (the DuckDB file or the lake) and the releases."""
    releases = [f"{name}=={metadata.version(name)}" for name in ("dbt-core", "dbt-duckdb", "duckdb")]
    return hashlib.sha256("|".join([scope_fingerprint, target, *releases]).encode()).hexdigest()


def passed(directory: Path, unit_key: str) -> str | None:
    """When a build passed the unit tests with ``unit_key`` on this machine (ISO time), else None."""
    return _read(directory).get(unit_key)


def record(directory: Path, unit_key: str) -> None:
    """Note that a build passed the unit tests with ``unit_key`` (atomic; a failure only costs a rerun)."""
    entries = _read(directory)
    entries[unit_key] = datetime.now(UTC).isoformat(timespec="seconds")
    newest = dict(sorted(entries.items(), key=lambda item: item[1])[-KEEP:])
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temp = directory / f"{RECORD}.{os.getpid()}.tmp"
        temp.write_text(json.dumps(newest, sort_keys=True), encoding="utf-8")
        os.replace(temp, directory / RECORD)
    except OSError as error:
        log.debug("could not record the unit tests' pass in %s: %s", directory, error)


def _read(directory: Path) -> dict[str, str]:
    try:
        entries = json.loads((directory / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}
