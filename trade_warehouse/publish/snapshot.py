"""Publish step of write-audit-publish: serve a checked snapshot of the marts.

The marts are copied out of the writer's warehouse into a new DuckDB file, checked
against the mart contract, and moved over ``serving/trade.duckdb`` with an atomic
rename. A BI tool with the old file open keeps reading the old snapshot; a new
connection sees the new one; nobody ever sees a mix, and the writer never waits on a
reader. The previous snapshots are kept in ``serving/snapshots/`` for ``make rollback``.

The Parquet copy of the marts is one directory per publish, ``serving/parquet/versions/
<stamp>-<publish_id>/<table>/data.parquet``, and ``serving/parquet/current`` is a relative
symlink to the one in service, switched by an atomic rename. A reader that resolves
``current`` once reads every table from the same publish; the previous sets stay for
rollback, which moves the pointer back together with the DuckDB snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
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
from trade_warehouse.publish import as_of
from trade_warehouse.transform import dbt_runner

PUBLISHED_TAG = "published"  # dbt tag of the models copied into the serving snapshot
KEEP_SNAPSHOTS = 3
PARQUET_POINTER = "current"
PARQUET_MANIFEST = "_publish.json"


log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The candidate snapshot broke the mart contract; the serving file was left alone."""


@dataclass(frozen=True)
class PublishedModel:
    """A model the serving snapshot carries, as dbt's manifest describes it.

    The models' YAML is the one statement of the mart contract: a model tagged
    ``published`` is copied into the snapshot, and one with an enforced dbt contract is
    also exported to Parquet and checked here, column by column and type by type, against
    what the YAML promised (dbt enforced the same contract when it built the table).
    """

    name: str
    contract: bool
    columns: dict[str, str]  # column name -> declared data_type (empty without a contract)
    may_be_empty: bool = False  # YAML config meta may_be_empty: no rows is a valid state (no revision yet)
    # YAML config meta publish_by: 'month' or 'year' for the large incremental marts: a publish
    # replaces only the changed months (or years) in the snapshot and writes one Parquet file
    # per year, so a night's publish does not grow with history
    publish_by: str | None = None
    # YAML config meta dimension_names: the name columns the model copies from a dimension,
    # refreshed in months a patch leaves alone (macros/refresh_dimension_names.sql)
    dimension_names: tuple[dict, ...] = ()


def published_models(settings: Settings) -> list[PublishedModel]:
    """The ``published`` models of the last dbt build, in manifest order (from ``manifest.json``)."""
    manifest_path = dbt_runner.manifest_path(settings)
    if not manifest_path.exists():
        raise PublishError(f"no dbt manifest at {manifest_path}: run the dbt build before publishing")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    models = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or PUBLISHED_TAG not in node.get("tags", []):
            continue
        contract = bool(node["config"].get("contract", {}).get("enforced"))
        columns = {name: (column.get("data_type") or "").lower() for name, column in node["columns"].items()}
        meta = node["config"].get("meta") or {}
        publish_by = meta.get("publish_by")
        if publish_by not in (None, "month", "year"):
            raise PublishError(f"model {node['name']}: meta publish_by is {publish_by!r}; it must be month or year")
        if publish_by and publish_by not in columns:
            raise PublishError(f"model {node['name']}: meta publish_by {publish_by!r} names no documented column")
        models.append(
            PublishedModel(
                node["name"],
                contract,
                columns if contract else {},
                bool(meta.get("may_be_empty")),
                publish_by,
                tuple(meta.get("dimension_names") or ()),
            )
        )
    if not any(m.contract for m in models):
        raise PublishError(f"the dbt manifest {manifest_path} has no published model with an enforced contract")
    return sorted(models, key=lambda m: (not m.contract, m.name))


def build_fingerprint(settings: Settings) -> str:
    """What a publish would contain: the loaded month versions and the dbt project."""
    with warehouse.connect(settings.warehouse_path) as con:
        loads = con.execute(
            """
            select string_agg(flow || ':' || month || ':' || load_id, ',' order by flow, month)
            from (
                select flow, month, load_id,
                       row_number() over (partition by flow, hs_level, month order by finished_at desc) as rn
                from audit.loads where status = 'loaded' and hs_level = ?
            ) where rn = 1
            """,
            [settings.hs_level],
        ).fetchone()[0]
        from trade_warehouse.load.audit import comtrade_loaded_versions

        mirror = comtrade_loaded_versions(con)  # the partners' reports (mirror marts); unchanged fingerprint without
        if mirror:
            loads = f"{loads}|comtrade:{mirror}"
    model_settings = json.dumps(dbt_runner.model_settings(), sort_keys=True)
    return hashlib.sha256(f"{loads}|{dbt_runner.project_fingerprint()}|{model_settings}".encode()).hexdigest()


CURRENT_VERSIONS_SQL = """
    select flow, strftime(month, '%Y-%m-%d') as month, load_id
    from (
        select flow, month, load_id,
               row_number() over (partition by flow, hs_level, month order by finished_at desc) as rn
        from audit.loads where status = 'loaded' and hs_level = ?
    )
    where rn = 1
"""


def changed_months(settings: Settings) -> list[str] | None:
    """The months ('YYYY-MM-DD') whose loaded version differs from the snapshot in service.

    The snapshot records the version (load id) of every flow-month it was built from and
    the scope fingerprint of its build (``meta.month_versions``, ``meta.publish``). A build
    and a publish on top of it need only touch these months. None means everything: no
    snapshot in service, one from before versions were recorded, or one built from another
    dbt project, model settings or HS level. After a rollback the snapshot in service is
    the reference, so the months that differ from *it* are rebuilt: never too few.
    """
    if not settings.serving_path.exists():
        return None
    try:
        served = duckdb.connect(str(settings.serving_path), read_only=True)
    except duckdb.Error as error:
        log.warning("cannot read the serving snapshot (%s): every month is rebuilt and republished", error)
        return None
    try:
        scope = served.execute("select scope_fingerprint from meta.publish").fetchone()[0]
        served_versions = set(served.execute("select flow, month, load_id from meta.month_versions").fetchall())
    except duckdb.Error:  # a snapshot published before versions were recorded
        return None
    finally:
        served.close()
    if scope != dbt_runner.scope_fingerprint(settings):
        return None
    with warehouse.connect(settings.warehouse_path) as con:
        current = set(con.execute(CURRENT_VERSIONS_SQL, [settings.hs_level]).fetchall())
    return sorted({month for _, month, _ in current ^ served_versions})


def has_loaded_months(settings: Settings) -> bool:
    with warehouse.connect(settings.warehouse_path) as con:
        return con.execute("select count(*) from audit.loads where status = 'loaded'").fetchone()[0] > 0


def last_published_fingerprint(settings: Settings) -> str | None:
    with warehouse.connect(settings.warehouse_path) as con:
        row = con.execute(
            "select fingerprint from audit.publishes where status = 'published' order by published_at desc limit 1"
        ).fetchone()
    return row[0] if row else None


def check_contract(con: duckdb.DuckDBPyConnection, schema: str, models: list[PublishedModel]) -> dict[str, int]:
    """Every contract table exists with the declared columns and types, and has rows.

    Returns the row counts of the contract tables. The column check repeats, on the
    copy that is about to be served, what dbt enforced on the warehouse's tables.
    """
    counts = {}
    problems = []
    for model in (m for m in models if m.contract):
        found = dict(
            con.execute(
                "select column_name, lower(data_type) from duckdb_columns() "
                "where database_name = ? and schema_name = 'marts' and table_name = ?",
                [schema, model.name],
            ).fetchall()
        )
        if not found:
            problems.append(f"{model.name}: missing")
            continue
        missing = [c for c in model.columns if c not in found]
        if missing:
            problems.append(f"{model.name}: missing columns {missing}")
        retyped = [
            f"{c} is {found[c]}, the contract says {t}"
            for c, t in model.columns.items()
            if c in found and t and found[c] != t
        ]
        if retyped:
            problems.append(f"{model.name}: " + "; ".join(retyped))
        counts[model.name] = con.execute(f"select count(*) from {schema}.marts.{model.name}").fetchone()[0]
        if counts[model.name] == 0 and not model.may_be_empty:
            problems.append(f"{model.name}: no rows")
    if problems:
        raise PublishError("snapshot breaks the mart contract: " + "; ".join(problems))
    return counts


def _previous_rows(settings: Settings, table: str) -> int:
    if not settings.serving_path.exists():
        return 0
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return con.execute(f"select count(*) from marts.{table}").fetchone()[0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


def _validate_candidate(con: duckdb.DuckDBPyConnection, settings: Settings, counts: dict[str, int]) -> None:
    """The marts GX suite on the candidate, with a row floor from the published snapshot."""
    from trade_warehouse.load import gate

    frame = con.execute(
        "select *, exports_usd - imports_usd - balance_usd as balance_check_usd "
        "from candidate.marts.trade_balance_monthly"
    ).df()
    previous = _previous_rows(settings, "trade_balance_monthly")
    result = gate.run_suite("marts_trade_balance", frame, {"min_rows": max(1, int(previous * 0.95))})
    if not result.success:
        raise PublishError(
            f"candidate snapshot failed the marts suite (previous snapshot: {previous} rows):\n" + result.summary()
        )


def _write_metadata(
    con: duckdb.DuckDBPyConnection, settings: Settings, publish_id: str, run_id: str, scope: str
) -> None:
    """What readers need to judge freshness: the publish and the last validation of each month.

    Also what the next publish compares against (``changed_months``): the scope fingerprint
    of this build and the load id of every flow-month it holds.
    """
    con.execute("drop schema if exists candidate.meta cascade")
    con.execute("create schema candidate.meta")
    con.execute(
        """
        create table candidate.meta.publish as
        select ?::varchar as publish_id, ?::varchar as run_id, now()::timestamp as published_at,
               (select min(month) from candidate.marts.dim_month) as first_month,
               (select max(month) from candidate.marts.dim_month) as last_month,
               (select count(*) from candidate.marts.dim_month) as months,
               (select bool_or(data_source = 'census-emulator') from candidate.marts.dim_month) as synthetic,
               ?::varchar as scope_fingerprint
        """,
        [publish_id, run_id, scope],
    )
    con.execute(
        f"create table candidate.meta.month_versions as {CURRENT_VERSIONS_SQL}",
        [settings.hs_level],
    )
    con.execute(
        """
        create table candidate.meta.validation_status as
        select flow, month, suite, success, failed_expectations, validated_at
        from (
            select *, row_number() over (partition by flow, month, suite order by validated_at desc) as rn
            from audit.validations
        )
        where rn = 1
        """
    )


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
    versions = settings.parquet_dir / "versions"
    parquet_staging = versions / f".staging-{publish_id}"
    parquet_version = versions / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{publish_id}"
    switched = False
    models = published_models(settings)
    patch = months is not None and serving.exists()
    previous_parquet = current_parquet(settings) if patch else None
    scope = dbt_runner.scope_fingerprint(settings)
    try:
        if patch:
            ready = base.wait() if base else None
            if ready and base.publish_id is not None and base.publish_id == _serving_publish_id(serving):
                os.replace(ready, candidate)  # copied while dbt built
            else:
                shutil.copyfile(serving, candidate)  # read-only readers of it are undisturbed
        with warehouse.connect(settings.warehouse_path) as con:
            con.execute(f"attach '{candidate}' as candidate")
            con.execute("create schema if not exists candidate.marts")
            renamed = _copy_marts(con, models, months if patch else None)
            counts = check_contract(con, "candidate", models)
            _validate_candidate(con, settings, counts)
            _write_metadata(con, settings, publish_id, run_id, scope)
            month_range = con.execute(
                "select count(*), min(month), max(month) from candidate.marts.dim_month"
            ).fetchone()
            checksum = con.execute(
                "select sum(exports_usd)::varchar || '/' || sum(imports_usd)::varchar "
                "from candidate.marts.trade_balance_monthly"
            ).fetchone()[0]
            con.execute("detach candidate")
            as_of.create_as_of_macro(candidate)  # "as of" queries, bound to the snapshot's own marts
            con.execute(f"attach '{candidate}' as candidate (read_only)")  # Parquet = exactly what is served
            for model in (m for m in models if m.contract):
                _export_parquet(
                    con,
                    model,
                    parquet_staging / model.name,
                    previous_parquet,
                    months if patch else None,
                    renamed.get(model.name, set()),
                )
            con.execute("detach candidate")
        (parquet_staging / PARQUET_MANIFEST).write_text(
            json.dumps({"publish_id": publish_id, "run_id": run_id, "row_counts": counts}, sort_keys=True)
        )
        os.replace(parquet_staging, parquet_version)
        _keep_previous(settings)
        os.replace(candidate, serving)
        _point_parquet_at(settings, parquet_version)
        switched = True
        _prune_parquet(settings)
        record = {
            "publish_id": publish_id,
            "run_id": run_id,
            "published_at": datetime.now(UTC).replace(tzinfo=None),
            "fingerprint": fingerprint,
            "months": month_range[0],
            "first_month": month_range[1],
            "last_month": month_range[2],
            "row_counts": json.dumps(counts, sort_keys=True),
            "checksum": checksum,
            "serving_path": str(serving),
            "status": "published",
            "scope_fingerprint": scope,
        }
        with warehouse.connect(settings.warehouse_path) as con:
            warehouse.insert_publish_audit(con, record)
        return {
            "publish_id": publish_id,
            "row_counts": counts,
            "months": month_range[0],
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


def _key_predicate(publish_by: str, months: list[str]) -> str:
    """SQL: the rows of ``months`` (publish_by month) or of their years (publish_by year)."""
    if not months:
        return "false"
    if publish_by == "month":
        return "month in (" + ", ".join(f"date '{m}'" for m in months) + ")"
    return "year in (" + ", ".join(sorted({m[:4] for m in months})) + ")"


def _copy_marts(
    con: duckdb.DuckDBPyConnection, models: list[PublishedModel], months: list[str] | None
) -> dict[str, set[int]]:
    """Fill ``candidate.marts`` from the writer's marts: whole, or patched by ``months``.

    Patching: the changed months (years) of each ``publish_by`` mart are replaced; names
    its YAML copies from a dimension (meta ``dimension_names``) are refreshed in the other
    months for the keys whose name differs between the dimension in service (still in the
    candidate) and the new one; usually none, so no history is read. Returns, per patched
    mart, the years outside ``months`` whose rows got a new name (their Parquet files must
    be written again, not reused).
    """
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'candidate' and schema_name = 'marts'"
        ).fetchall()
    }
    patch = [m for m in models if months is not None and m.publish_by and m.name in existing]
    renames: list[tuple[PublishedModel, dict, str]] = []
    for model in patch:  # before the dimensions are replaced: which names change
        for item in model.dimension_names:
            if item["dimension"] not in existing:
                continue
            columns = ", ".join([*item["keys"], item["column"]])
            where = item.get("filter", "true")
            changed = (
                f"select {columns} from marts.{item['dimension']} where {where} "
                f"except select {columns} from candidate.marts.{item['dimension']} where {where}"
            )
            if con.execute(f"select count(*) from ({changed})").fetchone()[0]:
                table = f"renamed_{len(renames)}"
                con.execute(f"create or replace temp table {table} as {changed}")
                renames.append((model, item, table))
    for model in models:
        if model in patch:
            predicate = _key_predicate(model.publish_by, months or [])
            con.execute(f"delete from candidate.marts.{model.name} where {predicate}")
            con.execute(
                f"insert into candidate.marts.{model.name} by name select * from marts.{model.name} where {predicate}"
            )
        else:
            con.execute(f"create or replace table candidate.marts.{model.name} as select * from marts.{model.name}")
    for stale in existing - {m.name for m in models}:  # a model no longer published
        con.execute(f"drop table candidate.marts.{stale}")
    renamed: dict[str, set[int]] = {}
    for model, item, table in renames:
        year_of = "year(t.month)" if model.publish_by == "month" else "t.year"
        keys = " and ".join(f"t.{k} = d.{k}" for k in item["keys"])
        column = item["column"]
        stale_rows = f"{keys} and t.{column} is distinct from d.{column}"
        years = con.execute(
            f"select distinct {year_of} from candidate.marts.{model.name} as t, {table} as d where {stale_rows}"
        ).fetchall()
        if years:
            renamed.setdefault(model.name, set()).update(y for (y,) in years)
            con.execute(
                f"update candidate.marts.{model.name} as t set {column} = d.{column} from {table} as d where {stale_rows}"
            )
        con.execute(f"drop table {table}")
    return renamed


def _export_parquet(
    con: duckdb.DuckDBPyConnection,
    model: PublishedModel,
    target: Path,
    previous: Path | None,
    months: list[str] | None,
    renamed_years: set[int],
) -> None:
    """One ``data.parquet`` per table; a ``publish_by`` table gets one ``<year>.parquet`` per year.

    Years a patch did not touch are hard links to the files of the set in service (the
    files are immutable), so a night writes the changed year only.
    """
    target.mkdir(parents=True)
    if not model.publish_by:
        con.execute(
            f"copy (select * from candidate.marts.{model.name}) to '{target / 'data.parquet'}' (format parquet)"
        )
        return
    year_of = "year(month)" if model.publish_by == "month" else "year"
    changed_years = None if months is None else {int(m[:4]) for m in months} | renamed_years
    years = [
        y for (y,) in con.execute(f"select distinct {year_of} from candidate.marts.{model.name} order by 1").fetchall()
    ]
    for year in years:
        file = target / f"{year}.parquet"
        reused = previous / model.name / file.name if previous else None
        if changed_years is not None and year not in changed_years and reused and reused.exists():
            try:
                os.link(reused, file)
                continue
            except OSError:
                pass  # another file system: write it
        con.execute(
            f"copy (select * from candidate.marts.{model.name} where {year_of} = {year}) to '{file}' (format parquet)"
        )


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
    for old in snapshots[:-KEEP_SNAPSHOTS]:
        old.unlink(missing_ok=True)


def current_parquet(settings: Settings) -> Path | None:
    """The Parquet set in service (the resolved ``current`` pointer), or None before the first publish.

    Readers that want several tables from one publish resolve this once and read under it.
    """
    pointer = settings.parquet_dir / PARQUET_POINTER
    return pointer.resolve() if pointer.is_symlink() else None


def _point_parquet_at(settings: Settings, version: Path) -> None:
    """Switch ``current`` to ``version`` with one rename: readers see the old set or the new one."""
    link = settings.parquet_dir / PARQUET_POINTER
    staging = settings.parquet_dir / f".{PARQUET_POINTER}-{uuid.uuid4().hex}"
    os.symlink(Path(version.parent.name) / version.name, staging)
    os.replace(staging, link)


def _prune_parquet(settings: Settings) -> None:
    """Keep the set in service and the newest few before it; drop the pre-versioning layout."""
    current = current_parquet(settings)
    versions = sorted(p.resolve() for p in (settings.parquet_dir / "versions").glob("*-*") if p.is_dir())
    previous = [v for v in versions if v != current]
    for old in previous[:-KEEP_SNAPSHOTS]:
        shutil.rmtree(old, ignore_errors=True)
    for legacy in settings.parquet_dir.iterdir():  # serving/parquet/<table>/ from before versioned sets
        if (
            legacy.is_dir()
            and not legacy.is_symlink()
            and legacy.name != "versions"
            and not legacy.name.startswith(".")
        ):
            shutil.rmtree(legacy, ignore_errors=True)


def _rollback_parquet(settings: Settings, restored: Path) -> Path | None:
    """Point ``current`` at the Parquet set of the restored snapshot's publish, when it is still kept."""
    con = duckdb.connect(str(restored), read_only=True)
    try:
        publish_id = con.execute("select publish_id from meta.publish").fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()
    matches = sorted((settings.parquet_dir / "versions").glob(f"*-{publish_id}"))
    if not matches:
        log.warning(
            "no Parquet set kept for publish %s: serving/parquet/current still points at %s",
            publish_id,
            current_parquet(settings),
        )
        return None
    _point_parquet_at(settings, matches[-1])
    return matches[-1]


def rollback(settings: Settings) -> Path:
    """Put the newest kept snapshot back in service (atomic rename of a copy), and its Parquet set."""
    snapshots = sorted(settings.snapshots_dir.glob("trade-*.duckdb"))
    if not snapshots:
        raise PublishError(f"no previous snapshot in {settings.snapshots_dir} to roll back to")
    previous = snapshots[-1]
    staging = settings.serving_path.parent / f".rollback-{uuid.uuid4().hex}.duckdb"
    shutil.copy2(previous, staging)
    os.replace(staging, settings.serving_path)
    previous.unlink()
    _rollback_parquet(settings, settings.serving_path)
    return previous
