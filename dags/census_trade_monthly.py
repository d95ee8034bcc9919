"""Census trade: extract -> land -> load + GX gate -> dbt build -> publish -> report.

Thin on purpose: the logic lives in the ``trade_warehouse`` package (imported inside the
tasks, so parsing this file does no I/O and imports nothing heavy).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

WRITER_POOL = "duckdb_writer"  # one slot: DuckDB allows a single writer process per file
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

DOC = """
### Census trade monthly load

Loads U.S. exports and imports by partner x HS commodity for a window of months and
republishes the marts. Trigger with params `month` (one month) or `start_month` +
`end_month` (YYYY-MM). `force` reloads months whose landed data did not change;
`from_landing` reloads from the landing zone without calling the API.

**On failure**: the last task (`finish`) lists every failed flow-month with the stage
and reason. Months that passed were still loaded and published. A validation failure
keeps the previous version of that month; its landed file stays under
`$TRADE_DATA_DIR/landing/census/<flow>/<level>/<month>/` for inspection, and
`audit.validations` in the warehouse holds the failed expectations.
"""


@dag(
    dag_id="census_trade_monthly",
    schedule=None,
    start_date=pendulum.datetime(2010, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["census", "trade", "warehouse"],
    doc_md=DOC,
    default_args={"retries": 0},
    params={
        "month": Param(None, type=["null", "string"], pattern=MONTH_PATTERN, description="one month, YYYY-MM"),
        "start_month": Param(None, type=["null", "string"], pattern=MONTH_PATTERN, description="first month"),
        "end_month": Param(None, type=["null", "string"], pattern=MONTH_PATTERN, description="last month"),
        "force": Param(False, type="boolean", description="reload months even if their data did not change"),
        "from_landing": Param(False, type="boolean", description="reload from landed files, no API calls"),
    },
)
def census_trade_monthly() -> None:
    @task(doc_md="Resolve and validate the months of this run from its params.")
    def plan(**context) -> list[str]:
        from trade_warehouse.pipeline import resolve_window

        return resolve_window(context["params"])

    @task(doc_md="Fetch each flow x month from the Census API (or emulator) and land the raw responses.")
    def extract(months: list[str], **context) -> dict:
        from trade_warehouse.config import load_settings
        from trade_warehouse.pipeline import extract, landed_targets

        settings = load_settings()
        if context["params"]["from_landing"]:
            return landed_targets(settings, months)
        return extract(settings, months)

    @task(pool=WRITER_POOL, doc_md="Validate each landed month with Great Expectations and swap it into the raw tables.")
    def load(extracted: dict, **context) -> dict:
        from trade_warehouse.config import load_settings
        from trade_warehouse.pipeline import load_and_validate

        return load_and_validate(load_settings(), extracted["landed"], context["run_id"], context["params"]["force"])

    @task(pool=WRITER_POOL, doc_md="dbt build (seeds, models, tests, unit tests), then publish the serving snapshot.")
    def transform_and_publish(loaded: dict, **context) -> dict:
        from trade_warehouse.config import load_settings
        from trade_warehouse.pipeline import transform_and_publish

        return transform_and_publish(load_settings(), context["run_id"], context["params"]["force"])

    @task(doc_md="Regenerate the HTML report from the serving snapshot.")
    def report(published: dict) -> str | None:
        from trade_warehouse.config import load_settings
        from trade_warehouse.report import render

        settings = load_settings()
        if not settings.serving_path.exists():
            return None  # nothing published yet (every month failed): finish says why
        return str(render(settings))

    @task(trigger_rule="all_done", doc_md="Rebuild the GX Data Docs site (docs/gx/) from this and earlier validations.")
    def gx_docs() -> str:
        from trade_warehouse.config import load_settings
        from trade_warehouse.pipeline import build_gx_docs

        return build_gx_docs(load_settings())

    @task(trigger_rule="all_done", doc_md="Fail the run if any month failed, naming each one and why.")
    def finish(extracted: dict, loaded: dict) -> None:
        from trade_warehouse.pipeline import raise_for_failures

        raise_for_failures(extracted, loaded)

    extracted = extract(plan())
    loaded = load(extracted)
    loaded >> gx_docs()
    published = transform_and_publish(loaded)
    report(published)  # a leaf: a failed build or publish fails the run
    published >> finish(extracted, loaded)


census_trade_monthly()
