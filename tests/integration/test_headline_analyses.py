"""The four headline questions of PRODUCT.md, answered by the saved dbt analyses on emulator data.

The emulator is calibrated to published Census-basis figures (reference section 10), so
the answers must match them: Japan about -$69 billion in 2016 with cars (8703) first,
Korea's deficit more than doubling from 2011 to 2016.
"""

import json

import duckdb
import pytest

from trade_warehouse.months import month_range
from trade_warehouse.pipeline import extract, load_and_validate, transform_and_publish
from trade_warehouse.publish import MART_CONTRACT
from trade_warehouse.transform import compiled_analysis

pytestmark = pytest.mark.integration


def run(settings, name: str) -> list[dict]:
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        cursor = con.execute(compiled_analysis(settings, name))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_headline_questions_and_documentation(emulator, settings):
    months = month_range("2011-01", "2011-12") + month_range("2016-01", "2016-12") + ["2017-01", "2017-02"]
    result = load_and_validate(settings, extract(settings, months)["landed"], "headline")
    assert not result["failures"]
    assert transform_and_publish(settings, "headline")["published"]

    japan = run(settings, "japan_deficit_and_drivers")
    assert [r["rank_in_partner"] for r in japan] == [1, 2, 3, 4, 5]
    assert japan[0]["year"] == 2016 and japan[0]["hs_code"] == "8703"
    assert japan[0]["partner_balance_usd"] == pytest.approx(-68.94e9, rel=0.005)
    assert 0.5 < japan[0]["share_of_partner_balance"] < 1.0

    korea = {r["year"]: r for r in run(settings, "korea_before_after_korus")}
    assert korea[2011]["balance_usd"] == pytest.approx(-13.2e9, rel=0.005)
    assert korea[2016]["balance_usd"] == pytest.approx(-27.57e9, rel=0.005)
    assert korea[2016]["deficit_ratio_to_2011"] > 2.0

    named = {(r["year"], r["item"]): r["value_usd"] for r in run(settings, "japan_named_commodities")}
    for item in ("LNG exports", "coal exports", "potato exports", "car imports"):
        assert named[(2016, item)] > 0, item
    assert named[(2016, "car imports")] == pytest.approx(0.38 * 132.24e9, rel=0.01)

    top = run(settings, "top_deficit_partners_ytd")
    assert len(top) == 10 and [r["deficit_rank"] for r in top] == list(range(1, 11))
    assert top[0]["partner_name"] == "CHINA"
    assert all(r["balance_ytd_usd"] < 0 for r in top)
    # the same period a year earlier (2016-01..02) is loaded, so the change is known
    assert all(r["change_usd"] == r["balance_ytd_usd"] - r["balance_ytd_year_ago_usd"] for r in top)
    assert (settings.dbt_docs_dir / "index.html").stat().st_size > 10_000

    # every model is described, and so is every column BI tools see in the marts
    manifest = json.loads((settings.data_dir / "dbt" / "target" / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert all(node["description"].strip() for node in models.values())
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    for table in [*MART_CONTRACT, "dim_partner", "dim_commodity", "dim_month"]:
        columns = [c for (c,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'marts' and table_name = ?", [table]
        ).fetchall()]
        documented = {name for name, c in models[table]["columns"].items() if c["description"].strip()}
        assert set(columns) <= documented, (table, set(columns) - documented)
    con.close()
