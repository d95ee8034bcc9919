"""Airflow DAG: the partners' own trade reports from UN Comtrade (mirror statistics), daily.

Thin on purpose: the task graph is built in trade_warehouse.orchestration.comtrade_dag.
"""

from trade_warehouse.orchestration.comtrade_dag import build_comtrade_dag

dag = build_comtrade_dag()
