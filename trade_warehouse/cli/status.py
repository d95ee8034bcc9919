"""``make status``: per flow-month, the last load attempt and what its extraction cost."""

from __future__ import annotations

import argparse

from trade_warehouse.cli.costs import split_label
from trade_warehouse.core.config import Settings, load_settings
from trade_warehouse.load.audit import LATEST_ATTEMPTS
from trade_warehouse.publish.changes import AT_SETTINGS_LEVELS, level_parameters

LAST_ATTEMPTS = f"""
    select strftime(month, '%Y-%m'), flow, status, source, finished_at, detail_rows, load_id
    from ({LATEST_ATTEMPTS}) as latest
    where {AT_SETTINGS_LEVELS} order by month, flow
"""


def command_status(args: argparse.Namespace) -> int:
    """Per flow-month: the last load attempt and what its extraction cost.

    While a run holds the warehouse (DuckDB refuses even a read-only open then), the
    answer comes from the landing zone's extraction records and the published snapshot's
    validation status instead, and says so.
    """
    import duckdb

    from trade_warehouse.load import warehouse
    from trade_warehouse.load.landing import latest_extraction

    settings = load_settings()
    if settings.backend != "ducklake" and not settings.warehouse_path.exists():
        print(f"no warehouse yet at {settings.warehouse_path}; run `make run` or `make backfill`")
        return 1
    try:
        with warehouse.open_reader(settings) as con:
            rows = con.execute(LAST_ATTEMPTS, level_parameters(settings)).fetchall()
    except duckdb.IOException:
        return status_while_busy(settings)
    print(
        f"{'month':<8} {'flow':<13} {'last attempt':<18} {'source':<16} {'finished':<20} {'rows':>8}  "
        f"{'requests':>8} {'failed':>6}  {'split':<16} load_id"
    )
    for month, flow, status, source, finished, rows_, load_id in rows:
        record = latest_extraction(settings.landing_dir, flow, settings.level_for(flow), month) or {}
        cost = (
            f"{record.get('requests', '?'):>8} {record.get('failed', '?'):>6}  {split_label(record):<16}"
            if record
            else f"{'-':>8} {'-':>6}  {'(no record)':<16}"
        )
        print(
            f"{month:<8} {flow:<13} {status:<18} {source or '':<16} {finished:%Y-%m-%d %H:%M:%S}  {rows_ or 0:>8}  "
            f"{cost} {load_id}"
        )
    return 0


def published_validations(settings: Settings) -> tuple[dict[tuple[str, str], bool], str]:
    """Per (flow, month) whether the serving snapshot's validations passed, and when it was published."""
    import duckdb

    validated: dict[tuple[str, str], bool] = {}
    if not settings.serving_path.exists():
        return validated, "never"
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        for flow, month, ok in con.execute(
            "select flow, strftime(month, '%Y-%m'), bool_and(success) from meta.validation_status group by all"
        ).fetchall():
            validated[(flow, month)] = ok
        return validated, str(con.execute("select max(published_at) from meta.publish").fetchone()[0])
    finally:
        con.close()


def status_while_busy(settings: Settings) -> int:
    """Status from files only: landed extractions, and the serving snapshot's last validations."""
    from trade_warehouse.load.landing import latest_extraction

    validated, published = published_validations(settings)
    print(
        f"the warehouse is busy: a run holds the writer ({settings.warehouse_path}).\n"
        f"From the landing zone and the published snapshot (published {published}):"
    )
    print(f"{'month':<8} {'flow':<13} {'extracted':<26} {'validation':<12} {'requests':>8} {'failed':>6}  split")
    base = settings.landing_dir
    flows = settings.flows
    months = sorted(
        {d.name for flow in flows for d in (base / flow / settings.level_for(flow)).glob("*-*") if d.is_dir()}
    )
    for month in months:
        for flow in flows:
            record = latest_extraction(base, flow, settings.level_for(flow), month)
            if not record:
                continue
            check = {True: "passed", False: "FAILED"}.get(validated.get((flow, month)), "not published")
            print(
                f"{month:<8} {flow:<13} {record.get('extracted_at', '?'):<26} {check:<12} "
                f"{record.get('requests', '?'):>8} {record.get('failed', '?'):>6}  {split_label(record)}"
            )
    return 0
