"""Runs whose tasks all execute in this process (``dag.test()``, via ``dag_runner``).

Two things follow from that. Airflow's in-process Execution API is trimmed to the versions
our own task runner speaks (below), and a task may start what a later task of the same run
needs (:func:`tasks_run_in_this_process`: the extract task starts GX's import for the load).

``dag.test()`` answers the task SDK's calls (start, XCom, state) from an in-process copy
of Airflow's Execution API. That copy is a Cadwyn app, and on its first request Cadwyn
generates a router for every API version Airflow still serves to older workers: ten in
Airflow 3.3.2, about 6 to 9 s on this 2-core machine. Every ``make run``, ``make backfill``
and bench run pays it once per process; it was most of a no-op night.

The only client of that in-process server is the task SDK installed beside it, which
speaks the newest version. :func:`trim_in_process_api_versions` therefore swaps Airflow's
version bundle, before the first run, for one with the newest versions only: the client's
own version keeps all its version changes, so it gets exactly the API it would get from
the full bundle (``tests/orchestration/test_in_process.py`` compares the two OpenAPI
documents). A real deployment (api-server, scheduler, workers) never runs this code.

Nothing is trimmed, and the full bundle stays, when Airflow's layout is not the one this
was written for: a different client version, a head version with its own changes, or an
API server already created in this process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

# The newest version and the one before it: 2026-04-06 restores the compat route
# /dag-runs/{dag_id}/previous, which Cadwyn requires some kept version to restore.
KEPT_VERSIONS = 2

_tasks_here = threading.Event()  # set while a dag_runner run is under way in this process


@contextlib.contextmanager
def tasks_in_this_process() -> Iterator[None]:
    """Mark the block as a run whose tasks execute in this process (``dag_runner.run_dag``)."""
    _tasks_here.set()
    try:
        yield
    finally:
        _tasks_here.clear()


def tasks_run_in_this_process() -> bool:
    """True inside ``dag_runner.run_dag``: the run's tasks share this process (``dag.test()``).

    Under a scheduler each task has its own process, and this is False.
    """
    return _tasks_here.is_set()


def trim_in_process_api_versions() -> bool:
    """Serve ``dag.test()``'s task SDK only the newest API versions; True if the bundle is trimmed.

    Idempotent: a second call sees the trimmed bundle and returns True. Must run before
    the first task of the process starts (the in-process server is created once).
    """
    try:
        from airflow.api_fastapi.execution_api import versions
        from airflow.sdk.api.datamodels._generated import API_VERSION
        from airflow.sdk.execution_time.supervisor import in_process_api_server
        from cadwyn import Version, VersionBundle
    except ImportError as error:  # another Airflow layout: keep the full bundle
        log.info("execution API left untrimmed: %s", error)
        return False
    full = versions.bundle
    if getattr(full, "trade_warehouse_trimmed", False):
        return True
    reason = untrimmable(full, API_VERSION, in_process_api_server.cache_info().currsize > 0)
    if reason:
        log.info("execution API left untrimmed: %s", reason)
        return False
    kept = full.versions[:KEPT_VERSIONS]
    changes = [change for version in kept for change in version.changes]
    for change in changes:  # a version change binds to one bundle: release it for the trimmed one
        change._bound_version_bundle = None
    try:
        trimmed = VersionBundle(full.head_version, *kept, Version(full.versions[KEPT_VERSIONS].value))
    except Exception as error:  # noqa: BLE001 - a Cadwyn we do not know: the full bundle, bound again
        for change in changes:
            change._bound_version_bundle = full
        log.info("execution API left untrimmed: %s: %s", error.__class__.__name__, error)
        return False
    trimmed.trade_warehouse_trimmed = True
    versions.bundle = trimmed
    log.info("execution API trimmed to versions %s for dag.test()", ", ".join(trimmed.version_values))
    return True


def untrimmable(bundle: object, client_version: str, server_created: bool) -> str | None:
    """Why ``bundle`` must stay whole (None if it can be trimmed): each reason is a layout we do not know."""
    values = tuple(getattr(bundle, "version_values", ()))
    if server_created:
        return "the in-process API server already exists in this process"
    if len(values) <= KEPT_VERSIONS + 1:
        return f"only {len(values)} versions"
    if values[0] != client_version:
        return f"the task SDK speaks {client_version}, the newest served version is {values[0]}"
    if getattr(getattr(bundle, "head_version", None), "changes", ()):
        return "the head version has its own changes"
    return None
