"""Command line: ``python -m trade_warehouse run|backfill|status|rollback``.

``run`` is the offline demo (always against a freshly started emulator); ``backfill``
loads a month range from ``CENSUS_API_BASE_URL`` and starts the emulator only when that
variable is unset. Both run the real Airflow DAG and exit non-zero naming the failed stage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.core.config import FLOWS, ConfigError, Settings, load_settings
from trade_warehouse.core.months import MonthError, month_range
from trade_warehouse.core.results import ExtractResult, LoadResult, MonthFailure, describe_failures
from trade_warehouse.core.results import run_failures as run_failures_of
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.orchestration.airflow_env import airflow_environment, ensure_airflow

STAGES = {
    "plan": "plan",
    "has_work": "plan",
    "extract": "extract",
    "load": "load + validate",
    "gx_docs": "GX docs",
    "transform_and_publish": "dbt build + publish",
    "report": "report",
    "finish": "finish",
}


@contextmanager
def emulator(scale: str, *extra: str) -> Iterator[str]:
    """Start the Census API emulator on a free loopback port; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trade_warehouse.emulator", "--port", "0", "--scale", scale, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    run_started = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{label}: running DAG census_trade_monthly with {json.dumps(conf)}; Airflow log: {log_path}", flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        code = subprocess.run(
            [sys.executable, "-m", "trade_warehouse.orchestration.dag_runner", json.dumps(conf), str(result_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    elapsed = time.monotonic() - started
    window = month_range(conf["start_month"], conf["end_month"]) if conf.get("start_month") else []
    print_extraction_costs(extraction_costs(settings, window, since=run_started))
    result = json.loads(result_path.read_text() or "{}") if result_path.stat().st_size else {}
    result_path.unlink(missing_ok=True)
    if code != 0:
        failed = [t["task_id"] for t in result.get("tasks", []) if t["state"].endswith("failed")]
        stages = ", ".join(STAGES.get(t, t) for t in failed) or "airflow (see log)"
        failures = run_failures(result.get("stages") or {})
        if failed == ["finish"]:  # the pipeline ran; some months failed in a stage
            stages = ", ".join(sorted({f.stage for f in failures})) or stages
        print(f"\n{label} FAILED at stage: {stages} (after {elapsed:.0f}s)", file=sys.stderr)
        if failures:
            print(describe_failures(failures), file=sys.stderr)
        else:  # a task failed outside the month stages (plan, dbt, publish): its reason is in the log
            print(f"no month failed; task(s) {', '.join(failed) or '?'} failed: see the log below", file=sys.stderr)
        print(f"full log: {log_path}", file=sys.stderr)
        return 1
    print(f"{label}: pipeline succeeded in {elapsed:.0f}s", flush=True)
    return 0


COST_HEADER = f"{'month':<8} {'flow':<8} {'split':<16} {'requests':>8} {'failed':>6} {'rows':>9} {'MB':>7} {'s':>6}"


def split_label(record: dict) -> str:
    """How a flow-month was fetched: ``whole``, or ``split: N parts`` (`+` when below a chapter)."""
    if record.get("mode") != "split":
        return "whole"
    finer = any(len(unit) > 2 for unit in record.get("units") or {})
    return f"split: {record.get('parts', 0)} parts{'+' if finer else ''}"


def cost_line(record: dict) -> str:
    return (
        f"{record['month']:<8} {record['flow']:<8} {split_label(record):<16} {record.get('requests', 0):>8} "
        f"{record.get('failed', 0):>6} {record.get('rows', 0):>9} {record.get('bytes', 0) / 1e6:>7.1f} "
        f"{record.get('seconds', 0):>6.1f}"
    )


def extraction_costs(settings: Settings, months: list[str], since: str | None = None) -> list[dict]:
    """The newest extraction record of each flow-month of ``months`` (made at or after ``since``)."""
    from trade_warehouse.load.landing import latest_extraction

    records = []
    for month in months:
        for flow in FLOWS:
            record = latest_extraction(settings.landing_dir, flow, settings.hs_level, month)
            if record and (since is None or record.get("extracted_at", "") >= since):
                records.append(record)
    return records


def print_extraction_costs(records: list[dict], detail_limit: int = 24) -> None:
    """What extraction cost: per flow-month for short windows, per flow for long ones."""
    if not records:
        return
    print(
        "\nextraction (requests include failed attempts; detail split into parts when the server refused "
        "the whole month):"
    )
    if len(records) <= detail_limit:
        print(COST_HEADER)
        for record in records:
            print(cost_line(record))
    for flow in FLOWS:
        mine = [r for r in records if r["flow"] == flow]
        if mine:
            split = sum(r.get("mode") == "split" for r in mine)
            print(
                f"{flow}: {len(mine)} months, {sum(r.get('requests', 0) for r in mine)} requests "
                f"({sum(r.get('failed', 0) for r in mine)} failed), {split} months split, "
                f"{sum(r.get('detail_requests', 0) for r in mine) / len(mine):.1f} detail requests per month"
            )
    if len(records) > detail_limit:
        print("per month: make status")


def run_failures(stages: dict) -> list[MonthFailure]:
    """Every failed flow-month of a run, from its stage results (the XCom of extract and load)."""
    extracted, loaded = stages.get("extract"), stages.get("load")
    return run_failures_of(
        ExtractResult.from_xcom(extracted) if extracted else None, LoadResult.from_xcom(loaded) if loaded else None
    )


def format_failures(stages: dict) -> str:
    """Every failed flow-month of a run with its stage and full reason, from the stage results.

    A validation failure's reason names each failed expectation, its column, what was
    observed and example values, so nobody has to open the Airflow log to learn them.
    """
    return describe_failures(run_failures(stages))


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
    print(
        f"\nTen largest U.S. goods deficit partners, {year} ($ billions)"
        + (" - SYNTHETIC emulator data" if synthetic else "")
    )
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
        env.update(
            CENSUS_API_BASE_URL=base_url,
            CENSUS_API_KEY=env.get("CENSUS_API_KEY") or DEMO_API_KEY,
            CENSUS_API_PACING_S="0",
        )
        return run_pipeline(conf, env, "backfill")


def command_bench_extract(args: argparse.Namespace) -> int:
    """Extract and land a window of months (both flows) from a fresh emulator; print the cost.

    ``--row-budget`` makes the emulator refuse partner x commodity requests above that many
    rows, as the live API refuses heavy queries: the split path is then what is measured.
    """
    from dataclasses import replace

    from trade_warehouse.sources.census.pipeline import extract

    start, end = args.month or args.start, args.month or args.end
    months = month_range(start, end)
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as data_dir:
        settings = replace(load_settings(), data_dir=Path(data_dir))
        started = time.monotonic()
        with emulator(args.scale, "--row-budget", str(args.row_budget)) as base_url:
            settings = replace(settings, base_url=base_url, api_key=DEMO_API_KEY, pacing_s=0.0)
            summary = extract(settings, months)
        wall = time.monotonic() - started
        records = extraction_costs(settings, months)
    print(COST_HEADER)
    for record in records:
        print(cost_line(record))
    count = max(len(records), 1)
    minimum = sum(math.ceil(r["rows"] / args.row_budget) for r in records) / count
    detail = sum(r["detail_requests"] for r in records) / count
    result = {
        "months": f"{start}..{end}",
        "scale": args.scale,
        "row_budget": args.row_budget,
        "flow_months": len(records),
        "detail_requests_per_flow_month": round(detail, 2),
        "minimum_possible_per_flow_month": round(minimum, 2),
        "target_per_flow_month": round(1.5 * minimum + 1, 2),
        "requests_per_flow_month": round(sum(r["requests"] for r in records) / count, 2),
        "failed_attempts": sum(r["failed"] for r in records),
        "failed_whole_month_attempts": sum(1 for r in records for f in r["failed_requests"] if f["part"] == "all"),
        "mb_per_flow_month": round(sum(r["bytes"] for r in records) / count / 1e6, 1),
        "seconds_per_flow_month": round(sum(r["seconds"] for r in records) / count, 2),
        "extract_seconds": summary.seconds,
        "wall_seconds": round(wall, 1),
        "failures": [f.describe() for f in summary.failures],
    }
    print(json.dumps(result, indent=2))
    return 1 if summary.failures else 0


def command_status(args: argparse.Namespace) -> int:
    """Per flow-month: the last load attempt and what its extraction cost.

    While a run holds the warehouse (DuckDB refuses even a read-only open then), the
    answer comes from the landing zone's extraction records and the published snapshot's
    validation status instead, and says so.
    """
    import duckdb

    from trade_warehouse.load import warehouse

    settings = load_settings()
    if not settings.warehouse_path.exists():
        print(f"no warehouse yet at {settings.warehouse_path}; run `make run` or `make backfill`")
        return 1
    try:
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
    except duckdb.IOException:
        return _status_while_busy(settings)
    from trade_warehouse.load.landing import latest_extraction

    print(
        f"{'month':<8} {'flow':<8} {'last attempt':<18} {'source':<16} {'finished':<20} {'rows':>8}  "
        f"{'requests':>8} {'failed':>6}  {'split':<16} load_id"
    )
    for month, flow, status, source, finished, rows_, load_id in rows:
        record = latest_extraction(settings.landing_dir, flow, settings.hs_level, month) or {}
        cost = (
            f"{record.get('requests', '?'):>8} {record.get('failed', '?'):>6}  {split_label(record):<16}"
            if record
            else f"{'-':>8} {'-':>6}  {'(no record)':<16}"
        )
        print(
            f"{month:<8} {flow:<8} {status:<18} {source or '':<16} {finished:%Y-%m-%d %H:%M:%S}  {rows_ or 0:>8}  "
            f"{cost} {load_id}"
        )
    return 0


def _status_while_busy(settings: Settings) -> int:
    """Status from files only: landed extractions, and the serving snapshot's last validations."""
    import duckdb

    from trade_warehouse.load.landing import latest_extraction

    validated: dict[tuple[str, str], bool] = {}
    published = "never"
    if settings.serving_path.exists():
        con = duckdb.connect(str(settings.serving_path), read_only=True)
        try:
            for flow, month, ok in con.execute(
                "select flow, strftime(month, '%Y-%m'), bool_and(success) from meta.validation_status group by all"
            ).fetchall():
                validated[(flow, month)] = ok
            published = str(con.execute("select max(published_at) from meta.publish").fetchone()[0])
        finally:
            con.close()
    print(
        f"the warehouse is busy: a run holds the writer ({settings.warehouse_path}).\n"
        f"From the landing zone and the published snapshot (published {published}):"
    )
    print(f"{'month':<8} {'flow':<8} {'extracted':<26} {'validation':<12} {'requests':>8} {'failed':>6}  split")
    base = settings.landing_dir
    months = sorted({d.name for flow in FLOWS for d in (base / flow / settings.hs_level).glob("*-*") if d.is_dir()})
    for month in months:
        for flow in FLOWS:
            record = latest_extraction(base, flow, settings.hs_level, month)
            if not record:
                continue
            check = {True: "passed", False: "FAILED"}.get(validated.get((flow, month)), "not published")
            print(
                f"{month:<8} {flow:<8} {record.get('extracted_at', '?'):<26} {check:<12} "
                f"{record.get('requests', '?'):>8} {record.get('failed', '?'):>6}  {split_label(record)}"
            )
    return 0


def command_rollback(args: argparse.Namespace) -> int:
    from trade_warehouse.publish.snapshot import rollback

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
        sub.add_argument(
            "--scale",
            default=os.environ.get("CENSUS_EMULATOR_SCALE", "demo"),
            help="emulator scale when the emulator is used: small, demo or full",
        )
        if name == "backfill":
            sub.add_argument("--force", action="store_true", help="reload months even if unchanged")
            sub.add_argument(
                "--from-landing", action="store_true", help="reload from the landing zone without calling the API"
            )
    bench = commands.add_parser("bench-extract", help="time extracting a window of months from the emulator")
    bench.add_argument("--from", dest="start", default="2017-06")
    bench.add_argument("--to", dest="end", default="2017-06")
    bench.add_argument("--month", default=None, help="one month (instead of --from/--to)")
    bench.add_argument("--scale", default="full")
    bench.add_argument(
        "--row-budget",
        type=int,
        default=2_000_000,
        help="rows above which the emulator answers 500, forcing the client to split",
    )
    commands.add_parser("status")
    commands.add_parser("rollback")
    args = parser.parse_args(argv)
    handlers = {
        "run": command_run,
        "backfill": command_backfill,
        "status": command_status,
        "rollback": command_rollback,
        "bench-extract": command_bench_extract,
    }
    try:
        return handlers[args.command](args)
    except (MonthError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
