"""The mart contract: which models the serving snapshot carries, and the check it must pass.

Why apart from the publish: the contract is read from dbt's manifest (the models' YAML is
its one statement) and checked on any connection, so tests and the publish share it; the
publish itself only copies, checks and swaps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.core.errors import TerminalError
from trade_warehouse.transform import dbt_runner

PUBLISHED_TAG = "published"  # dbt tag of the models copied into the serving snapshot


class PublishError(TerminalError):
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
    models = [
        _published_model(node)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and PUBLISHED_TAG in node.get("tags", [])
    ]
    if not any(m.contract for m in models):
        raise PublishError(f"the dbt manifest {manifest_path} has no published model with an enforced contract")
    return sorted(models, key=lambda m: (not m.contract, m.name))


def _published_model(node: dict) -> PublishedModel:
    """One manifest node as a :class:`PublishedModel`, its ``publish_by`` meta checked."""
    contract = bool(node["config"].get("contract", {}).get("enforced"))
    columns = {name: (column.get("data_type") or "").lower() for name, column in node["columns"].items()}
    meta = node["config"].get("meta") or {}
    publish_by = meta.get("publish_by")
    if publish_by not in (None, "month", "year"):
        raise PublishError(f"model {node['name']}: meta publish_by is {publish_by!r}; it must be month or year")
    if publish_by and publish_by not in columns:
        raise PublishError(f"model {node['name']}: meta publish_by {publish_by!r} names no documented column")
    return PublishedModel(
        node["name"],
        contract,
        columns if contract else {},
        bool(meta.get("may_be_empty")),
        publish_by,
        tuple(meta.get("dimension_names") or ()),
    )


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
