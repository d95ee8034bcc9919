"""Everything that knows about Airflow: the DAGs' task graphs, the failure alert, the Airflow
environment of the CLI and tests, and the in-process DAG runner.

The pipeline's stages (``trade_warehouse.sources.*``, ``publish`` ...) never import Airflow;
the tasks here call them and turn their typed results into XCom.
"""
