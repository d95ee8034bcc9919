"""Prepare a Superset home for the Trade Warehouse; runs in the BI venv, not the main one.

Called by ``trade_warehouse.bi`` before the web server starts (and again on every start):
migrate the metadata DB, sync roles, set the admin password to the freshly generated one,
import the dashboard kept as code in ``bi/dashboard`` (overwriting what an earlier start
imported, so the repo stays the source of truth), refresh dataset columns from the
serving snapshot, and mark the KORUS date on the balance chart. Prints one JSON line with
the ids the caller needs.

Usage: python bootstrap.py <dashboard dir> <serving duckdb path | ducklake>   (admin password in
TRADE_BI_ADMIN_PASSWORD; SUPERSET_CONFIG_PATH points at bi/superset_config.py).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

KORUS_LAYER = "Trade agreements"
KORUS_NOTE = "KORUS in force"
KORUS_DATE = datetime(2012, 3, 15)
BALANCE_CHART_UUID = "21572132-d04b-43b1-8b4d-5452e51b7e42"
DASHBOARD_UUID = "b823a804-d9b7-4b1a-8173-e9bf05589b6a"


LAKE = "ducklake"  # in place of a serving path: the warehouse is a DuckLake (bi/lake_attach.py)


def bundle(dashboard_dir: Path, serving_path: Path | str) -> dict[str, str]:
    """The export as Superset reads it: relative path -> YAML text.

    Two things are filled in here rather than kept in the files: the serving file's
    absolute path (it depends on TRADE_DATA_DIR) and each chart's ``query_context``,
    which the files keep as a readable mapping and Superset wants as a JSON string. On the
    lake the database is an in-memory DuckDB that attaches the lake read-only on connect
    (a read-only in-memory database cannot be opened, so the flag goes), under its own name.
    """
    contents: dict[str, str] = {}
    for path in sorted(dashboard_dir.rglob("*.yaml")):
        rel = path.relative_to(dashboard_dir).as_posix()
        text = path.read_text().replace("${SERVING_PATH}", str(serving_path))
        if rel.startswith("charts/"):
            doc = yaml.safe_load(text)
            doc["query_context"] = json.dumps(doc["query_context"])
            text = yaml.safe_dump(doc, sort_keys=False)
        elif rel.startswith("databases/") and str(serving_path) == LAKE:
            doc = yaml.safe_load(text)
            doc["database_name"] = "Trade Warehouse (DuckLake, read-only)"
            doc["sqlalchemy_uri"] = "duckdb:///:memory:"
            doc["extra"]["engine_params"]["connect_args"].pop("read_only")
            text = yaml.safe_dump(doc, sort_keys=False)
        contents[rel] = text
    return contents


def refresh_datasets(dashboard_dir: Path, db: Any, table_model: Any) -> tuple[list[str], dict[str, str]]:
    """Refresh every dataset's columns from the snapshot; return the names and those it cannot read.

    A snapshot published before a mart existed (the state marts of issue 23, say) cannot
    answer that mart's datasets. Their YAML columns are kept and the name reported, so
    Superset still starts and every other tile works; the next publish brings the mart.
    """
    names: list[str] = []
    unreadable: dict[str, str] = {}
    for dataset_yaml in sorted((dashboard_dir / "datasets").rglob("*.yaml")):
        uuid = yaml.safe_load(dataset_yaml.read_text())["uuid"]
        dataset = db.session.query(table_model).filter_by(uuid=uuid).one()
        names.append(dataset.table_name)
        try:
            dataset.fetch_metadata()  # columns and types as the snapshot has them now
            db.session.commit()  # each on its own: a later failure rolls back only its own changes
        except Exception as error:  # noqa: BLE001 - any failure to read it: the dataset keeps its YAML columns
            db.session.rollback()
            unreadable[dataset.table_name] = (str(error).splitlines() or [type(error).__name__])[0][:300]
    return names, unreadable


def main(dashboard_dir: Path, serving_path: Path | str) -> dict:
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask import g
        from flask_migrate import upgrade
        from superset import appbuilder, security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.connectors.sqla.models import SqlaTable
        from superset.extensions import db
        from superset.models.annotations import Annotation, AnnotationLayer
        from superset.models.dashboard import Dashboard
        from superset.models.slice import Slice

        upgrade(directory=str(Path(app.root_path) / "migrations"))
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()

        password = os.environ["TRADE_BI_ADMIN_PASSWORD"]
        admin = security_manager.find_user(username="admin")
        if admin is None:
            admin = security_manager.add_user(
                "admin", "Trade", "Admin", "admin@localhost", security_manager.find_role("Admin"), password
            )
            if not admin:
                raise SystemExit("could not create the admin user")
        else:
            security_manager.reset_password(admin.id, password)
        db.session.commit()
        g.user = admin

        ImportAssetsCommand(bundle(dashboard_dir, serving_path)).run()
        db.session.commit()

        dataset_names, unreadable = refresh_datasets(dashboard_dir, db, SqlaTable)

        layer = db.session.query(AnnotationLayer).filter_by(name=KORUS_LAYER).one_or_none()
        if layer is None:
            layer = AnnotationLayer(name=KORUS_LAYER, descr="Trade agreements marked on the balance charts")
            db.session.add(layer)
            db.session.flush()
        if not db.session.query(Annotation).filter_by(layer_id=layer.id, short_descr=KORUS_NOTE).count():
            db.session.add(
                Annotation(
                    layer_id=layer.id,
                    short_descr=KORUS_NOTE,
                    start_dttm=KORUS_DATE,
                    end_dttm=KORUS_DATE,
                    long_descr="U.S.-Korea Free Trade Agreement",
                )
            )
        # Superset's importer keeps only formula annotations, so the event layer is
        # attached after the import, to both the saved form data and query context.
        chart = db.session.query(Slice).filter_by(uuid=BALANCE_CHART_UUID).one()
        annotation = {
            "name": "KORUS in force (2012-03-15)",
            "annotationType": "EVENT",
            "sourceType": "NATIVE",
            "value": layer.id,
            "show": True,
            "showLabel": True,
            "showMarkers": False,
            "hideLine": False,
            "color": "#d62728",
            "style": "dashed",
            "width": 2,
            "opacity": "",
            "overrides": {"time_range": None},
            "timeColumn": "",
            "intervalEndColumn": "",
            "titleColumn": "",
            "descriptionColumns": [],
        }
        params = json.loads(chart.params)
        params["annotation_layers"] = [annotation]
        chart.params = json.dumps(params)
        query_context = json.loads(chart.query_context)
        for query in query_context["queries"]:
            query["annotation_layers"] = [annotation]
        query_context["form_data"] = params
        chart.query_context = json.dumps(query_context)
        db.session.commit()

        dashboard = db.session.query(Dashboard).filter_by(uuid=DASHBOARD_UUID).one()
        return {
            "dashboard_id": dashboard.id,
            "dashboard_slug": dashboard.slug,
            "charts": {s.slice_name: s.id for s in dashboard.slices},
            "datasets": dataset_names,
            "unreadable_datasets": unreadable,
            "annotation_layer_id": layer.id,
        }


if __name__ == "__main__":
    result = main(Path(sys.argv[1]), sys.argv[2] if sys.argv[2] == LAKE else Path(sys.argv[2]))
    print("TRADE_BI_BOOTSTRAP " + json.dumps(result))
