"""The scenarios: a backfill window, one new month on N months of history, the no-op night after it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from tools.bench.floor import run_floor
from tools.bench.histories import copy_data_dir, ensure_history, history_dir, landing_donor, link_landing
from tools.bench.measure import (
    MONTHLY_DAG,
    NIGHTLY_DAG,
    BenchError,
    DagRun,
    bench_env,
    git_state,
    landed_detail_rows,
    load_average,
    now,
    run_dag,
    state_figures,
)
from trade_warehouse.core.months import add_months, month_range
from trade_warehouse.emulator.launcher import emulator

RESULTS_SCHEMA = 1


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
    """The window ``--from``..``--to`` loaded into an empty data dir, then the floor on its landed files."""
    months = month_range(args.start, args.end)
    data_dir = args.bench_dir / "runs" / f"backfill-{args.scale}-{args.start}..{args.end}"
    conf = prepare_backfill_dir(args, months, data_dir)
    load_before = load_average()
    with emulator(args.scale) as base_url:
        env = {**bench_env(data_dir, base_url), **backend_env(args, "backfill")}
        run = run_dag(env, MONTHLY_DAG, conf, "backfill")
    load_after = load_average()
    rows = landed_detail_rows(data_dir, months)
    state = state_figures(env, run.run_id, months)
    floor = run_floor(data_dir, months, data_dir / "floor")
    after_extract = run.span("load", "transform_and_publish")
    result = record(
        args,
        "backfill",
        run,
        rows,
        floor,
        load_before,
        load_after,
        **window_figures(months, after_extract, floor, slack_s=30),
        state_level=state,
    )
    cache = history_dir(args.bench_dir, args.scale, months)
    if args.cache_history and args.backend == "duckdb" and not (cache / "build.done").exists():
        keep_as_history(data_dir, cache, run, [load_before, load_after], args.state)
        print(
            f"kept as the cached history {cache.name} (a nightly with --new-month {add_months(months[-1], 1)} "
            f"--history {len(months)} uses it)"
        )
    elif not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def prepare_backfill_dir(args: argparse.Namespace, months: list[str], data_dir: Path) -> dict:
    """An empty data dir for the backfill (with the landed files linked in for ``--reuse-landing``); its conf."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    conf: dict = {"start_month": args.start, "end_month": args.end}
    donor = landing_donor(args.bench_dir, args.scale, months, data_dir) if args.reuse_landing else None
    if args.reuse_landing and donor is None:
        raise BenchError(f"--reuse-landing: no cached history in {args.bench_dir} has landed {months[0]}..{months[-1]}")
    if donor:
        # the extraction is not what is measured: the load -> publish span starts from the same landed files
        print(
            f"backfill from the landed files of {sorted({d.name for d in donor.values()})} (no extraction)", flush=True
        )
        link_landing(donor, data_dir, months)
        conf["from_landing"] = True
    return conf


def keep_as_history(data_dir: Path, cache: Path, run: DagRun, load_avg: list[list[float]], state: str) -> None:
    """The backfilled window is a loaded, published history: keep it for nightly runs on top of it."""
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(data_dir / "floor", ignore_errors=True)
    os.replace(data_dir, cache)
    (cache / "build.done").write_text(
        json.dumps(
            {
                "rc": 0,
                "state": state,
                "seconds": run.wall_s,
                "from_landing": False,
                "load_avg_before": load_avg[0],
                "load_avg_after": load_avg[1],
                "stages": {s.task_id: s.wall_s for s in run.stages},
                "built_at": now(),
                "by": "backfill scenario",
            }
        )
    )


def scenario_nightly(args: argparse.Namespace, history: int, with_noop: bool) -> list[dict]:
    """One new month on top of ``history`` cached months (and, if asked, the no-op night after it)."""
    new = args.new_month
    months = month_range(add_months(new, -history), add_months(new, -1))
    build = ensure_history(args.bench_dir, args.scale, months, args.state)
    data_dir = args.bench_dir / "runs" / f"nightly-{args.scale}-{history}"
    print(f"nightly at {history} months of history: copying the cache to {data_dir}", flush=True)
    copy_data_dir(history_dir(args.bench_dir, args.scale, months), data_dir)
    records = []
    with emulator(args.scale, "--latest-month", new) as base_url:
        env = {**bench_env(data_dir, base_url), **backend_env(args, f"nightly-{history}")}
        if args.backend == "ducklake":  # the cached history is a DuckDB file: load its landed months into the lake
            build = lake_history(env, months, history)
        load_before = load_average()
        run = run_dag(env, NIGHTLY_DAG, {}, f"nightly-{history}")
        rows = landed_detail_rows(data_dir, [new])
        if rows == 0:
            raise BenchError(f"the nightly run at {history} months did not land {new}; see {run.log_path}")
        records.append(
            record(
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
                state_level=state_figures(env, run.run_id, [new]),
            )
        )
        if with_noop:
            load_before = load_average()
            noop = run_dag(env, NIGHTLY_DAG, {}, f"noop-{history}")
            extract = noop.stage("extract")
            if extract is None or "skipped" not in extract.state:
                raise BenchError(f"the no-op night did not skip extraction ({extract}): it was not a no-op")
            records.append(record(args, "noop", noop, 0, None, load_before, load_average(), history_months=history + 1))
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return records


def scenario_history(args: argparse.Namespace) -> dict:
    """A reload of the whole history (``--history-from``..``--history-to``) from the landing zone.

    What a schema change or a new HS level forces: every landed month into an empty
    warehouse (``from_landing``, no API calls), built and published, then the floor on the
    same files in the same run. The landed files come from any cached history or
    ``--landing-from`` dir that landed them, else from the window's own cached history (built
    once, extraction included, as the nightly's histories are).
    """
    months = month_range(args.history_from, args.history_to)
    data_dir = args.bench_dir / "runs" / f"history-{args.scale}-{months[0]}..{months[-1]}"
    donor = landing_donor(args.bench_dir, args.scale, months, data_dir)
    if donor is None:  # no cache (or --landing-from dir) landed them all: build the window's own
        ensure_history(args.bench_dir, args.scale, months, args.state)
        donor = history_dir(args.bench_dir, args.scale, months)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    link_landing(donor, data_dir, months)
    conf = {"start_month": months[0], "end_month": months[-1], "from_landing": True}
    load_before = load_average()
    with emulator(args.scale) as base_url:  # not called (from_landing), but the settings name it
        env = {**bench_env(data_dir, base_url), **backend_env(args, "history")}
        run = run_dag(env, MONTHLY_DAG, conf, "history")
    load_after = load_average()
    rows = landed_detail_rows(data_dir, months)
    floor = run_floor(data_dir, months, data_dir / "floor")
    after_extract = run.span("load", "transform_and_publish")
    per_month = round(after_extract / len(months), 2)
    result = record(
        args,
        "history",
        run,
        rows,
        floor,
        load_before,
        load_after,
        **window_figures(months, after_extract, floor, slack_s=60),
        target_peak_rss_mb=HISTORY_PEAK_RSS_MB,
        per_month_s=per_month,
        per_month_vs_12=per_month_ratio(args, per_month),
        state_level=state_figures(env, run.run_id, months),
    )
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


HISTORY_PEAK_RSS_MB = 3072


def window_figures(months: list[str], after_extract_s: float, floor: dict, slack_s: int) -> dict:
    """The figures a backfill and a history share: the window, load-to-publish seconds, their
    ratio to the floor and the target (3 x floor + ``slack_s``: 30 s backfill, 60 s history)."""
    return {
        "window": f"{months[0]}..{months[-1]}",
        "months": len(months),
        "after_extract_s": after_extract_s,
        "after_extract_ratio": round(after_extract_s / floor["wall_s"], 2) if floor["wall_s"] else None,
        "target_after_extract_s": round(3 * floor["wall_s"] + slack_s, 1),
    }


def per_month_ratio(args: argparse.Namespace, per_month_s: float) -> float | None:
    """The history's load -> publish seconds per month over the newest 12-month backfill's (same scale, backend)."""
    if not args.results.exists():
        return None
    backfills = []
    for line in args.results.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if (
            item.get("scenario") == "backfill"
            and item.get("months") == 12
            and item.get("scale") == args.scale
            and item.get("backend", "duckdb") == args.backend
            and item.get("after_extract_s")
        ):
            backfills.append(item)
    if not backfills:
        return None
    newest = max(backfills, key=lambda item: item.get("recorded_at", ""))
    return round(per_month_s / (newest["after_extract_s"] / 12), 2)


def backend_env(args: argparse.Namespace, name: str) -> dict[str, str]:
    """The backend's settings of a measured run (nothing for the file, a fresh lake for ``ducklake``),
    and whether the state-level flows run (``--state``)."""
    state = {"TRADE_STATE_TRADE": args.state}
    if args.backend != "ducklake":
        return {"TRADE_WAREHOUSE_BACKEND": "duckdb", **state}
    from tools.bench.lake import fresh_lake

    return {**fresh_lake(name), **state}


def lake_history(env: dict[str, str], months: list[str], history: int) -> dict:
    """Load the cached history's landed months into the run's fresh lake (timed, as the history build)."""
    conf = {"start_month": months[0], "end_month": months[-1], "from_landing": True}
    run = run_dag(env, MONTHLY_DAG, conf, f"lake-history-{history}")
    if "success" not in run.state:
        raise BenchError(f"loading the {history}-month history into the lake failed; see {run.log_path}")
    return {"seconds": run.wall_s, "stages": {s.task_id: s.wall_s for s in run.stages}, "backend": "ducklake"}


def record(
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
        "recorded_at": now(),
        "label": args.label,
        "scenario": scenario,
        "backend": args.backend,
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
            for k, v in as_dict(run.results.get("transform_and_publish")).items()
            if k in ("dbt_seconds", "publish_seconds", "docs_rebuilt", "months", "changed_months")
        },
        **extra,
    }


def as_dict(value: object) -> dict:
    """A stage's XCom result as a dict (a plain dict, or a typed result with ``to_xcom``/fields)."""
    if isinstance(value, dict):
        return value
    if hasattr(value, "to_xcom"):
        return dict(value.to_xcom())
    return dict(getattr(value, "__dict__", {}) or {})
