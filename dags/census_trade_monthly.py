"""One run per month of Census trade data: backfills (`airflow backfill create`) and re-runs.

Thin on purpose: the task graph is built in trade_warehouse.orchestration.dag_factory.
"""

from trade_warehouse.orchestration.dag_factory import build_dag

dag = build_dag("census_trade_monthly", nightly=False)
