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

This module is the command line and the printed tables; measuring a DAG run is measure.py,
the floor floor.py, the cached histories histories.py, the scenarios scenarios.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from tools.bench import histories
from tools.bench.floor import floor_child
from tools.bench.scenarios import scenario_backfill, scenario_history, scenario_nightly
from trade_warehouse.core.config import PROJECT_ROOT

DEFAULT_BENCH_DIR = PROJECT_ROOT / "bench" / "data"
DEFAULT_RESULTS = PROJECT_ROOT / "bench" / "results.jsonl"
TARGETS = {  # issue 12, on a 2-core machine
    "backfill_after_extract_s": "<= 3 x floor + 30 s",
    "nightly_excl_extract_s": "<= 60 s, and 84-month <= 1.3 x 12-month",
    "noop_s": "<= 20 s",
    "peak_rss_mb": "<= 2048",
}


def print_record(record: dict) -> None:
    """One scenario's table: every stage's wall time, rows/s, peak RSS and ratio to the floor, then its target."""
    title = {
        "backfill": f"backfill {record.get('window')} ({record.get('months')} months)",
        "history": f"whole history {record.get('window')} ({record.get('months')} months) reloaded from landing",
        "nightly": f"nightly: one new month ({record.get('new_month')}) on {record.get('history_months')} "
        "months of history",
        "noop": f"no-op night on {record.get('history_months')} months",
    }[record["scenario"]]
    print(
        f"\n== {title}, backend {record.get('backend', 'duckdb')}, scale {record['scale']}, {record['detail_rows']:,} detail rows; "
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
    state = record.get("state_level") or {}
    if state.get("enabled"):
        print(
            f"state-level data ({state['hs_level']}): {state['detail_rows']:,} detail rows landed, "
            f"{state['months_loaded']} state flow-months loaded in {state['load_s']:.1f}s, "
            f"dbt {state['dbt_nodes']} state models and tests: {state['dbt_node_s']:.1f} node-seconds"
        )
    if floor:
        print(
            f"{'DuckDB floor':<22} {'':<9} {floor['wall_s']:>8.1f} "
            f"{round(floor['rows'] / floor['wall_s']) if floor['wall_s'] else 0:>10,} {floor['peak_rss_mb']:>12.0f} "
            f"{1:>8.1f}"
        )
        print(
            f"load -> publish: {record['after_extract_s']:.1f}s = {record['after_extract_ratio']} x floor "
            f"(target <= {record['target_after_extract_s']}s: 3 x floor + "
            f"{60 if record['scenario'] == 'history' else 30} s)"
        )
    if record["scenario"] == "history":
        ratio = record.get("per_month_vs_12")
        print(
            f"whole-history reload: peak RSS {record['peak_rss_mb']:.0f} MB (target <= {record['target_peak_rss_mb']}); "
            f"{record['per_month_s']:.2f}s per month"
            + (f" = {ratio}x the newest 12-month backfill's (target <= 1.2x)" if ratio else "")
        )
    if record["scenario"] == "nightly":
        print(f"end to end excluding extraction: {record['excl_extract_s']:.1f}s (target <= 30 s, issue 24)")
    if record["scenario"] == "noop":
        print(f"no-op night end to end: {record['wall_s']:.1f}s (target <= 10 s, issue 24)")


def append_results(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of ``make bench`` / ``python -m tools.bench``."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="start", default="2017-01", help="backfill window start (YYYY-MM)")
    parser.add_argument("--to", dest="end", default="2017-12", help="backfill window end (YYYY-MM)")
    parser.add_argument("--scale", default="full", help="emulator scale: small, demo or full")
    parser.add_argument(
        "--scenarios",
        default="backfill,nightly,noop",
        help="comma-separated: backfill, history, nightly, noop (noop follows the largest nightly)",
    )
    parser.add_argument("--history-from", default="2010-01", help="the history scenario's first month")
    parser.add_argument("--history-to", default="2017-12", help="the history scenario's last month")
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
        "--backend",
        choices=("duckdb", "ducklake"),
        default="duckdb",
        help="warehouse backend measured; ducklake: a fresh lake per run on the TRADE_DUCKLAKE_* server",
    )
    parser.add_argument(
        "--local-lake",
        action="store_true",
        help="with --backend ducklake: start PostgreSQL and s3rver on 127.0.0.1 for this run (as the tests do; "
        "make test-deps installs them) instead of the TRADE_DUCKLAKE_* server, and stop them after",
    )
    parser.add_argument(
        "--state",
        choices=("on", "off"),
        default="off",
        help="the state-level flows (statehs; TRADE_STATE_TRADE): off by default, so figures compare with the "
        "floor and earlier records, which hold the national data only; on records their rows, load and dbt time",
    )
    parser.add_argument(
        "--cache-history",
        action="store_true",
        help="keep the backfilled window as a cached history for nightly runs after it",
    )
    args = parser.parse_args(argv)
    args.bench_dir = args.bench_dir.resolve()
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    unknown = args.scenarios - {"backfill", "history", "nightly", "noop"}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    if args.local_lake and args.backend != "ducklake":
        parser.error("--local-lake starts the services of a lake: it needs --backend ducklake")
    args.histories = sorted(int(h) for h in args.history.split(",") if h.strip())
    return args


def run_scenarios(args: argparse.Namespace) -> list[dict]:
    """Run the chosen scenarios in order, printing each record; append them all, even after a failure."""
    scenarios, histories_ = args.scenarios, args.histories
    records: list[dict] = []
    try:
        if "backfill" in scenarios:
            records.append(scenario_backfill(args))
            print_record(records[-1])
        if "history" in scenarios:
            records.append(scenario_history(args))
            print_record(records[-1])
        if scenarios & {"nightly", "noop"}:
            for history in histories_ if "nightly" in scenarios else histories_[-1:]:
                for record in scenario_nightly(args, history, "noop" in scenarios and history == histories_[-1]):
                    records.append(record)
                    print_record(record)
    finally:
        append_results(args.results, records)
    return records


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_floor"]:
        return floor_child(Path(argv[1]), Path(argv[2]))
    args = parse_args(argv)
    histories.LANDING_DONORS.extend(p.resolve() for p in args.landing_from)
    from trade_warehouse.orchestration.airflow_env import airflow_environment, ensure_airflow

    for key, value in airflow_environment().items():  # the task-instance queries read this Airflow
        os.environ.setdefault(key, value)
    ensure_airflow()
    with _lake_services(args):
        records = run_scenarios(args)
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


def _lake_services(args: argparse.Namespace) -> AbstractContextManager:
    """The lake's services started for this run (``--local-lake``), or nothing."""
    if not args.local_lake:
        return nullcontext()
    from tools.bench.lake import local_lake

    return local_lake()


if __name__ == "__main__":
    sys.exit(main())
