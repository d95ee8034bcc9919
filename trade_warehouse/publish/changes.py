"""What changed since the snapshot in service: the build fingerprint and the changed months.

Why apart from the publish: the publish stage asks these questions before dbt runs (skip
an unchanged night; build only the changed months), and the publish records the answers
in the snapshot it swaps in (``meta.month_versions``, ``audit.publishes.fingerprint``).
"Current loaded version" is ``trade_warehouse.load.audit.CURRENT_LOADS``, the one copy.
"""

from __future__ import annotations

import hashlib
import json
import logging

import duckdb

from trade_warehouse.core.config import FLOWS, STATE_FLOWS, Settings
from trade_warehouse.load import warehouse
from trade_warehouse.load.audit import CURRENT_LOADS, comtrade_loaded_versions
from trade_warehouse.publish import serving
from trade_warehouse.transform import dbt_runner

log = logging.getLogger(__name__)

# The loads a build reads: the national flows at the settings' HS level, the state flows at
# the state level (two parameters: ``level_parameters``).
AT_SETTINGS_LEVELS = f"""
    (flow in ({", ".join(f"'{f}'" for f in FLOWS)}) and hs_level = ?)
    or (flow in ({", ".join(f"'{f}'" for f in STATE_FLOWS)}) and hs_level = ?)
"""
# The version (load id) of every flow-month at the settings' levels: what a snapshot is
# built from, recorded in it as ``meta.month_versions``.
CURRENT_VERSIONS_SQL = f"""
    select flow, strftime(month, '%Y-%m-%d') as month, load_id
    from ({CURRENT_LOADS})
    where {AT_SETTINGS_LEVELS}
"""


def level_parameters(settings: Settings) -> list[str]:
    """The parameters of ``AT_SETTINGS_LEVELS`` (and so of ``CURRENT_VERSIONS_SQL``)."""
    return [settings.hs_level, settings.state_hs_level]


def build_fingerprint(settings: Settings) -> str:
    """What a publish would contain: the loaded month versions and the dbt project."""
    with warehouse.open_writer(settings) as con:
        loads = con.execute(
            f"""
            select string_agg(flow || ':' || month || ':' || load_id, ',' order by flow, month)
            from ({CURRENT_LOADS})
            where {AT_SETTINGS_LEVELS}
            """,
            level_parameters(settings),
        ).fetchone()[0]
        mirror = comtrade_loaded_versions(con)  # the partners' reports (mirror marts); unchanged fingerprint without
        if mirror:
            loads = f"{loads}|comtrade:{mirror}"
    model_settings = json.dumps(dbt_runner.model_settings(), sort_keys=True)
    return hashlib.sha256(f"{loads}|{dbt_runner.project_fingerprint()}|{model_settings}".encode()).hexdigest()


def changed_months(settings: Settings) -> list[str] | None:
    """The months ('YYYY-MM-DD') whose loaded version differs from the snapshot in service.

    The snapshot records the version (load id) of every flow-month it was built from and
    the scope fingerprint of its build (``meta.month_versions``, ``meta.publish``). A build
    and a publish on top of it need only touch these months. None means everything: no
    snapshot in service, one from before versions were recorded, or one built from another
    dbt project, model settings or HS level. After a rollback the snapshot in service is
    the reference, so the months that differ from *it* are rebuilt: never too few.
    """
    if not serving.is_published(settings):
        return None
    try:
        with serving.open_served(settings) as served:
            scope = served.execute("select scope_fingerprint from meta.publish").fetchone()[0]
            served_versions = set(served.execute("select flow, month, load_id from meta.month_versions").fetchall())
    except duckdb.Error as error:  # unreadable, or published before versions were recorded
        log.warning("cannot read the versions in service (%s): every month is rebuilt and republished", error)
        return None
    if scope != dbt_runner.scope_fingerprint(settings):
        return None
    with warehouse.open_writer(settings) as con:
        current = set(con.execute(CURRENT_VERSIONS_SQL, level_parameters(settings)).fetchall())
    return sorted({month for _, month, _ in current ^ served_versions})


def has_loaded_months(settings: Settings) -> bool:
    """Whether any month was loaded at all (before that there is nothing to build)."""
    with warehouse.open_writer(settings) as con:
        return con.execute("select count(*) from audit.loads where status = 'loaded'").fetchone()[0] > 0


def last_published_fingerprint(settings: Settings) -> str | None:
    """The ``build_fingerprint`` of the last successful publish; None before the first."""
    with warehouse.open_writer(settings) as con:
        row = con.execute(
            "select fingerprint from audit.publishes where status = 'published' order by published_at desc limit 1"
        ).fetchone()
    return row[0] if row else None
