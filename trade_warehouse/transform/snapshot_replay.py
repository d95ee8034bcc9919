"""Replaying the vintage history through the dbt snapshot (``snap_census__country_values``).

Why in transform: the replay is a sequence of dbt runs, one per version step, over what the
loader recorded in ``raw.census_values_history`` (see ``sources/census/history.py``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from trade_warehouse.core.config import Settings
from trade_warehouse.sources.census.history import SNAPSHOT, SNAPSHOT_INPUT, BackfillResult, backfill, version_steps

log = logging.getLogger(__name__)


def replay_snapshot(settings: Settings) -> int:
    """Rebuild the snapshot from the history: drop it, then one ``dbt snapshot`` per version step.

    Step k shows each flow-month as its k-th version (or its last, if it has fewer), so
    every version passes through the snapshot in order; valid_from/valid_to come from the
    loads' own times, so the result is the snapshot that running after every load would
    have kept. The caller holds the writer lock (dbt runs as a child process).
    """
    from trade_warehouse.load import warehouse
    from trade_warehouse.transform import dbt_runner

    marker = replay_marker(settings)
    with warehouse.open_writer(settings) as con:
        steps = version_steps(con, settings.hs_level)
        # until the last step succeeds the snapshot is incomplete: the marker makes the next build replay it
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"replay of {steps} step(s) started\n", encoding="utf-8")
        con.execute("create schema if not exists snapshots")
        con.execute(f"drop table if exists snapshots.{SNAPSHOT}")
    for step in range(1, steps + 1):  # the snapshot's input is a view: rebuild it with the step, then snapshot
        dbt_runner.run_dbt(
            settings,
            "build",
            "--select",
            SNAPSHOT_INPUT,
            SNAPSHOT,
            "--exclude-resource-type",
            "test",
            "--vars",
            json.dumps({"history_step": step}),
        )
    marker.unlink()
    log.info("replayed %d version step(s) into the snapshot %s", steps, SNAPSHOT)
    return steps


def replay_marker(settings: Settings) -> Path:
    """Present while a snapshot replay is unfinished (a crash or a failed dbt step leaves it)."""
    return settings.warehouse_path.with_name(settings.warehouse_path.name + ".snapshot-replay-pending")


def backfill_and_replay(settings: Settings) -> BackfillResult:
    """Before a build: record the loaded versions the history lacks; if any, replay the snapshot.

    A warehouse whose every load wrote its history does one query here and nothing else.
    """
    from trade_warehouse.load import warehouse

    with warehouse.open_writer(settings) as con:
        result = backfill(con, settings.landing_dir, settings.hs_level)
    if result.recorded or replay_marker(settings).exists():
        replay_snapshot(settings)
    return result
