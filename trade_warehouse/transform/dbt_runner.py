"""Run dbt (build: seeds, models, tests and unit tests) against the writer's warehouse.

dbt runs in its own process: dbt-duckdb keeps file locks inside a long-lived process
(dbt-duckdb issue 616), and a subprocess releases them when it exits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from trade_warehouse.core.config import DBT_PROJECT_DIR, Settings
from trade_warehouse.core.duckdb_settings import dbt_memory_limit
from trade_warehouse.core.errors import TerminalError
from trade_warehouse.core.progress import time_left
from trade_warehouse.transform import dbt_process, unit_test_record

log = logging.getLogger(__name__)


class TransformError(TerminalError):
    """dbt build failed; the message names the failing nodes (from dbt's run_results.json)."""


def model_settings() -> dict[str, str]:
    """The settings the dbt models read (as dbt vars), checked: a bad value fails here, named.

    They are part of what a publish contains: a changed FOB factor or reporter list
    rebuilds and republishes the marts even when no data changed.
    """
    from trade_warehouse.core.config import load_comtrade_settings

    comtrade = load_comtrade_settings(os.environ)
    return {
        "TRADE_MIRROR_FOB_FACTOR": repr(comtrade.fob_factor),
        "TRADE_COMTRADE_REPORTERS": ",".join(comtrade.reporters),
    }


def dbt_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        model_settings(),
        # relative to dbt's working directory (run_dbt): the profile, and so the partial parse
        # dbt keeps, is the same for every data dir (see parse_cache_dir)
        TRADE_WAREHOUSE_PATH=settings.warehouse_path.name,
        TRADE_HS_LEVEL=settings.hs_level,
        TRADE_STATE_HS_LEVEL=settings.state_hs_level,
        TRADE_DBT_MEMORY_LIMIT=dbt_memory_limit(),
        DBT_PROFILES_DIR=str(DBT_PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
    )
    env.update(backend_env(settings))
    # dbt runs independent models and tests side by side: one thread per core (measured with
    # make bench); DuckDB parallelises each query on its own, dbt threads overlap the rest
    env.setdefault("TRADE_DBT_THREADS", str(os.cpu_count() or 1))
    return env


def backend_env(settings: Settings) -> dict[str, str]:
    """The profile's target and its variables: the DuckDB file, or the lake (profiles.yml)."""
    if settings.backend != "ducklake":
        return {"TRADE_DBT_TARGET": "warehouse", "TRADE_DBT_MARTS_SCHEMA": "marts"}
    from trade_warehouse.load import lake

    config = lake.lake_settings(settings)
    directory = lake.extension_directory(settings)
    lake.install_extensions(directory)
    env = {
        "TRADE_DBT_TARGET": "lake",
        "TRADE_DBT_MARTS_SCHEMA": lake.BUILD_MARTS_SCHEMA,
        "TRADE_DUCKDB_EXTENSION_DIR": str(directory),
        "TRADE_DUCKLAKE_CATALOG": config.catalog,
        "TRADE_DUCKLAKE_DATA_PATH": config.data_path,
        "AWS_REGION": config.s3_region,
        "TRADE_S3_USE_SSL": str(config.s3_use_ssl).lower(),
        # One dbt thread on the lake: with two, a table that one thread renamed into place
        # (dbt's tmp -> target swap) while the other committed DDL in the same schema was
        # gone from the catalog afterwards (seen in CI: dbt's tests failed with "table does
        # not exist"; the published marts were untouched). Each query still uses every core.
        # Upstream: dbt-duckdb issue 748 (open), concurrent table materializations on DuckLake
        # fail intermittently with "__dbt_tmp does not exist"; one thread is its workaround.
        "TRADE_DBT_THREADS": "1",
    }
    if config.catalog_password:
        env["PGPASSWORD"] = config.catalog_password  # libpq reads it in dbt's process; never on a command line
    if config.s3_key_id and config.s3_secret:
        env.update(AWS_ACCESS_KEY_ID=config.s3_key_id, AWS_SECRET_ACCESS_KEY=config.s3_secret)
    if config.s3_endpoint:
        env.update(TRADE_S3_ENDPOINT=config.s3_endpoint, TRADE_S3_URL_STYLE="path")
    return env


def run_dbt(settings: Settings, *args: str, env: dict[str, str] | None = None) -> str:
    """Run one dbt command in the project; return its output or raise with the failures."""
    dbt_dir = settings.data_dir / "dbt"
    command = [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(dbt_dir / "target"),
        "--log-path",
        str(dbt_dir / "logs"),
    ]
    started = time.time()
    reuse_partial_parse(dbt_dir / "target")
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)  # dbt's working directory
    # a dbt process started ahead of this command (dbt_process.warm_up) if there is one
    process = dbt_process.start(command, {**dbt_env(settings), **(env or {})}, cwd=settings.warehouse_path.parent)
    completed = follow_progress(process, args[0])
    keep_partial_parse(dbt_dir / "target")
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        failing = failed_nodes(dbt_dir / "target" / "run_results.json", started)
        tail = "\n".join(failing[:25]) or "\n".join(output.splitlines()[-25:])  # no results: a parse error
        raise TransformError(f"dbt {' '.join(args)} failed (exit {completed.returncode}):\n{tail}")
    return output


PARTIAL_PARSE = "partial_parse.msgpack"


def parse_cache_dir() -> Path:
    """Where the last dbt parse of this project is kept for data dirs that have none yet.

    dbt parses the project (about 8 s on two cores) unless its target holds a
    ``partial_parse.msgpack`` whose project files, profile and env vars still match; a new
    data dir (a backfill into an empty dir, a copy, every test) had none and parsed in full.
    dbt checks the copy itself and parses in full when anything differs, so a stale one
    costs nothing but the check.
    """
    configured = os.environ.get("TRADE_DBT_PARSE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trade_warehouse" / "dbt"


def reuse_partial_parse(target: Path) -> None:
    """Give a target with no parse of its own the last one kept (``parse_cache_dir``)."""
    kept = parse_cache_dir() / PARTIAL_PARSE
    if not (target / PARTIAL_PARSE).exists() and kept.exists():
        _copy_into(kept, target)


def keep_partial_parse(target: Path) -> None:
    """Keep this target's parse for the next new data dir."""
    parsed = target / PARTIAL_PARSE
    if parsed.exists():
        _copy_into(parsed, parse_cache_dir())


def _copy_into(source: Path, directory: Path) -> None:
    """Copy ``source`` into ``directory`` atomically (dbt processes run side by side); a failure
    only costs the speed-up: dbt then parses in full."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temp = directory / f"{source.name}.{os.getpid()}.tmp"
        shutil.copyfile(source, temp)
        os.replace(temp, directory / source.name)
    except OSError as error:
        log.debug("could not copy dbt's partial parse %s into %s: %s", source, directory, error)


# dbt's line for a finished node: "12 of 160 OK created sql table model marts.x ... [OK in 0.51s]"
_NODE_DONE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b")
PROGRESS_EVERY_S = 10.0  # at most one progress line per this many seconds (and one at the end)


def follow_progress(process: subprocess.Popen, verb: str) -> subprocess.CompletedProcess:
    """Read a running dbt's output as it comes: a long build logs how far it is and the time left.

    ``process``: dbt with its stdout (stderr merged) as text (``dbt_process.start``). dbt
    numbers each node it finishes ("12 of 160 OK ..."); every PROGRESS_EVERY_S one line
    says how many are done, how many failed and about how long the rest needs. The whole
    output is still returned, for the caller's error message.
    """
    began = time.monotonic()
    last = began
    lines: list[str] = []
    done = failed = 0
    with process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _NODE_DONE.search(line)
            if not match:
                continue
            done, total = max(done, int(match.group(1))), int(match.group(2))
            failed += match.group(3) in ("ERROR", "FAIL")
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or done == total:
                last = now
                left = time_left(done, total, now - began)
                log.info(
                    "dbt %s: %d/%d nodes done%s%s",
                    verb,
                    done,
                    total,
                    f", {failed} failed" if failed else "",
                    f"; {left}" if left else "",
                )
        returncode = process.wait()
    return subprocess.CompletedProcess(process.args, returncode, "".join(lines), "")


def failed_nodes(run_results: Path, since: float = 0.0) -> list[str]:
    """The failed models and tests of a dbt invocation, from dbt's own ``run_results.json``.

    One line per node: its id, status, failing-row count and dbt's message. Results older
    than ``since`` (a previous invocation's file) are ignored.
    """
    if not run_results.exists() or run_results.stat().st_mtime < since:
        return []
    results = json.loads(run_results.read_text(encoding="utf-8")).get("results", [])
    lines = []
    for result in results:
        if result.get("status") in ("error", "fail", "runtime error"):
            failures = result.get("failures")
            count = f" ({failures} failing rows)" if failures else ""
            message = " ".join(str(result.get("message") or "").split())[:300]
            lines.append(f"{result.get('unique_id')}: {result.get('status')}{count}: {message}")
    return lines


def manifest_path(settings: Settings) -> Path:
    """dbt's ``manifest.json`` of the last invocation: models, their tags and contracts."""
    return settings.data_dir / "dbt" / "target" / "manifest.json"


def build(settings: Settings, changed_months: list[str] | None = None, unit_tests: bool = False) -> str:
    """``dbt build``: seeds, every model, every data test and unit test, in DAG order.

    ``changed_months`` (first days, 'YYYY-MM-DD'): the months loaded since the published
    state this build starts from. The incremental marts rebuild only those, and the tests of
    the month-keyed tables check only those (macros/test_scope.sql): every other month is
    untouched and passed them when it was published. The unit tests are left out too: they
    test the SQL on fixtures, and the project is the one they passed with. None builds and
    tests everything, the unit tests too unless a build on this machine passed them with
    the same project, settings and releases (``unit_test_record``); ``unit_tests`` runs
    them regardless (a forced run).
    """
    without_unit_tests = ("--exclude-resource-type", "unit_test")
    if changed_months is not None:
        scope = ",".join(sorted(set(changed_months))) or "none"
        return run_dbt(settings, "build", *without_unit_tests, env={"TRADE_CHANGED_MONTHS": scope})
    unit_key = unit_test_record.key(scope_fingerprint(settings), backend_env(settings)["TRADE_DBT_TARGET"])
    since = None if unit_tests else unit_test_record.passed(parse_cache_dir(), unit_key)
    if since:
        log.info("dbt build: unit tests left out, passed with this project and these settings at %s", since)
    output = run_dbt(settings, "build", *(without_unit_tests if since else ()), env={"TRADE_CHANGED_MONTHS": "all"})
    if not since:
        unit_test_record.record(parse_cache_dir(), unit_key)
    return output


def generate_docs(settings: Settings) -> tuple[Path, bool]:
    """``dbt docs generate --static`` into docs/dbt/, when the dbt project changed.

    The page documents models, columns and lineage, which only a change of the project
    changes; regenerating it on every publish cost about 9 s a night for nothing. It also
    compiles the saved analyses (``analyses/``). Returns the page and whether it was rebuilt.
    """
    page = settings.dbt_docs_dir / "index.html"
    stamp = settings.dbt_docs_dir / ".project-fingerprint"
    compiled = settings.data_dir / "dbt" / "target" / "compiled" / "trade_warehouse" / "analyses"
    fingerprint = project_fingerprint()
    if page.exists() and compiled.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return page, False
    run_dbt(settings, "docs", "generate", "--static")
    target = settings.data_dir / "dbt" / "target"
    settings.dbt_docs_dir.mkdir(parents=True, exist_ok=True)
    temp = page.with_suffix(".tmp")
    shutil.copyfile(target / "static_index.html", temp)
    os.replace(temp, page)
    stamp.write_text(fingerprint)
    return page, True


def compiled_analysis(settings: Settings, name: str) -> str:
    """The SQL of a saved analysis as compiled by the last docs generation."""
    path = settings.data_dir / "dbt" / "target" / "compiled" / "trade_warehouse" / "analyses" / f"{name}.sql"
    if not path.exists():
        raise FileNotFoundError(f"analysis {name!r} is not compiled yet ({path}); run a build first")
    return path.read_text(encoding="utf-8")


def scope_fingerprint(settings: Settings) -> str:
    """What must equal between two builds for the second to build only the changed months.

    The dbt project, the model settings and the HS level: when any differs from those of
    the published state, every month is rebuilt, re-tested and re-published.
    """
    parts = [
        project_fingerprint(),
        json.dumps(model_settings(), sort_keys=True),
        settings.hs_level,
        settings.state_hs_level,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def project_fingerprint() -> str:
    """Hash of the dbt project's sources: a changed model forces a rebuild."""
    digest = hashlib.sha256()
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".sql", ".yml", ".csv") and "target" not in path.parts:
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
