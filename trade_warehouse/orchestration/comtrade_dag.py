"""The mirror-statistics DAG: the partners' own reports from UN Comtrade.

A DAG of its own because Comtrade publishes on another calendar than the Census Bureau
(partners report months late, one by one). It runs daily after the Census nightly and
shares the warehouse writer with it: the writing tasks run in the same ``duckdb_writer``
pool and ``duckdb`` queue, and take the same writer lock.

    plan -> has_work -> extract -> load -> transform_and_publish -> report
                                     \\-> gx_docs                 finish (all_done)

Importing this module is cheap: the pipeline modules are imported inside the tasks.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task

from trade_warehouse.core.config import WRITER_POOL, WRITER_QUEUE
from trade_warehouse.orchestration.dag_factory import (
    DEFAULT_ARGS,
    check_warehouse_backend,
    finish,
    record_failure,
    retry_delay,
    wire_pipeline,
)

DAG_ID = "comtrade_mirror_monthly"
YEAR_PARAM = {"type": ["null", "integer"], "minimum": 2010, "maximum": 2100}

DOC = """
### UN Comtrade mirror statistics

Daily at 16:00 UTC (after the Census nightly): for every year with Census data in the
landing zone whose Comtrade data are not complete yet (some partner has not reported some
month), asks UN Comtrade for the partners' own reports of their trade with the U.S. (one
call per year: 12 periods, every reporter of `TRADE_COMTRADE_REPORTERS`, both flows), lands
them, validates them with the `comtrade_monthly` GX suite, loads them and republishes the
serving snapshot with `marts.mirror_trade_annual`. Complete years are never asked again
(a free key allows about 500 calls a day). Params: `year`, or `start_year` + `end_year`;
`force` reloads unchanged years.

**On failure** `finish` names each failed year with its stage. A missing or wrong key fails
at extract without retries: set the `comtrade_api` connection (password = subscription key)
or `COMTRADE_API_KEY`. A 429 was already retried after the server's hint.
"""


@task(
    retries=0,
    execution_timeout=timedelta(minutes=5),
    doc_md="Decide the years of this run from the landing zones (never the warehouse).",
)
@record_failure
def plan(**context) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from trade_warehouse.core.config import ConfigError, load_comtrade_settings, load_settings
    from trade_warehouse.sources import comtrade
    from trade_warehouse.sources.census.release import landed_months

    check_warehouse_backend()
    try:
        settings = load_settings()
        return comtrade.plan(
            settings, load_comtrade_settings(), dict(context["params"]), census_months=landed_months(settings)
        )
    except (ValueError, ConfigError) as error:
        raise AirflowFailException(str(error)) from None


@task.short_circuit(doc_md="Stop here, green, when no year needs asking for.")
def has_work(planned: dict) -> bool:
    return bool(planned["years"])


@task(execution_timeout=timedelta(hours=1), doc_md="Fetch each year and land the raw responses.")
@record_failure
def extract(planned: dict, **context) -> dict:
    from trade_warehouse.core.config import load_comtrade_settings, load_settings
    from trade_warehouse.sources import comtrade

    settings, comtrade_settings = load_settings(), load_comtrade_settings()
    load_only = planned.get("load_only", [])
    return comtrade.extract(
        settings, comtrade_settings, planned["years"], context["run_id"], load_only=load_only
    ).to_xcom()


@task(
    pool=WRITER_POOL,
    queue=WRITER_QUEUE,
    doc_md="Validate each landed year (GX comtrade_monthly) and swap it into raw.comtrade_monthly.",
)
@record_failure
def load(extracted: dict, **context) -> dict:
    from trade_warehouse.core.config import load_comtrade_settings, load_settings
    from trade_warehouse.core.results import ExtractResult
    from trade_warehouse.sources import comtrade

    years = [int(landed.month) for landed in ExtractResult.from_xcom(extracted).landed]  # a year's period: YYYY
    force = bool(context["params"].get("force"))
    return comtrade.load(load_settings(), load_comtrade_settings(), years, context["run_id"], force).to_xcom()


def build_comtrade_dag(dag_id: str = DAG_ID) -> DAG:
    """The Comtrade mirror DAG (see the module docstring); ``finish`` is the Census DAGs' own."""
    with DAG(
        dag_id=dag_id,
        schedule="0 16 * * *",
        start_date=pendulum.datetime(2010, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["comtrade", "mirror", "trade", "warehouse"],
        doc_md=DOC,
        default_args={**DEFAULT_ARGS, "retry_delay": retry_delay()},
        params={
            "year": Param(None, **YEAR_PARAM, description="one year, YYYY"),
            "start_year": Param(None, **YEAR_PARAM, description="first year"),
            "end_year": Param(None, **YEAR_PARAM, description="last year"),
            "force": Param(False, type="boolean", description="ask again for complete years; reload unchanged"),
        },
    ) as dag:
        wire_pipeline(plan, has_work, extract, load, finish)
    return dag
