"""What extraction cost: the tables ``make run``/``make backfill`` print after a run, and
``bench-extract`` (extract a window from a fresh emulator and measure it)."""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from trade_warehouse.core.config import Settings, load_settings
from trade_warehouse.core.months import month_range
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.launcher import emulator

COST_HEADER = f"{'month':<8} {'flow':<8} {'split':<16} {'requests':>8} {'failed':>6} {'rows':>9} {'MB':>7} {'s':>6}"


def split_label(record: dict) -> str:
    """How a flow-month was fetched: ``whole``, or ``split: N parts`` (`+` when below a chapter)."""
    if record.get("mode") != "split":
        return "whole"
    finer = any(len(unit) > 2 for unit in record.get("units") or {})
    return f"split: {record.get('parts', 0)} parts{'+' if finer else ''}"


def cost_line(record: dict) -> str:
    """One row of the cost table: a flow-month's requests, failed attempts, rows, megabytes, seconds."""
    return (
        f"{record['month']:<8} {record['flow']:<13} {split_label(record):<16} {record.get('requests', 0):>8} "
        f"{record.get('failed', 0):>6} {record.get('rows', 0):>9} {record.get('bytes', 0) / 1e6:>7.1f} "
        f"{record.get('seconds', 0):>6.1f}"
    )


def extraction_costs(settings: Settings, months: list[str], since: str | None = None) -> list[dict]:
    """The newest extraction record of each flow-month of ``months`` (made at or after ``since``)."""
    from trade_warehouse.load.landing import latest_extraction

    records = []
    for month in months:
        for flow in settings.flows:
            record = latest_extraction(settings.landing_dir, flow, settings.level_for(flow), month)
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
    for flow in dict.fromkeys(r["flow"] for r in records):
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


def command_bench_extract(args: argparse.Namespace) -> int:
    """Extract and land a window of months (both flows) from a fresh emulator; print the cost.

    ``--row-budget`` makes the emulator refuse partner x commodity requests above that many
    rows, as the live API refuses heavy queries: the split path is then what is measured.
    """
    from dataclasses import replace

    from trade_warehouse.sources.census import extract

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
    result = {
        "months": f"{start}..{end}",
        "scale": args.scale,
        "row_budget": args.row_budget,
        **bench_measures(records, args.row_budget),
        "extract_seconds": summary.seconds,
        "wall_seconds": round(wall, 1),
        "failures": [f.describe() for f in summary.failures],
    }
    print(json.dumps(result, indent=2))
    return 1 if summary.failures else 0


def bench_measures(records: list[dict], row_budget: int) -> dict:
    """Per flow-month averages of a bench-extract window, beside the fewest requests possible."""
    count = max(len(records), 1)
    minimum = sum(math.ceil(r["rows"] / row_budget) for r in records) / count
    detail = sum(r["detail_requests"] for r in records) / count
    return {
        "flow_months": len(records),
        "detail_requests_per_flow_month": round(detail, 2),
        "minimum_possible_per_flow_month": round(minimum, 2),
        "target_per_flow_month": round(1.5 * minimum + 1, 2),
        "requests_per_flow_month": round(sum(r["requests"] for r in records) / count, 2),
        "failed_attempts": sum(r["failed"] for r in records),
        "failed_whole_month_attempts": sum(1 for r in records for f in r["failed_requests"] if f["part"] == "all"),
        "mb_per_flow_month": round(sum(r["bytes"] for r in records) / count / 1e6, 1),
        "seconds_per_flow_month": round(sum(r["seconds"] for r in records) / count, 2),
    }
