"""End to end: the Comtrade mirror DAG through Airflow's dag.test(), against the emulator over HTTP,
into marts.mirror_trade_annual of the published serving snapshot."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import pytest
from duck import query

from trade_warehouse.core.config import load_comtrade_settings
from trade_warehouse.core.results import FlowMonth
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator import comtrade as route
from trade_warehouse.orchestration.dag_runner import run_dag
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources import comtrade
from trade_warehouse.sources.census import extract, load_and_validate
from trade_warehouse.sources.census.release import landed_months

pytestmark = pytest.mark.dag
DAG_ID = "comtrade_mirror_monthly"
CENSUS_CODES = {"392": "5880", "410": "5800", "156": "5700"}


def states(result: dict) -> dict[str, str]:
    return {t["task_id"]: t["state"].rsplit(".", 1)[-1].lower() for t in result["tasks"]}


def expected_row(generator: route.MirrorGenerator, m49: str) -> dict:
    """The mart row for January 2017, computed from the planted parameters and the U.S. data
    (not from the mart's SQL, and not from the route's own ``value``)."""
    planted, census = route.PLANTED[m49], CENSUS_CODES[m49]
    share = planted.transit_share
    us_exports = generator.us_value("exports", census, 2017, 1)
    us_imports = generator.us_value("imports", census, 2017, 1)
    in_transit = generator.us_value("exports", census, 2016, 12)  # December's shipments arrive in January
    cif = round(((1 - share) * us_exports + share * in_transit) * planted.cif_factor)
    arriving_later = generator.us_value("imports", census, 2017, 2)
    exports = round(((1 - share) * us_imports + share * arriving_later) * (1 - planted.reexport_share))
    fob = int((Decimal(cif) / Decimal("1.06")).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return {
        "partner_imports_cif_usd": cif,
        "partner_imports_fob_usd": fob,
        "partner_exports_usd": exports,
        "us_exports_usd": us_exports,
        "us_imports_usd": us_imports,
        "us_reported_balance_usd": us_exports - us_imports,
        "partner_reported_balance_usd": fob - exports,
        "export_asymmetry_usd": us_exports - fob,
        "import_asymmetry_usd": us_imports - exports,
        "export_asymmetry_pct": pytest.approx(100 * (us_exports - fob) / us_exports, abs=0.006),
        "import_asymmetry_pct": pytest.approx(100 * (us_imports - exports) / us_imports, abs=0.006),
        "us_months_covered": 1,
        "partner_months_covered": 1,
    }


def test_mirror_dag_fills_mirror_trade_annual_with_the_planted_asymmetries(
    airflow_db, emulator, settings, monkeypatch, capfd
):
    monkeypatch.setenv("COMTRADE_API_BASE_URL", emulator.base_url.replace("/data/timeseries/intltrade", "/data/v1"))
    monkeypatch.setenv("COMTRADE_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("COMTRADE_API_PACING_S", "0")
    route.state_for(emulator.state).latest_month = "2017-01"  # partners have reported January only
    load_and_validate(settings, extract(settings, ["2017-01"]).landed, "census-seed")

    result = run_dag({}, DAG_ID)
    assert states(result) == dict.fromkeys(
        ["plan", "has_work", "extract", "load", "gx_docs", "transform_and_publish", "report", "dbt_docs", "finish"],
        "success",
    ), result

    columns = [
        name for (name,) in query(settings.serving_path, "select column_name from (describe marts.mirror_trade_annual)")
    ]
    rows = query(settings.serving_path, "select * from marts.mirror_trade_annual order by partner_m49")
    mart = {row[columns.index("partner_m49")]: dict(zip(columns, row, strict=True)) for row in rows}
    assert set(mart) == set(CENSUS_CODES)
    generator = route.MirrorGenerator(emulator.state.universe)
    for m49, census in CENSUS_CODES.items():
        assert mart[m49]["partner_code"] == census and mart[m49]["year"] == 2017
        assert {k: mart[m49][k] for k in expected_row(generator, m49)} == expected_row(generator, m49), m49
    # the monthly variant holds the same January on both sides
    monthly = query(
        settings.serving_path,
        "select partner_m49, month, partner_imports_cif_usd, import_asymmetry_usd "
        "from marts.mirror_trade_monthly order by partner_m49",
    )
    assert [(m49, str(month), cif, gap) for m49, month, cif, gap in monthly] == [
        (m49, "2017-01-01", mart[m49]["partner_imports_cif_usd"], mart[m49]["import_asymmetry_usd"])
        for m49 in sorted(CENSUS_CODES)
    ]
    # re-exports through Hong Kong dominate China's import-side gap; Japan's is timing only
    assert mart["156"]["import_asymmetry_pct"] > 10 > abs(mart["392"]["import_asymmetry_pct"])

    # traceable: raw rows carry the load id of a loaded, validated, synthetic-labelled load
    warehouse = settings.warehouse_path
    assert query(warehouse, "select status, rows, source from audit.comtrade_loads") == [
        ("loaded", 6, "comtrade-emulator")
    ]
    assert query(
        warehouse, "select count(*) from raw.comtrade_monthly r join audit.comtrade_loads a using (load_id)"
    ) == [(6,)]
    assert query(warehouse, "select suite, success from audit.validations where flow = 'comtrade'") == [
        ("comtrade_monthly", True)
    ]
    landed = settings.data_dir / "landing" / "comtrade" / "2017"
    manifest = [json.loads(line) for line in (landed / "manifest.jsonl").read_text().splitlines()]
    assert [m["row_count"] for m in manifest] == [6] and "842" in manifest[0]["request"]
    assert "two sides of the balance" in settings.report_path.read_text().lower()

    # the next night (the DAG's stages, without a second Airflow run to keep the test short):
    # 2017 is incomplete, so it is asked again; new bytes, same rows -> no reload, no publish
    published = query(settings.serving_path, "select publish_id from meta.publish")
    comtrade_settings = load_comtrade_settings()
    planned = comtrade.plan(settings, comtrade_settings, census_months=landed_months(settings))
    assert planned["years"] == [2017]
    extracted = comtrade.extract(settings, comtrade_settings, planned["years"], "night-2")
    assert extracted.landed == [FlowMonth("comtrade", "2017")] and not extracted.failures
    assert [(c["year"], c["rows"], c["complete"]) for c in extracted.costs] == [(2017, 6, False)]
    loaded = comtrade.load(settings, comtrade_settings, [2017], "night-2")
    assert [item.status for item in loaded.unchanged] == ["unchanged"] and not loaded.loaded
    republished = transform_and_publish(settings, "night-2")
    assert not republished.published and republished.reason == "unchanged"
    assert query(settings.serving_path, "select publish_id from meta.publish") == published
    assert query(warehouse, "select count(*) from audit.comtrade_loads where status = 'loaded'") == [(1,)]

    output = capfd.readouterr()
    for path in landed.iterdir():
        assert DEMO_API_KEY.encode() not in path.read_bytes(), path
    assert DEMO_API_KEY not in output.out + output.err
