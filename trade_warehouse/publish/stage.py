"""The publish step of a run: dbt build, then the atomic swap of the serving snapshot.

Why one function for both: the snapshot must be built from exactly the dbt run that just
passed its tests, under one writer lock, and skipped when nothing it depends on changed.
Both sources' DAGs call :func:`transform_and_publish`; ``build_dbt_docs`` runs after it.
"""

from __future__ import annotations

import logging
import time

from trade_warehouse.core.config import Settings
from trade_warehouse.core.results import PublishResult

log = logging.getLogger(__name__)


def transform_and_publish(settings: Settings, run_id: str, force: bool = False, docs: bool = True) -> PublishResult:
    """dbt build and publish, unless the loaded data and the dbt project are unchanged.

    ``docs``: also regenerate the dbt docs page when the project changed. The DAGs pass
    False and run ``build_dbt_docs`` as a task of its own after the publish: readers get the
    new snapshot without waiting for the documentation.
    """
    from trade_warehouse.load import warehouse

    # dbt (a child process) and the publish use the warehouse: hold the writer lock throughout
    with warehouse.exclusive(settings):
        return _transform_and_publish(settings, run_id, force, docs)


def build_dbt_docs(settings: Settings) -> bool:
    """Regenerate the dbt docs page if the dbt project changed since it was built; True if it was."""
    from trade_warehouse.load import warehouse
    from trade_warehouse.transform import dbt_runner

    with warehouse.exclusive(settings):  # dbt reads the warehouse's catalog
        return dbt_runner.generate_docs(settings)[1]


def _transform_and_publish(settings: Settings, run_id: str, force: bool, docs: bool = True) -> PublishResult:
    from trade_warehouse.publish import changes, lake_publish, serving, snapshot
    from trade_warehouse.transform import dbt_runner, snapshot_replay

    if not changes.has_loaded_months(settings):
        log.warning("no month has been loaded yet: nothing to build or publish")
        return PublishResult(published=False, reason="no loaded months")
    fingerprint = changes.build_fingerprint(settings)
    if not force and serving.is_published(settings) and changes.last_published_fingerprint(settings) == fingerprint:
        log.info("nothing changed since the last publish: no dbt build, no publish")
        return PublishResult(published=False, reason="unchanged")
    started = time.monotonic()
    snapshot_replay.backfill_and_replay(settings)  # versions loaded before the vintage history existed
    # the months whose data differ from the snapshot in service: the incremental marts, the
    # scoped tests and the publish touch only these (None: everything, e.g. a changed project)
    months = None if force else changes.changed_months(settings)
    log.info(
        "dbt build and publish: %s",
        "every month (no comparable snapshot in service)" if months is None else f"{len(months)} changed months",
    )
    # the publish patches a copy of the snapshot in service: copy it while dbt builds
    on_file = settings.backend != "ducklake"  # the lake publishes in place: nothing to copy
    base = snapshot.copy_serving_in_background(settings) if months is not None and on_file else None
    try:
        dbt_runner.build(settings, months, unit_tests=force)
        docs_rebuilt = dbt_runner.generate_docs(settings)[1] if docs else False
        built = time.monotonic()
        if on_file:
            published = snapshot.publish(settings, run_id, fingerprint, months, base)
        else:
            published = lake_publish.publish(settings, run_id, fingerprint, months)
    finally:
        if base is not None:
            base.discard()
    return PublishResult(
        published=True,
        reason="published",
        publish_id=published["publish_id"],
        serving_path=published["serving_path"],
        row_counts=published["row_counts"],
        months=published["months"],
        docs_rebuilt=docs_rebuilt,
        dbt_seconds=round(built - started, 1),
        publish_seconds=round(time.monotonic() - built, 1),
        changed_months=months,
    )
