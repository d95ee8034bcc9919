"""dbt failures are read from dbt's run_results.json, not grepped from its console output."""

import json
import time

import pytest

from trade_warehouse.transform.dbt_runner import failed_nodes

pytestmark = pytest.mark.unit


def test_failed_nodes_name_the_test_the_rows_and_the_message(tmp_path):
    path = tmp_path / "run_results.json"
    path.write_text(
        json.dumps(
            {
                "results": [
                    {"unique_id": "model.trade_warehouse.dim_month", "status": "success", "message": "OK"},
                    {
                        "unique_id": "test.trade_warehouse.assert_partners_sum_to_world_total",
                        "status": "fail",
                        "failures": 3,
                        "message": "Got 3 results,\n configured to fail if != 0",
                    },
                    {
                        "unique_id": "model.trade_warehouse.trade_balance_annual",
                        "status": "error",
                        "failures": None,
                        "message": "Binder Error: column x not found",
                    },
                    {"unique_id": "test.trade_warehouse.not_null_x", "status": "skipped", "message": ""},
                ]
            }
        )
    )
    assert failed_nodes(path) == [
        "test.trade_warehouse.assert_partners_sum_to_world_total: fail (3 failing rows): Got 3 results, configured "
        "to fail if != 0",
        "model.trade_warehouse.trade_balance_annual: error: Binder Error: column x not found",
    ]
    # a results file older than this invocation belongs to an earlier run: not reported
    assert failed_nodes(path, since=time.time() + 60) == []
    assert failed_nodes(tmp_path / "missing.json") == []
