"""The dashboard kept as code (bi/dashboard) hangs together before Superset ever sees it.

Superset's importer maps uuids and placeholder chart ids to the ids it creates, and a slip
(a chart on no dataset, a filter on a column its dataset lacks, two charts sharing a
placeholder id) shows only as a broken tile in a browser minutes later; tests/bi imports the
bundle into a real Superset. These checks are the static part, in milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

BI = Path(__file__).resolve().parents[2] / "bi"
DASHBOARD = BI / "dashboard"


def load(kind: str) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((DASHBOARD / kind).rglob("*.yaml"))}


def bootstrap_module():
    spec = importlib.util.spec_from_file_location("bi_bootstrap", BI / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chart_has_its_dataset_and_a_place_on_the_dashboard():
    datasets = {d["uuid"]: d for d in load("datasets").values()}
    charts = load("charts")
    (dashboard,) = load("dashboards").values()
    placed = [
        item["meta"] for item in dashboard["position"].values() if isinstance(item, dict) and item["type"] == "CHART"
    ]
    assert sorted(m["uuid"] for m in placed) == sorted(c["uuid"] for c in charts.values())
    placeholders = [m["chartId"] for m in placed]
    assert len(set(placeholders)) == len(placeholders), "each chart needs its own placeholder chartId"
    for name, chart in charts.items():
        dataset = datasets[chart["dataset_uuid"]]
        columns = {c["column_name"] for c in dataset["columns"]}
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        for query in chart["query_context"]["queries"]:
            assert set(query["columns"]) <= columns, name
            assert set(query["metrics"]) <= metrics, name
            assert {col for col, _ in query["orderby"]} <= columns | metrics, name
        assert next(m for m in placed if m["uuid"] == chart["uuid"])["sliceName"] == chart["slice_name"]


def test_the_state_map_is_a_us_country_map_with_its_native_filters():
    charts = {c["uuid"]: c for c in load("charts").values()}
    datasets = {d["uuid"]: d for d in load("datasets").values()}
    (dashboard,) = load("dashboards").values()
    (chart,) = [c for c in charts.values() if c["viz_type"] == "country_map"]
    params = chart["params"]
    assert params["select_country"] == "usa" and params["entity"] == "iso_3166_2"
    assert params["metric"] == "exports_usd" and params["linear_color_scheme"]
    # a dashboard colour scheme would be handed to the map as its color_scheme: categorical colours
    assert not dashboard["metadata"]["color_scheme"] and "color_scheme" not in params

    placed = {
        item["meta"]["uuid"]: item
        for item in dashboard["position"].values()
        if isinstance(item, dict) and item["type"] == "CHART"
    }
    filters = {f["name"]: f for f in dashboard["metadata"]["native_filter_configuration"]}
    assert set(filters) == {"Partner", "HS chapter", "HS code"}
    map_dataset = datasets[chart["dataset_uuid"]]
    columns = {c["column_name"] for c in map_dataset["columns"]}
    for name, native in filters.items():
        assert native["id"].startswith("NATIVE_FILTER-") and native["type"] == "NATIVE_FILTER", name
        (target,) = native["targets"]
        assert target["datasetUuid"] == map_dataset["uuid"] and target["column"]["name"] in columns, name
        # Superset works out the charts in scope from rootPath and excluded (which must be a list)
        scope = native["scope"]
        assert isinstance(scope["excluded"], list), name
        in_scope = [
            uuid
            for uuid, item in placed.items()
            if item["meta"]["chartId"] not in scope["excluded"] and set(item["parents"]) & set(scope["rootPath"])
        ]
        assert in_scope == [chart["uuid"]], name  # the map alone
        assert "chartsInScope" not in native, name  # ids of another instance: Superset works them out
    partner = filters["Partner"]
    assert partner["controlValues"]["enableEmptyFilter"]
    assert partner["defaultDataMask"]["extraFormData"]["filters"] == [
        {"col": "partner_name", "op": "IN", "val": ["JAPAN"]}
    ]
    assert partner["defaultDataMask"]["filterState"]["value"] == ["JAPAN"]


def test_the_bundle_is_what_superset_imports():
    bundle = bootstrap_module().bundle(DASHBOARD, Path("/data/serving/trade.duckdb"))
    assert "metadata.yaml" in bundle and "dashboards/trade_overview.yaml" in bundle
    for path, text in bundle.items():
        doc = yaml.safe_load(text)
        if path.startswith("charts/"):
            assert json.loads(doc["query_context"])["queries"], path  # a JSON string, as Superset stores it
        if path.startswith("databases/"):
            assert doc["sqlalchemy_uri"] == "duckdb:////data/serving/trade.duckdb"
