"""Command line: ``python -m trade_warehouse run|backfill|status|rollback``.

``run`` is the offline demo (always against a freshly started emulator); ``backfill``
loads a month range from ``CENSUS_API_BASE_URL`` and starts the emulator only when that
variable is unset. Both run the real Airflow DAG and exit non-zero naming the failed stage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.airflow_env import airflow_environment, ensure_airflow
from trade_warehouse.config import ConfigError, load_settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.months import MonthError, month_range

STAGES = {"plan": "plan", "has_work": "plan", "extract": "extract", "load": "load + validate", "gx_docs": "GX docs",
          "transform_and_publish": "dbt build + publish", "report": "report", "finish": "finish"}


@contextmanager
def emulator(scale: str, *extra: str) -> Iterator[str]:
    """Start the Census API emulator on a free loopback port; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trade_warehouse.emulator", "--port", "0", "--scale", scale, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("CENSUS_API_BASE_URL="):
            raise RuntimeError(f"the emulator did not start: {line} {process.stderr.read() if process.stderr else ''}")
        yield line.split("=", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_pipeline(conf: dict, env: dict[str, str], label: str) -> int:
    """Run the DAG in a child process (its Airflow log goes to a file); report the outcome."""
    settings = load_settings(env)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{label}.log"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    started = time.monotonic()
    print(f"{label}: running DAG census_trade_monthly with {json.dumps(conf)}; Airflow log: {log_path}", flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        code = subprocess.run(
            [sys.executable, "-m", "trade_warehouse.dag_runner", json.dumps(conf), str(result_path)],
            env=env, stdout=log, stderr=subprocess.STDOUT, check=False,
        ).returncode
    elapsed = time.monotonic() - started
    result = json.loads(result_path.read_text() or "{}") if result_path.stat().st_size else {}
    result_path.unlink(missing_ok=True)
    if code != 0:
        failed = [t["task_id"] for t in result.get("tasks", []) if t["state"].endswith("failed")]
        stages = ", ".join(STAGES.get(t, t) for t in failed) or "airflow (see log)"
        if failed == ["finish"]:  # the pipeline ran; some months failed in a stage
            month_stages = sorted(set(re.findall(r"^  \S+ \d{4}-\d{2} at (\w+):", log_path.read_text(), re.M)))
            stages = ", ".join(month_stages) or stages
        print(f"\n{label} FAILED at stage: {stages} (after {elapsed:.0f}s)", file=sys.stderr)
        print(_error_lines(log_path), file=sys.stderr)
        print(f"full log: {log_path}", file=sys.stderr)
        return 1
    print(f"{label}: pipeline succeeded in {elapsed:.0f}s", flush=True)
    return 0


def _error_lines(log_path: Path, limit: int = 30) -> str:
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    keep = [line for line in lines if any(k in line for k in ("Error", "error:", "failed", "FAIL", " at "))]
    return "\n".join(keep[-limit:])


def print_summary(env: dict[str, str], year: int) -> None:
    import duckdb

    settings = load_settings(env)
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        rows = con.execute(
            """
            select deficit_rank, partner_name, exports_usd / 1e9, imports_usd / 1e9, balance_usd / 1e9
            from marts.trade_balance_annual where year = ? and deficit_rank <= 10 order by deficit_rank
            """,
            [year],
        ).fetchall()
        synthetic = con.execute("select bool_or(data_source = 'census-emulator') from marts.dim_month").fetchone()[0]
    finally:
        con.close()
    print(f"\nTen largest U.S. goods deficit partners, {year} ($ billions)"
          + (" - SYNTHETIC emulator data" if synthetic else ""))
    print(f"{'#':>2}  {'partner':<24}{'exports':>10}{'imports':>10}{'balance':>10}")
    for rank, name, exports, imports, balance in rows:
        print(f"{rank:>2}  {name:<24}{exports:>10.1f}{imports:>10.1f}{balance:>10.1f}")
    print(f"\nserving database: {settings.serving_path}")
    print(f"report:           {settings.report_path}")


def command_run(args: argparse.Namespace) -> int:
    env = airflow_environment()
    months = month_range(args.start, args.end)
    ensure_airflow()
    with emulator(args.scale) as base_url:
        env.update(CENSUS_API_BASE_URL=base_url, CENSUS_API_KEY=DEMO_API_KEY, CENSUS_API_PACING_S="0")
        code = run_pipeline({"start_month": args.start, "end_month": args.end}, env, "run")
    if code == 0:
        print_summary(env, int(months[-1][:4]) if months[-1].endswith("-12") else int(months[-1][:4]) - 1)
    return code


def command_backfill(args: argparse.Namespace) -> int:
    env = airflow_environment()
    month_range(args.start, args.end)
    ensure_airflow()
    conf = {"start_month": args.start, "end_month": args.end, "force": args.force, "from_landing": args.from_landing}
    if env.get("CENSUS_API_BASE_URL"):
        print(f"backfill: source {env['CENSUS_API_BASE_URL']}")
        return run_pipeline(conf, env, "backfill")
    with emulator(args.scale) as base_url:
        print("backfill: CENSUS_API_BASE_URL is unset, using a local Census API emulator (synthetic data)")
        env.update(CENSUS_API_BASE_URL=base_url, CENSUS_API_KEY=env.get("CENSUS_API_KEY") or DEMO_API_KEY,
                   CENSUS_API_PACING_S="0")
        return run_pipeline(conf, env, "backfill")


def command_bench_extract(args: argparse.Namespace) -> int:
    """Extract and land one month (both flows) from an emulator at the given scale; print the cost."""
    from dataclasses import replace

    from trade_warehouse.landing import latest_landed
    from trade_warehouse.pipeline import extract

    settings = load_settings()
    with emulator(args.scale, "--row-budget", str(args.row_budget)) as base_url:
        settings = replace(settings, base_url=base_url, api_key=DEMO_API_KEY, pacing_s=0.0)
        summary = extract(settings, [args.month])
    rows = 0
    for flow in ("exports", "imports"):
        rows += sum(f.row_count for f in latest_landed(settings.landing_dir, flow, settings.hs_level, args.month))
    print(json.dumps({"month": args.month, "scale": args.scale, "row_budget": args.row_budget,
                      "seconds": summary["seconds"], "requests": summary["requests"], "bytes": summary["bytes"],
                      "rows": rows, "failures": summary["failures"]}, indent=2))
    return 1 if summary["failures"] else 0


def command_status(args: argparse.Namespace) -> int:
    from trade_warehouse import warehouse

    settings = load_settings()
    if not settings.warehouse_path.exists():
        print(f"no warehouse yet at {settings.warehouse_path}; run `make run` or `make backfill`")
        return 1
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            """
            select strftime(month, '%Y-%m'), flow, status, source, finished_at, detail_rows, load_id
            from (select *, row_number() over (partition by flow, hs_level, month order by finished_at desc) rn
                  from audit.loads where hs_level = ?)
            where rn = 1 order by month, flow
            """,
            [settings.hs_level],
        ).fetchall()
    print(f"{'month':<8} {'flow':<8} {'last attempt':<18} {'source':<16} {'finished':<20} {'rows':>8}  load_id")
    for month, flow, status, source, finished, rows_, load_id in rows:
        print(f"{month:<8} {flow:<8} {status:<18} {source or '':<16} {finished:%Y-%m-%d %H:%M:%S}  {rows_ or 0:>8}  {load_id}")
    return 0


def command_rollback(args: argparse.Namespace) -> int:
    from trade_warehouse.publish import rollback

    restored = rollback(load_settings())
    print(f"serving snapshot restored from {restored.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trade_warehouse")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, default_start, default_end in (("run", "2011-01", "2017-12"), ("backfill", None, None)):
        sub = commands.add_parser(name)
        sub.add_argument("--from", dest="start", default=default_start, required=default_start is None)
        sub.add_argument("--to", dest="end", default=default_end, required=default_end is None)
        sub.add_argument("--scale", default=os.environ.get("CENSUS_EMULATOR_SCALE", "demo"),
                         help="emulator scale when the emulator is used: small, demo or full")
        if name == "backfill":
            sub.add_argument("--force", action="store_true", help="reload months even if unchanged")
            sub.add_argument("--from-landing", action="store_true",
                             help="reload from the landing zone without calling the API")
    bench = commands.add_parser("bench-extract", help="time extracting one month from the emulator")
    bench.add_argument("--month", default="2017-06")
    bench.add_argument("--scale", default="full")
    bench.add_argument("--row-budget", type=int, default=2_000_000,
                       help="rows above which the emulator answers 500, forcing the client to split")
    commands.add_parser("status")
    commands.add_parser("rollback")
    args = parser.parse_args(argv)
    handlers = {"run": command_run, "backfill": command_backfill, "status": command_status,
                "rollback": command_rollback, "bench-extract": command_bench_extract}
    try:
        return handlers[args.command](args)
    except (MonthError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
