"""``make bench``: the pipeline at full Census scale through the real DAG, against the DuckDB floor.

What it measures (each scenario is one real Airflow DAG run, ``dag.test()`` in a child
process, as ``make run`` / ``make backfill`` do it, against a freshly started emulator):

- ``backfill``: a window (default 2017-01..2017-12) loaded into an empty data directory;
- ``nightly``: the nightly DAG adding one new month (default 2017-12) to a warehouse that
  already holds N months of history (default 12 and 84);
- ``noop``: the nightly DAG once more right after that: nothing is released, nothing done.

Stage timings are the Airflow task instances' own start and end (from the metadata DB),
never a guess; the peak RSS of a stage is the largest resident set, summed over the run's
process tree (the DAG runner and the dbt child), sampled every 0.2 s while that task ran.
After the backfill, the *floor* runs on the same landed files: DuckDB alone reads the
gzip JSON, types it and builds a balance mart and a partner x chapter mart in SQL; every
stage is printed with its ratio to that floor.

The N-month histories are built once (a backfill through the same DAG, timed) and cached
under ``--bench-dir`` (default ``bench/data``); each nightly runs on a scratch copy of the
cache: the immutable landed files are hard-linked, the rest is copied. Results are appended
to ``bench/results.jsonl``, one JSON object per scenario run (format in ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.core.config import FLOWS, PROJECT_ROOT
from trade_warehouse.core.months import add_months, month_range

RESULTS_SCHEMA = 1
DEFAULT_BENCH_DIR = PROJECT_ROOT / "bench" / "data"
DEFAULT_RESULTS = PROJECT_ROOT / "bench" / "results.jsonl"
MONTHLY_DAG, NIGHTLY_DAG = "census_trade_monthly", "census_trade_nightly"
STAGE_ORDER = [
    "plan",
    "has_work",
    "extract",
    "load",
    "gx_docs",
    "transform_and_publish",
    "report",
    "dbt_docs",
    "finish",
]
TARGETS = {  # issue 12, on a 2-core machine
    "backfill_after_extract_s": "<= 3 x floor + 30 s",
    "nightly_excl_extract_s": "<= 60 s, and 84-month <= 1.3 x 12-month",
    "noop_s": "<= 20 s",
    "peak_rss_mb": "<= 2048",
}


class BenchError(RuntimeError):
    """A measured run did not succeed: its numbers would be meaningless."""


# ---------------------------------------------------------------- sampling


class RssSampler:
    """Samples the summed RSS of a process and its descendants (psutil) in a thread.

    Per-stage peaks come from slicing the samples by the task instances' time windows.
    """

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += process.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            self.samples.append((time.time(), total))
            self._stop.wait(self.interval_s)

    def peak_mb(self, start: float | None = None, end: float | None = None) -> float:
        """Largest sample in [start, end] (the whole run when not given), in MB."""
        values = [
            rss
            for t, rss in self.samples
            if (start is None or t >= start - self.interval_s) and (end is None or t <= end + self.interval_s)
        ]
        return round(max(values, default=0) / 1e6, 1)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: the machine is shared, so they go with every number."""
    return [round(x, 2) for x in os.getloadavg()]


def git_state() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short=12", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


# ---------------------------------------------------------------- one DAG run


@dataclass
class Stage:
    task_id: str
    state: str
    wall_s: float
    start: float
    end: float
    peak_rss_mb: float = 0.0


@dataclass
class DagRun:
    """One measured DAG run: process wall, the task instances' stages and the tasks' results."""

    dag_id: str
    run_id: str
    state: str
    wall_s: float
    peak_rss_mb: float
    stages: list[Stage]
    results: dict = field(default_factory=dict)  # task_id -> XCom return value (extract, load, transform)
    log_path: str = ""

    def stage(self, task_id: str) -> Stage | None:
        return next((s for s in self.stages if s.task_id == task_id), None)

    def seconds(self, task_id: str) -> float:
        stage = self.stage(task_id)
        return stage.wall_s if stage else 0.0

    def span(self, first: str, last: str) -> float:
        """From the start of task ``first`` to the end of task ``last`` (0 if either did not run)."""
        a, b = self.stage(first), self.stage(last)
        return round(b.end - a.start, 2) if a and b and b.end and a.start else 0.0


def _task_instances(dag_id: str, run_id: str) -> tuple[list[Stage], dict]:
    """The run's task instances (start, end, state) and the XCom results of its stages."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).all()
        stages = []
        for ti in rows:
            if ti.start_date is None or ti.end_date is None:
                stages.append(Stage(ti.task_id, str(ti.state), 0.0, 0.0, 0.0))
                continue
            start, end = ti.start_date.timestamp(), ti.end_date.timestamp()
            stages.append(Stage(ti.task_id, str(ti.state), round(end - start, 2), start, end))
        results = {}
        for row in session.scalars(
            XComModel.get_many(
                run_id=run_id, dag_ids=dag_id, key="return_value", task_ids=["extract", "load", "transform_and_publish"]
            )
        ).all():
            try:
                results[row.task_id] = XComModel.deserialize_value(row)
            except Exception:  # noqa: BLE001 - a result we cannot read is left out, not guessed
                pass
    stages.sort(key=lambda s: (STAGE_ORDER.index(s.task_id) if s.task_id in STAGE_ORDER else 99, s.start))
    return stages, results


def run_dag(env: dict[str, str], dag_id: str, conf: dict, label: str) -> DagRun:
    """Run one DAG run through ``trade_warehouse.orchestration.dag_runner`` in a child process and measure it."""
    data_dir = Path(env["TRADE_DATA_DIR"])
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-bench-{label}.log"
    handle, result_name = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    result_path = Path(result_name)
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trade_warehouse.orchestration.dag_runner",
                json.dumps(conf),
                str(result_path),
                dag_id,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        with RssSampler(child.pid) as sampler:
            code = child.wait()
    wall = round(time.monotonic() - started, 2)
    text = result_path.read_text() if result_path.stat().st_size else "{}"
    result_path.unlink(missing_ok=True)
    result = json.loads(text)
    if not result.get("run_id"):
        raise BenchError(f"{label}: the DAG runner exited {code} without a result; see {log_path}")
    stages, results = _task_instances(dag_id, result["run_id"])
    for stage in stages:
        if stage.end:
            stage.peak_rss_mb = sampler.peak_mb(stage.start, stage.end)
    run = DagRun(
        dag_id, result["run_id"], result.get("state", "?"), wall, sampler.peak_mb(), stages, results, str(log_path)
    )
    if code != 0:
        failed = [s.task_id for s in stages if "failed" in s.state]
        raise BenchError(f"{label}: DAG run {run.run_id} ended {run.state} (failed tasks: {failed}); see {log_path}")
    return run


# ---------------------------------------------------------------- environment and emulator


def bench_env(data_dir: Path, base_url: str) -> dict[str, str]:
    """The environment of a measured run: the project's Airflow, this data dir, the emulator."""
    from trade_warehouse.emulator import DEMO_API_KEY
    from trade_warehouse.orchestration.airflow_env import airflow_environment

    env = airflow_environment()
    env.update(
        TRADE_DATA_DIR=str(data_dir), CENSUS_API_BASE_URL=base_url, CENSUS_API_KEY=DEMO_API_KEY, CENSUS_API_PACING_S="0"
    )
    env.pop("TRADE_HS_LEVEL", None)
    return env


def landed_detail_rows(data_dir: Path, months: list[str]) -> int:
    """Detail rows landed for ``months`` (both flows), from the landing zone's extraction records."""
    from trade_warehouse.load.landing import latest_landed

    landing = data_dir / "landing" / "census"
    return sum(
        f.row_count
        for month in months
        for flow in FLOWS
        for f in latest_landed(landing, flow, "HS6", month)
        if f.kind == "detail"
    )


# ---------------------------------------------------------------- the floor


def floor_sql(data_dir: Path, months: list[str]) -> list[str]:
    """The floor as SQL: read_json on the landed gzip files -> typed tables -> two marts."""
    from trade_warehouse.load.landing import latest_landed
    from trade_warehouse.load.warehouse import served_header
    from trade_warehouse.sources.census.api import COMMODITY_VAR

    value_column = {"exports": "ALL_VAL_MO", "imports": "GEN_VAL_MO"}
    landing = data_dir / "landing" / "census"
    statements = []
    for flow in FLOWS:
        by_header: dict[tuple[str, ...], list[str]] = {}
        for month in months:
            for landed in latest_landed(landing, flow, "HS6", month):
                if landed.kind == "detail":
                    by_header.setdefault(tuple(served_header(landed.path)), []).append(landed.path)
        if not by_header:
            raise BenchError(f"no landed {flow} detail files for {months[0]}..{months[-1]} under {landing}")
        selects = []
        for header, paths in by_header.items():
            pos = {name: i + 1 for i, name in reversed(list(enumerate(header)))}
            header_literal = "[" + ", ".join("'" + h.replace("'", "''") + "'" for h in header) + "]"
            files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            selects.append(
                f"select cast(json[{pos['time']}] || '-01' as date) as month, json[{pos['CTY_CODE']}] as partner_code, "
                f"json[{pos[COMMODITY_VAR[flow]]}] as hs_code, cast(json[{pos[value_column[flow]]}] as bigint) as value_usd "
                f"from read_json([{files}], format = 'array', records = false, columns = {{'json': 'VARCHAR[]'}}) "
                f"where json <> {header_literal}"
            )
        statements.append(f"create table {flow} as " + " union all ".join(selects))
    statements += [
        """create table balance_monthly as
           select month, partner_code, sum(exports_usd) as exports_usd, sum(imports_usd) as imports_usd,
                  sum(exports_usd) - sum(imports_usd) as balance_usd
           from (select month, partner_code, value_usd as exports_usd, 0 as imports_usd from exports
                 union all select month, partner_code, 0, value_usd from imports)
           group by all""",
        """create table partner_chapter_monthly as
           select month, partner_code, left(hs_code, 2) as hs_chapter, sum(exports_usd) as exports_usd,
                  sum(imports_usd) as imports_usd, sum(exports_usd) - sum(imports_usd) as balance_usd
           from (select month, partner_code, hs_code, value_usd as exports_usd, 0 as imports_usd from exports
                 union all select month, partner_code, hs_code, 0, value_usd from imports)
           group by all""",
    ]
    return statements


def run_floor(data_dir: Path, months: list[str], work_dir: Path) -> dict:
    """Time the floor in a child process (its own RSS) on a new DuckDB file; returns its numbers."""
    work_dir.mkdir(parents=True, exist_ok=True)
    script = work_dir / "floor.json"
    script.write_text(json.dumps({"statements": floor_sql(data_dir, months), "db": str(work_dir / "floor.duckdb")}))
    out = work_dir / "floor-result.json"
    child = subprocess.Popen([sys.executable, "-m", "tools.bench", "_floor", str(script), str(out)])
    with RssSampler(child.pid) as sampler:
        code = child.wait()
    if code != 0:
        raise BenchError(f"the floor failed (exit {code})")
    result = json.loads(out.read_text())
    result["peak_rss_mb"] = sampler.peak_mb()
    for name in ("floor.duckdb", "floor.duckdb.wal"):
        (work_dir / name).unlink(missing_ok=True)
    return result


def _floor_child(script: Path, out: Path) -> int:
    import duckdb

    spec = json.loads(script.read_text())
    Path(spec["db"]).unlink(missing_ok=True)
    started = time.monotonic()
    con = duckdb.connect(spec["db"])
    for statement in spec["statements"]:
        con.execute(statement)
    rows = con.execute("select (select count(*) from exports) + (select count(*) from imports)").fetchone()[0]
    marts = {
        t: con.execute(f"select count(*) from {t}").fetchone()[0]
        for t in ("balance_monthly", "partner_chapter_monthly")
    }
    con.close()
    out.write_text(json.dumps({"wall_s": round(time.monotonic() - started, 2), "rows": rows, "mart_rows": marts}))
    return 0


# ---------------------------------------------------------------- the data directories


def _copy_data_dir(source: Path, target: Path) -> None:
    """A scratch copy of a cached data dir: landed gzip files and served files hard-linked, the rest copied.

    Landed files are immutable and served files are only ever replaced by rename; everything
    else (the warehouse, manifests, docs) may be written in place, so it is copied.
    """
    if target.exists():
        shutil.rmtree(target)

    def copy(src: str, dst: str) -> None:
        immutable = src.endswith(".json.gz") or "/serving/" in src
        if immutable:
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)

    shutil.copytree(
        source,
        target,
        copy_function=copy,
        symlinks=True,
        ignore=shutil.ignore_patterns("*.writer.lock", "build.*", "logs"),
    )


def history_dir(bench_dir: Path, scale: str, months: list[str]) -> Path:
    return bench_dir / f"{scale}-{months[0]}..{months[-1]}"


def ensure_history(bench_dir: Path, scale: str, months: list[str]) -> dict:
    """The cached data dir holding ``months`` loaded and published: built once (timed), then reused.

    A history whose months another cache already landed is loaded from hard links to those
    files (``from_landing``: no emulator time spent twice).
    """
    from trade_warehouse.cli.main import emulator

    target = history_dir(bench_dir, scale, months)
    done = target / "build.done"
    if done.exists() and json.loads(done.read_text()).get("rc") == 0:
        return json.loads(done.read_text())
    if target.exists():
        shutil.rmtree(target)
    donor = _landing_donor(bench_dir, scale, months, target)
    conf = {"start_month": months[0], "end_month": months[-1]}
    if donor:
        _link_landing(donor, target, months)
        conf["from_landing"] = True
    print(
        f"building the {len(months)}-month history {months[0]}..{months[-1]} at scale {scale} in {target}"
        + (
            f" (landed files from {', '.join(sorted({d.name for d in donor.values()}))})"
            if donor
            else " (extracting from the emulator)"
        ),
        flush=True,
    )
    load_before = load_average()
    started = time.monotonic()
    with emulator(scale) as base_url:
        run = run_dag(bench_env(target, base_url), MONTHLY_DAG, conf, f"history-{len(months)}")
    record = {
        "rc": 0,
        "seconds": round(time.monotonic() - started, 1),
        "from_landing": bool(donor),
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
        "stages": {s.task_id: s.wall_s for s in run.stages},
        "built_at": _now(),
    }
    done.write_text(json.dumps(record))
    print(f"history built in {record['seconds']:.0f}s", flush=True)
    return record


def _link_landing(donor: Path | dict[str, Path], target: Path, months: list[str]) -> None:
    """Hard-link the donors' landed files for ``months`` into ``target`` (manifests are copied)."""
    for month in months:
        source = donor if isinstance(donor, Path) else donor[month]
        for flow in FLOWS:
            shutil.copytree(
                source / "landing" / "census" / flow / "HS6" / month,
                target / "landing" / "census" / flow / "HS6" / month,
                copy_function=lambda s, d: os.link(s, d) if s.endswith(".gz") else shutil.copy2(s, d),
            )


LANDING_DONORS: list[Path] = []  # --landing-from: other data dirs whose landed files may be linked


def _landing_donor(bench_dir: Path, scale: str, months: list[str], target: Path) -> dict[str, Path] | None:
    """Per month, a cached data dir that landed it (all months covered), else None."""
    candidates = [
        c
        for c in [*LANDING_DONORS, *sorted(bench_dir.glob(f"{scale}-*..*"))]
        if c != target and ((c / "build.done").exists() or c in LANDING_DONORS)
    ]
    chosen = {}
    for month in months:
        for candidate in candidates:
            base = candidate / "landing" / "census"
            if all((base / flow / "HS6" / month / "extractions.jsonl").exists() for flow in FLOWS):
                chosen[month] = candidate
                break
        else:
            return None
    return chosen


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- scenarios


def stage_rows(run: DagRun, rows: int, floor_s: float | None) -> list[dict]:
    out = []
    for stage in run.stages:
        out.append(
            {
                "stage": stage.task_id,
                "state": stage.state.replace("TaskInstanceState.", ""),
                "wall_s": stage.wall_s,
                "rows_per_s": round(rows / stage.wall_s) if stage.wall_s > 0.05 else None,
                "peak_rss_mb": stage.peak_rss_mb,
                "ratio_to_floor": round(stage.wall_s / floor_s, 2) if floor_s and stage.wall_s else None,
            }
        )
    return out


def scenario_backfill(args: argparse.Namespace) -> dict:
    from trade_warehouse.cli.main import emulator

    months = month_range(args.start, args.end)
    data_dir = args.bench_dir / "runs" / f"backfill-{args.scale}-{args.start}..{args.end}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    conf: dict = {"start_month": args.start, "end_month": args.end}
    donor = _landing_donor(args.bench_dir, args.scale, months, data_dir) if args.reuse_landing else None
    if args.reuse_landing and donor is None:
        raise BenchError(f"--reuse-landing: no cached history in {args.bench_dir} has landed {months[0]}..{months[-1]}")
    if donor:
        # the extraction is not what is measured: the load -> publish span starts from the same landed files
        print(
            f"backfill from the landed files of {sorted({d.name for d in donor.values()})} (no extraction)", flush=True
        )
        _link_landing(donor, data_dir, months)
        conf["from_landing"] = True
    load_before = load_average()
    with emulator(args.scale) as base_url:
        run = run_dag(bench_env(data_dir, base_url), MONTHLY_DAG, conf, "backfill")
    load_after = load_average()
    rows = landed_detail_rows(data_dir, months)
    floor = run_floor(data_dir, months, data_dir / "floor")
    after_extract = run.span("load", "transform_and_publish")
    record = _record(
        args,
        "backfill",
        run,
        rows,
        floor,
        load_before,
        load_after,
        window=f"{args.start}..{args.end}",
        months=len(months),
        after_extract_s=after_extract,
        after_extract_ratio=round(after_extract / floor["wall_s"], 2) if floor["wall_s"] else None,
        target_after_extract_s=round(3 * floor["wall_s"] + 30, 1),
    )
    cache = history_dir(args.bench_dir, args.scale, months)
    if args.cache_history and not (cache / "build.done").exists():
        # the backfilled window is a loaded, published history: keep it for nightly runs on top of it
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(data_dir / "floor", ignore_errors=True)
        os.replace(data_dir, cache)
        (cache / "build.done").write_text(
            json.dumps(
                {
                    "rc": 0,
                    "seconds": run.wall_s,
                    "from_landing": False,
                    "load_avg_before": load_before,
                    "load_avg_after": load_after,
                    "stages": {s.task_id: s.wall_s for s in run.stages},
                    "built_at": _now(),
                    "by": "backfill scenario",
                }
            )
        )
        print(
            f"kept as the cached history {cache.name} (a nightly with --new-month {add_months(months[-1], 1)} "
            f"--history {len(months)} uses it)"
        )
    elif not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return record


def scenario_nightly(args: argparse.Namespace, history: int, with_noop: bool) -> list[dict]:
    """One new month on top of ``history`` cached months (and, if asked, the no-op night after it)."""
    from trade_warehouse.cli.main import emulator

    new = args.new_month
    months = month_range(add_months(new, -history), add_months(new, -1))
    build = ensure_history(args.bench_dir, args.scale, months)
    data_dir = args.bench_dir / "runs" / f"nightly-{args.scale}-{history}"
    print(f"nightly at {history} months of history: copying the cache to {data_dir}", flush=True)
    _copy_data_dir(history_dir(args.bench_dir, args.scale, months), data_dir)
    records = []
    with emulator(args.scale, "--latest-month", new) as base_url:
        env = bench_env(data_dir, base_url)
        load_before = load_average()
        run = run_dag(env, NIGHTLY_DAG, {}, f"nightly-{history}")
        rows = landed_detail_rows(data_dir, [new])
        if rows == 0:
            raise BenchError(f"the nightly run at {history} months did not land {new}; see {run.log_path}")
        records.append(
            _record(
                args,
                "nightly",
                run,
                rows,
                None,
                load_before,
                load_average(),
                history_months=history,
                new_month=new,
                history_build=build,
                excl_extract_s=round(run.wall_s - run.seconds("extract"), 2),
            )
        )
        if with_noop:
            load_before = load_average()
            noop = run_dag(env, NIGHTLY_DAG, {}, f"noop-{history}")
            extract = noop.stage("extract")
            if extract is None or "skipped" not in extract.state:
                raise BenchError(f"the no-op night did not skip extraction ({extract}): it was not a no-op")
            records.append(
                _record(args, "noop", noop, 0, None, load_before, load_average(), history_months=history + 1)
            )
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return records


def _record(
    args: argparse.Namespace,
    scenario: str,
    run: DagRun,
    rows: int,
    floor: dict | None,
    load_before: list[float],
    load_after: list[float],
    **extra: object,
) -> dict:
    return {
        "schema": RESULTS_SCHEMA,
        "recorded_at": _now(),
        "label": args.label,
        "scenario": scenario,
        "scale": args.scale,
        "git": git_state(),
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state.replace("DagRunState.", ""),
        "wall_s": run.wall_s,
        "peak_rss_mb": run.peak_rss_mb,
        "detail_rows": rows,
        "floor": floor,
        "stages": stage_rows(run, rows, floor["wall_s"] if floor else None),
        "transform": {
            k: v
            for k, v in _as_dict(run.results.get("transform_and_publish")).items()
            if k in ("dbt_seconds", "publish_seconds", "docs_rebuilt", "months", "changed_months")
        },
        **extra,
    }


def _as_dict(value: object) -> dict:
    """A stage's XCom result as a dict (a plain dict, or a typed result with ``to_xcom``/fields)."""
    if isinstance(value, dict):
        return value
    if hasattr(value, "to_xcom"):
        return dict(value.to_xcom())
    return dict(getattr(value, "__dict__", {}) or {})


# ---------------------------------------------------------------- output


def print_record(record: dict) -> None:
    title = {
        "backfill": f"backfill {record.get('window')} ({record.get('months')} months)",
        "nightly": f"nightly: one new month ({record.get('new_month')}) on {record.get('history_months')} "
        "months of history",
        "noop": f"no-op night on {record.get('history_months')} months",
    }[record["scenario"]]
    print(
        f"\n== {title}, scale {record['scale']}, {record['detail_rows']:,} detail rows; "
        f"load average {record['load_avg_before']} -> {record['load_avg_after']} =="
    )
    floor = record.get("floor")
    print(f"{'stage':<22} {'state':<9} {'wall s':>8} {'rows/s':>10} {'peak RSS MB':>12} {'x floor':>8}")
    for stage in record["stages"]:
        rate = f"{stage['rows_per_s']:,}" if stage["rows_per_s"] else "-"
        ratio = f"{stage['ratio_to_floor']:.1f}" if stage["ratio_to_floor"] else "-"
        print(
            f"{stage['stage']:<22} {stage['state'][:9]:<9} {stage['wall_s']:>8.1f} {rate:>10} "
            f"{stage['peak_rss_mb']:>12.0f} {ratio:>8}"
        )
    print(
        f"{'whole run (process)':<22} {record['state'][:9]:<9} {record['wall_s']:>8.1f} {'':>10} "
        f"{record['peak_rss_mb']:>12.0f}"
    )
    if record.get("transform"):
        print(f"transform_and_publish detail: {record['transform']}")
    if floor:
        print(
            f"{'DuckDB floor':<22} {'':<9} {floor['wall_s']:>8.1f} "
            f"{round(floor['rows'] / floor['wall_s']) if floor['wall_s'] else 0:>10,} {floor['peak_rss_mb']:>12.0f} "
            f"{1:>8.1f}"
        )
        print(
            f"load -> publish: {record['after_extract_s']:.1f}s = {record['after_extract_ratio']} x floor "
            f"(target <= {record['target_after_extract_s']}s: 3 x floor + 30 s)"
        )
    if record["scenario"] == "nightly":
        print(f"end to end excluding extraction: {record['excl_extract_s']:.1f}s (target <= 60 s)")
    if record["scenario"] == "noop":
        print(f"no-op night end to end: {record['wall_s']:.1f}s (target <= 20 s)")


def append_results(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_floor"]:
        return _floor_child(Path(argv[1]), Path(argv[2]))
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="start", default="2017-01", help="backfill window start (YYYY-MM)")
    parser.add_argument("--to", dest="end", default="2017-12", help="backfill window end (YYYY-MM)")
    parser.add_argument("--scale", default="full", help="emulator scale: small, demo or full")
    parser.add_argument(
        "--scenarios",
        default="backfill,nightly,noop",
        help="comma-separated: backfill, nightly, noop (noop follows the largest nightly)",
    )
    parser.add_argument("--history", default="12,84", help="history sizes (months) for the nightly")
    parser.add_argument("--new-month", default="2017-12", help="the month the nightly adds")
    parser.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH_DIR, help="cached histories and scratch runs")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON lines file results are appended to")
    parser.add_argument("--label", default="", help="free text stored with the results (e.g. before/after)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data dirs of the runs")
    parser.add_argument(
        "--reuse-landing",
        action="store_true",
        help="backfill from a cached history's landed files (hard links) instead of extracting again",
    )
    parser.add_argument(
        "--landing-from",
        type=Path,
        action="append",
        default=[],
        help="a data dir (e.g. another bench dir's history) whose landed files histories may hard-link",
    )
    parser.add_argument(
        "--cache-history",
        action="store_true",
        help="keep the backfilled window as a cached history for nightly runs after it",
    )
    args = parser.parse_args(argv)
    args.bench_dir = args.bench_dir.resolve()
    LANDING_DONORS.extend(p.resolve() for p in args.landing_from)
    scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    unknown = scenarios - {"backfill", "nightly", "noop"}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    histories = sorted(int(h) for h in args.history.split(",") if h.strip())
    from trade_warehouse.orchestration.airflow_env import airflow_environment, ensure_airflow

    for key, value in airflow_environment().items():  # the task-instance queries read this Airflow
        os.environ.setdefault(key, value)
    ensure_airflow()
    records: list[dict] = []
    try:
        if "backfill" in scenarios:
            records.append(scenario_backfill(args))
            print_record(records[-1])
        if scenarios & {"nightly", "noop"}:
            for history in histories if "nightly" in scenarios else histories[-1:]:
                for record in scenario_nightly(args, history, "noop" in scenarios and history == histories[-1]):
                    records.append(record)
                    print_record(record)
    finally:
        append_results(args.results, records)
    nightly = {r["history_months"]: r for r in records if r["scenario"] == "nightly"}
    if len(nightly) >= 2:
        small, large = nightly[min(nightly)], nightly[max(nightly)]
        print(
            f"\nnightly growth with history: {large['excl_extract_s']:.1f}s at {max(nightly)} months vs "
            f"{small['excl_extract_s']:.1f}s at {min(nightly)} = "
            f"{large['excl_extract_s'] / max(small['excl_extract_s'], 0.01):.2f}x (target <= 1.3x)"
        )
    print(f"\nresults appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
