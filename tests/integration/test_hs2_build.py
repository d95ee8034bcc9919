"""TRADE_HS_LEVEL=HS2 builds and publishes: the commodity marts hold the chapters alone.

At HS2 the detail codes are chapters, and dim_commodity used to label them as HS4 and HS6
rows too, failing its `length(hs_code) = hs_level` test (issue 21).
"""

import pytest
from duck import query

from trade_warehouse.core.config import Settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.report.html import render
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.integration


def test_hs2_warehouse_builds_publishes_and_reports(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADE_HS_LEVEL", "HS2")
    settings = Settings(
        base_url=emulator.base_url, api_key=DEMO_API_KEY, data_dir=tmp_path / "data", hs_level="HS2", pacing_s=0.0
    )
    result = load_and_validate(settings, extract(settings, ["2016-01"]).landed, "hs2")
    assert not result.failures
    published = transform_and_publish(settings, "hs2")  # the dbt build runs every data and unit test
    assert published.published, published.reason

    serving = settings.serving_path
    assert query(serving, "select distinct hs_level, length(hs_code) from marts.dim_commodity") == [(2, 2)]
    assert query(serving, "select distinct hs_level from marts.commodity_trade_monthly") == [(2,)]
    # the chapters add up to the partners' published totals (dbt's assert_hs_levels_nest checks each level)
    assert query(
        serving,
        "select count(*) from (select partner_code, sum(exports_usd) as e, sum(imports_usd) as i "
        "from marts.commodity_trade_monthly group by 1) c join marts.trade_balance_monthly t using (partner_code) "
        "where c.e <> t.exports_usd or c.i <> t.imports_usd",
    ) == [(0,)]
    assert published.row_counts["commodity_balance_annual"] == 0  # HS4 headings: none at HS2, valid there

    page = render(settings).read_text(encoding="utf-8")
    assert "No data for commodity drivers." in page
