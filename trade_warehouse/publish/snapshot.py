"""Publish step of write-audit-publish: serve a checked snapshot of the marts.

The marts are copied out of the writer's warehouse into a new DuckDB file, checked
against the mart contract, and moved over ``serving/trade.duckdb`` with an atomic
rename. A BI tool with the old file open keeps reading the old snapshot; a new
connection sees the new one; nobody ever sees a mix, and the writer never waits on a
reader. The previous snapshots are kept in ``serving/snapshots/`` for ``make rollback``.

The neighbours: ``contract`` (what is served and its check), ``changes`` (what changed
since the snapshot in service), ``candidate`` (filling and checking the new file),
``parquet`` (the Parquet set switched together with the snapshot).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.load import warehouse
from trade_warehouse.publish import as_of, parquet
from trade_warehouse.publish.candidate import Candidate, audit_record, fill_candidate
from trade_warehouse.publish.contract import PublishError, published_models
from trade_warehouse.transform import dbt_runner


@dataclass
class SnapshotCopy:
    """A copy of the snapshot in service, made in a background thread while dbt builds.

    A patched publish starts from it; copying a long history's snapshot (1.3 GB at 84
    months) on the publish's own time made every night grow with history.
    """

    path: Path
    publish_id: str | None  # of the snapshot in service when the copy started
    thread: threading.Thread
    error: BaseException | None = None

    def wait(self) -> Path | None:
        """The copy, once complete; None when it failed (the publish then copies itself)."""
        self.thread.join()
        return None if self.error or not self.path.exists() else self.path

    def discard(self) -> None:
        self.thread.join()
        self.path.unlink(missing_ok=True)


def copy_serving_in_background(settings: Settings) -> SnapshotCopy | None:
    """Start copying ``serving/trade.duckdb`` for the next publish; None when there is none."""
    serving = settings.serving_path
    if not serving.exists():
        return None
    publish_id = _serving_publish_id(serving)
    target = serving.parent / f".base-{uuid.uuid4().hex}.duckdb"

    def run() -> None:
        try:
            shutil.copyfile(serving, target)
        except BaseException as error:  # reported by wait(): the publish copies again itself
            copy.error = error
            target.unlink(missing_ok=True)

    copy = SnapshotCopy(target, publish_id, threading.Thread(target=run, name="snapshot-copy", daemon=True))
    copy.thread.start()
    return copy


def _serving_publish_id(path: Path) -> str | None:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return con.execute("select publish_id from meta.publish").fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def publish(
    settings: Settings,
    run_id: str,
    fingerprint: str,
    months: list[str] | None = None,
    base: SnapshotCopy | None = None,
) -> dict:
    """Build, check and atomically swap in a new serving snapshot, plus Parquet exports.

    ``months`` (from ``changed_months``): the months whose data changed since the snapshot
    in service. The candidate then starts as a copy of that snapshot; the large marts
    (meta ``publish_by``) get only those months, or their years, replaced and their names
    refreshed from the new dimensions, and their Parquet files of other years are
    hard-linked from the set in service. Every other mart is small and copied whole. None
    (the default) copies and exports everything. Either way the candidate is checked whole
    against the contract and the marts suite before it replaces the snapshot. ``base``: a
    copy of the snapshot in service started earlier (``copy_serving_in_background``), used
    when it is of the snapshot still in service.
    """
    serving = settings.serving_path
    serving.parent.mkdir(parents=True, exist_ok=True)
    publish_id = str(uuid.uuid4())
    candidate = serving.parent / f".candidate-{publish_id}.duckdb"
    parquet_staging, parquet_version = parquet.new_set_dirs(settings, publish_id)
    switched = False
    patch = months is not None and serving.exists()
    metadata = {"publish_id": publish_id, "run_id": run_id, "scope": dbt_runner.scope_fingerprint(settings)}
    try:
        previous_parquet = None
        if patch:
            served = _start_from_serving(serving, candidate, base)
            previous_parquet = parquet.reusable_set(settings, served)
        built = _build(settings, candidate, parquet_staging, months if patch else None, metadata, previous_parquet)
        os.replace(parquet_staging, parquet_version)
        _keep_previous(settings)
        os.replace(candidate, serving)
        parquet.point_parquet_at(settings, parquet_version)
        switched = True
        parquet.prune_parquet(settings)
        with warehouse.open_writer(settings) as con:
            warehouse.insert_publish_audit(con, audit_record(metadata, fingerprint, built, str(settings.serving_path)))
        return {
            "publish_id": publish_id,
            "row_counts": built.counts,
            "months": built.months,
            "serving_path": str(serving),
            "patched_months": None if not patch else len(months or []),
        }
    finally:
        if base is not None:
            base.discard()
        candidate.unlink(missing_ok=True)
        shutil.rmtree(parquet_staging, ignore_errors=True)
        if not switched:
            shutil.rmtree(parquet_version, ignore_errors=True)


def _start_from_serving(serving: Path, candidate: Path, base: SnapshotCopy | None) -> str | None:
    """A patched candidate starts as the snapshot in service: the background copy if still current.

    Returns the publish id of the snapshot the candidate is a copy of.
    """
    ready = base.wait() if base else None
    served = _serving_publish_id(serving)
    if ready and base.publish_id is not None and base.publish_id == served:
        os.replace(ready, candidate)  # copied while dbt built
        return served
    shutil.copyfile(serving, candidate)  # read-only readers of it are undisturbed
    return _serving_publish_id(candidate)


def _build(
    settings: Settings,
    candidate: Path,
    parquet_staging: Path,
    months: list[str] | None,
    metadata: dict[str, str],
    previous_parquet: Path | None,
) -> Candidate:
    """Fill and check the candidate file, add the "as of" macro, export its Parquet set to staging.

    ``previous_parquet``: the Parquet set exported from the snapshot the candidate started
    from, whose files of unchanged years are reused (None: every file is written).
    """
    models = published_models(settings)
    with warehouse.open_writer(settings) as con:
        con.execute(f"attach '{candidate}' as candidate")
        built = fill_candidate(con, settings, models, months, metadata)
        con.execute("detach candidate")
        as_of.create_as_of_macro(candidate)  # "as of" queries, bound to the snapshot's own marts
        con.execute(f"attach '{candidate}' as candidate (read_only)")  # Parquet = exactly what is served
        parquet.export_set(con, models, parquet_staging, previous_parquet, months, built.renamed)
        con.execute("detach candidate")
    parquet.write_manifest(parquet_staging, metadata["publish_id"], metadata["run_id"], built.counts)
    return built


def _keep_previous(settings: Settings) -> None:
    """Hard-link the current snapshot into snapshots/ and prune to the newest few."""
    if not settings.serving_path.exists():
        return
    settings.snapshots_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = settings.snapshots_dir / f"trade-{stamp}.duckdb"
    try:
        os.link(settings.serving_path, target)
    except OSError:
        shutil.copy2(settings.serving_path, target)
    snapshots = sorted(settings.snapshots_dir.glob("trade-*.duckdb"))
    for old in snapshots[: -parquet.KEEP_SNAPSHOTS]:
        old.unlink(missing_ok=True)


def rollback(settings: Settings) -> Path | str:
    """Put the newest kept snapshot back in service (atomic rename of a copy), and its Parquet set.

    On the lake: the marts as of the snapshot before the current publish (``lake_publish``).
    """
    if settings.backend == "ducklake":
        from trade_warehouse.publish import lake_publish

        return f"lake snapshot {lake_publish.rollback(settings)}"
    snapshots = sorted(settings.snapshots_dir.glob("trade-*.duckdb"))
    if not snapshots:
        raise PublishError(f"no previous snapshot in {settings.snapshots_dir} to roll back to")
    previous = snapshots[-1]
    staging = settings.serving_path.parent / f".rollback-{uuid.uuid4().hex}.duckdb"
    shutil.copy2(previous, staging)
    os.replace(staging, settings.serving_path)
    previous.unlink()
    publish_id = _serving_publish_id(settings.serving_path)
    if publish_id is not None:  # None: a snapshot from before publish ids were recorded
        parquet.rollback_parquet(settings, publish_id)
    return previous
