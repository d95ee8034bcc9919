"""The pipeline's Airflow DAGs, built from one task graph.

``census_trade_nightly`` (scheduled daily) asks the source what is new;
``census_trade_monthly`` stands for one month per run (so ``airflow backfill create``
yields one run per month) or for the window given in its params. Both run:

    plan -> has_work -> extract -> load -> transform_and_publish -> report
                                      \\-> gx_docs                 finish (all_done)

Every task that can fail as a whole is wrapped in :func:`record_failure`, which leaves a typed
``TaskFailure`` for the run summary before the task fails. Importing this module is cheap: the
pipeline modules are imported inside the tasks.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pendulum
from airflow.sdk import DAG, Asset, Param, task
from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSkipException, TaskDeferred

from trade_warehouse.core.config import RETRY_DELAY_ENV, WRITER_POOL, WRITER_QUEUE, number_setting, writer_queue
from trade_warehouse.orchestration.alerts import TradeAlertNotifier, task_failure

log = logging.getLogger(__name__)
T = TypeVar("T")
CONTROL_FLOW = (AirflowSkipException, AirflowRescheduleException, TaskDeferred)  # not failures

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
SERVING_SNAPSHOT = Asset(name="trade_warehouse_serving", uri="file:///trade-warehouse/serving/trade.duckdb")

DEFAULT_ARGS = {
    "owner": "trade-warehouse",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3: 2 min, 4 min, 8 min ... (max 30 min)
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
    "on_failure_callback": TradeAlertNotifier(),
    "depends_on_past": False,
}

ON_CALL = """
**On failure** the `finish` task lists every failed flow-month with its stage (extract,
load, validate) and reason; months that passed were loaded and published anyway. A
month that failed validation keeps its previous version; its landed files stay under
`$TRADE_DATA_DIR/landing/census/<flow>/<level>/<month>/`, and `audit.validations` in the
warehouse (or GX Data Docs, `docs/gx/index.html`) shows the failed expectations. A task
that fails as a whole (settings, plan, dbt, publish, docs) leaves its cause in XCom
(`task_failure`); the alert and `make backfill` name it in one line. A bad API key fails at
plan or extract without retries: fix the `census_api` connection. Transient API
errors were already retried; re-run the month (trigger `census_trade_monthly` with
`month=YYYY-MM`) once the API answers. `make rollback` restores the previous snapshot.
"""


NIGHTLY_DOC = (
    "### Census trade nightly\n\nEvery day at 14:00 UTC: asks the Census API whether the month "
    "after the newest landed one is released (204 = not yet: a quick green run that rebuilds "
    "nothing), loads every newly released month, and after the April data (early June) "
    "re-pulls the loaded months of the three-year revision window; only months whose data "
    "changed are reloaded and republished.\n" + ON_CALL
)
MONTHLY_DOC = (
    "### Census trade monthly (backfills and re-runs)\n\nEach run loads one month: the month of "
    "its logical date, so `airflow backfill create --dag-id census_trade_monthly "
    "--from-date 2016-01-01 --to-date 2016-12-01 --max-active-runs 1` makes one run per month. "
    "Triggered by hand, params choose the months: `month`, or `start_month` + `end_month` "
    "(YYYY-MM, from 2010-01 to the latest released month); `force` reloads unchanged months; "
    "`from_landing` reloads from landed files without calling the API. Its own monthly "
    "schedule asks for a month that is usually not released yet: such runs end green, "
    "loading nothing.\n" + ON_CALL
)


def monthly_params() -> dict[str, Param]:
    """The monthly DAG's trigger form: checked by Airflow before a run starts."""
    return {
        "month": Param(None, type=["null", "string"], pattern=MONTH_PATTERN, description="one month, YYYY-MM"),
        "start_month": Param(None, type=["null", "string"], pattern=MONTH_PATTERN, description="first, YYYY-MM"),
        "end_month": Param(None, type=["null", "string"], pattern=MONTH_PATTERN, description="last, YYYY-MM"),
        "force": Param(False, type="boolean", description="reload months even if their data did not change"),
        "from_landing": Param(False, type="boolean", description="reload from landed files, no API calls"),
    }


def record_failure(function: Callable[..., T]) -> Callable[..., T]:
    """Make a task leave its typed cause (a ``TaskFailure``, XCom key ``task_failure``) when it fails.

    Month failures travel in the stage results; a task that fails as a whole (settings, plan,
    dbt, publish, docs) leaves this instead, so the CLI's run summary names the cause without
    reading the log. Airflow's control-flow exceptions (skip, defer, reschedule) pass untouched.
    """

    @functools.wraps(function)
    def recorded(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except CONTROL_FLOW:
            raise
        except Exception as error:
            leave_task_failure(error)
            raise

    return recorded


def leave_task_failure(error: Exception) -> None:
    """Push the running task's ``TaskFailure``; never let the recording hide the failure itself."""
    from airflow.sdk import get_current_context

    from trade_warehouse.core.results import TASK_FAILURE_KEY

    try:
        ti = get_current_context()["ti"]
        ti.xcom_push(key=TASK_FAILURE_KEY, value=task_failure(ti.task_id, error).to_xcom())
    except Exception as push_error:  # noqa: BLE001 - the task's own error is what matters
        log.warning("could not record the task's failure: %s", push_error.__class__.__name__)


# Tasks both source graphs end with (Census and Comtrade): one definition each, used by both.
@task(
    trigger_rule="all_done",
    retries=0,
    doc_md="Rebuild the GX Data Docs site (docs/gx/) from the saved validation results.",
)
@record_failure
def gx_docs() -> str:
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.report.data_docs import build_gx_docs

    return build_gx_docs(load_settings())


@task(
    pool=WRITER_POOL,
    queue=WRITER_QUEUE,
    outlets=[SERVING_SNAPSHOT],
    doc_md="dbt build (models, snapshot, tests, unit tests) of the changed months, then publish the serving "
    "snapshot (contract + GX marts suite, atomic rename). Skipped when nothing changed.",
)
@record_failure
def transform_and_publish(**context) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from trade_warehouse.core.config import load_settings
    from trade_warehouse.publish.stage import transform_and_publish

    force = bool(context["params"].get("force"))
    result = transform_and_publish(load_settings(), context["run_id"], force, docs=False)
    if not result.published:
        raise AirflowSkipException(f"not published: {result.reason}")
    return result.to_xcom()


@task(
    pool=WRITER_POOL,
    queue=WRITER_QUEUE,
    retries=0,
    doc_md="Regenerate the dbt docs page (docs/dbt/) when the dbt project changed; after the publish, "
    "so readers never wait for it.",
)
@record_failure
def dbt_docs() -> bool:
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.publish.stage import build_dbt_docs

    return build_dbt_docs(load_settings())


@task(execution_timeout=timedelta(minutes=10), doc_md="Regenerate the HTML report from the new snapshot.")
@record_failure
def report() -> str:
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.report.html import render

    return str(render(load_settings()))


def wire_pipeline(plan, has_work, extract, load, finish) -> None:
    """The graph every source DAG has (Census and Comtrade), inside its ``with DAG``.

    plan -> has_work -> extract -> load -> gx_docs; load -> transform_and_publish ->
    report and dbt_docs; finish (fails the run on any failed month) after the publish.
    The source-specific tasks are passed in; the tasks after the load are the shared ones.
    The writers' Celery queue is fixed here, when the DAG is parsed, from the backend
    (``writer_queue``): ``duckdb`` for the file, the default queue for the lake.
    """
    planned = plan()
    extracted = extract(planned)
    has_work(planned) >> extracted
    loaded = load(extracted)
    loaded >> gx_docs()
    published = transform_and_publish()
    loaded >> published >> [report(), dbt_docs()]
    published >> finish(extracted, loaded)
    queue = writer_queue()
    for operator in loaded.operator.dag.tasks:
        if operator.pool == WRITER_POOL:
            operator.queue = queue


def fail_run(error: Exception) -> None:
    """End a run's ``finish`` task failed with the failures' summary, keeping them for the alert."""
    from airflow.sdk.exceptions import AirflowFailException

    failed = AirflowFailException(str(error))
    failed.failures = getattr(error, "failures", [])  # the alert sends them as structured fields too
    raise failed from None


def retry_delay() -> timedelta:
    """The delay before a failed task is retried: ``$TRADE_TASK_RETRY_DELAY_S`` or 2 minutes.

    The scheduler computes a retry's time from the serialized DAG, so the value is fixed when
    the DAG is parsed; reading one environment variable does no I/O. Deployment tests set it
    to seconds so that a killed task is retried quickly.
    """
    default = DEFAULT_ARGS["retry_delay"].total_seconds()
    return timedelta(seconds=number_setting(os.environ, RETRY_DELAY_ENV, default, minimum=0))


def census_plan(nightly: bool) -> Callable[..., Any]:
    """The Census ``plan`` task: the nightly release check, or the months the params name."""

    @task(
        retries=0,
        execution_timeout=timedelta(minutes=10),
        doc_md="Decide the months of this run (release-aware at night; params or the data interval "
        "otherwise). Bad params fail here at once, saying which value and why.",
    )
    @record_failure
    def plan(**context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from trade_warehouse.sources.census import plan_run

        check_warehouse_backend()
        try:
            return plan_run(nightly, context["params"], context.get("logical_date"))
        except ValueError as error:
            raise AirflowFailException(str(error)) from None

    return plan


def check_warehouse_backend() -> None:
    """On the DuckLake backend, open the lake once: a bad setting fails the run's first task, by name.

    The storage is probed before the catalog is attached, so nothing is written. The file
    backend needs no check (its directory is created on first use).
    """
    from trade_warehouse.core.config import load_settings

    settings = load_settings()
    if settings.backend == "ducklake":
        from trade_warehouse.load import lake

        lake.check(settings)


@task.short_circuit(doc_md="Stop here, green, when there is nothing to load.")
def has_work(planned: dict) -> bool:
    return bool(planned["months"])


@task(
    execution_timeout=timedelta(hours=3),
    doc_md="Fetch each flow x month (bounded concurrency, paced) and land the raw responses.",
)
@record_failure
def extract(planned: dict, **context) -> dict:
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.sources.census import extract, landed_targets

    settings = load_settings()
    warm_up_the_gate()
    if context["params"].get("from_landing"):
        return landed_targets(settings, planned["months"]).to_xcom()
    return extract(settings, planned["months"], run_id=context["run_id"]).to_xcom()


def warm_up_the_gate() -> None:
    """When the run's tasks share this process (``make run``, ``make backfill``: ``dag.test()``),
    start importing GX now: the load, next in this process, then finds it imported.

    GX's import costs 6 to 8 s of one core on this machine; the load already overlaps it with
    its first months' reading, but a night loads one month and waited about 6 s for it. The
    extraction mostly waits on the API, so the import fits beside it. Under a scheduler the
    load runs in its own process: nothing is started here.
    """
    from trade_warehouse.orchestration.in_process import tasks_run_in_this_process

    if tasks_run_in_this_process():
        from trade_warehouse.load import gate

        gate.warm_up()


def warm_up_the_transform() -> None:
    """When the run's tasks share this process, start the dbt process of the coming build now.

    dbt's import costs about 3.5 s of one core before dbt reads its command; started here,
    it runs beside the load, and the build's dbt command is sent to the process
    (``transform.dbt_process``). The nightly build at 84 months, run alone: 14.6 s -> 11.5 s
    with the process ready; in a run, where the import shares the cores with the load, less
    (bench/README.md). Under a scheduler the build runs in its own task process: nothing is
    started here.
    """
    from trade_warehouse.orchestration.in_process import tasks_run_in_this_process

    if tasks_run_in_this_process():
        from trade_warehouse.transform import dbt_process

        dbt_process.warm_up()


@task(
    pool=WRITER_POOL,
    queue=WRITER_QUEUE,
    doc_md="Validate each landed month with Great Expectations; swap it into the raw "
    "tables in one transaction. Skips months whose data did not change.",
)
@record_failure
def load(extracted: dict, **context) -> dict:
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.core.results import ExtractResult
    from trade_warehouse.sources.census import load_and_validate

    targets = ExtractResult.from_xcom(extracted).landed
    warm_up_the_transform()
    return load_and_validate(
        load_settings(), targets, context["run_id"], bool(context["params"].get("force"))
    ).to_xcom()


@task(
    trigger_rule="all_done",
    retries=0,
    execution_timeout=timedelta(minutes=5),
    doc_md="Fail the run if any month failed, naming each month, stage and reason.",
)
def finish(extracted: dict | None, loaded: dict | None) -> None:
    from trade_warehouse.core.results import ExtractResult, LoadResult, PipelineError, raise_for_failures

    try:
        raise_for_failures(
            ExtractResult.from_xcom(extracted) if extracted else None,
            LoadResult.from_xcom(loaded) if loaded else None,
        )
    except PipelineError as error:
        fail_run(error)


def build_dag(dag_id: str, nightly: bool) -> DAG:
    """One of the two pipeline DAGs (see the module docstring)."""
    if nightly:
        schedule, doc, params = "0 14 * * *", NIGHTLY_DOC, {}  # daily 14:00 UTC, after the 8:30 ET release
    else:
        schedule, doc, params = "@monthly", MONTHLY_DOC, monthly_params()
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=pendulum.datetime(2010, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["census", "trade", "warehouse", "nightly" if nightly else "backfill"],
        doc_md=doc,
        default_args={**DEFAULT_ARGS, "retry_delay": retry_delay()},
        params=params,
    ) as dag:
        wire_pipeline(census_plan(nightly), has_work, extract, load, finish)
    return dag
