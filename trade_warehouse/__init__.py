"""Trade Warehouse: U.S. international trade statistics, from the Census API to BI-ready marts.

The package holds all pipeline logic so that the Airflow DAG files in ``dags/`` stay thin
and every stage can be unit-tested without Airflow.
"""

__version__ = "0.1.0"
