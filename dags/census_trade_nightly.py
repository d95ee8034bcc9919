"""Airflow DAG: the scheduled, release-aware nightly load of Census trade data (daily, 14:00 UTC).

Thin on purpose: the task graph is built in trade_warehouse.orchestration.dag_factory.
"""

from trade_warehouse.orchestration.dag_factory import build_dag

dag = build_dag("census_trade_nightly", nightly=True)
