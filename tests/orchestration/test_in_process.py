"""dag.test()'s trimmed Execution API serves the task SDK exactly the API the full one would.

Each probe runs in its own process: a version change binds to one Cadwyn bundle, so the
full and the trimmed bundle cannot both be built in one interpreter.
"""

import json
import os
import subprocess
import sys

import pytest

from trade_warehouse.orchestration.airflow_env import airflow_environment

pytestmark = pytest.mark.dag

PROBE = """
import hashlib, json, sys
import httpx
from airflow.sdk.api.datamodels._generated import API_VERSION
from trade_warehouse.orchestration.in_process import trim_in_process_api_versions
if sys.argv[1] == "broken":  # a Cadwyn that refuses the trimmed bundle (Airflow's own is built first)
    import cadwyn
    import airflow.api_fastapi.execution_api.versions
    def refuse(*args, **kwargs):
        raise cadwyn.exceptions.CadwynStructureError("refused by the test")
    real, cadwyn.VersionBundle = cadwyn.VersionBundle, refuse
trimmed = trim_in_process_api_versions() if sys.argv[1] in ("trim", "broken") else False
if sys.argv[1] == "broken":
    cadwyn.VersionBundle = real
again = trim_in_process_api_versions() if trimmed else None
from airflow.api_fastapi.execution_api import versions
from airflow.sdk.execution_time.supervisor import in_process_api_server
client = httpx.Client(transport=in_process_api_server().transport, base_url="http://in-process.invalid./")
health = client.get("/health", headers={"airflow-api-version": API_VERSION})
spec = client.get("/openapi.json", params={"version": API_VERSION})
print(json.dumps({
    "trimmed": trimmed, "again": again, "client": API_VERSION, "versions": list(versions.bundle.version_values),
    "health": health.status_code, "spec_status": spec.status_code, "paths": sorted(spec.json().get("paths", {})),
    "spec": hashlib.sha256(json.dumps(spec.json(), sort_keys=True).encode()).hexdigest(),
}))
"""


def probe(mode: str, tmp_path) -> dict:
    """Build the in-process API (full or trimmed) in a child process; its health and OpenAPI digest."""
    own = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env = airflow_environment({**own, "AIRFLOW_HOME": str(tmp_path / mode)})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_trimmed_api_is_the_full_api_at_the_task_sdks_version(tmp_path):
    full = probe("full", tmp_path)
    trimmed = probe("trim", tmp_path)
    assert trimmed["trimmed"] is True and trimmed["again"] is True  # a second call is a no-op
    assert len(trimmed["versions"]) < len(full["versions"])
    assert trimmed["versions"][0] == trimmed["client"] == full["versions"][0]
    assert trimmed["health"] == full["health"] == 200
    assert trimmed["spec_status"] == full["spec_status"] == 200
    assert "/task-instances/{task_instance_id}/run" in trimmed["paths"]
    assert trimmed["paths"] == full["paths"]
    assert trimmed["spec"] == full["spec"]
    refused = probe("broken", tmp_path)  # the full bundle, its version changes bound again
    assert refused["trimmed"] is False
    assert refused["versions"] == full["versions"] and refused["spec"] == full["spec"] and refused["health"] == 200


def test_a_layout_it_does_not_know_keeps_the_full_bundle():
    from types import SimpleNamespace

    from trade_warehouse.orchestration.in_process import untrimmable

    bundle = SimpleNamespace(version_values=("2026-06-30", "2026-04-06", "2025-11-05", "2025-10-27"))
    bundle.head_version = SimpleNamespace(changes=())
    assert untrimmable(bundle, "2026-06-30", server_created=False) is None
    assert "speaks 2027-01-01" in untrimmable(bundle, "2027-01-01", server_created=False)
    assert "already exists" in untrimmable(bundle, "2026-06-30", server_created=True)
    bundle.head_version = SimpleNamespace(changes=(object,))
    assert "head version" in untrimmable(bundle, "2026-06-30", server_created=False)
    assert "only 2 versions" in untrimmable(SimpleNamespace(version_values=("a", "b")), "a", server_created=False)


def test_the_extract_starts_gx_only_when_the_load_runs_in_its_process(monkeypatch):
    from trade_warehouse.load import gate
    from trade_warehouse.orchestration.dag_factory import warm_up_the_gate
    from trade_warehouse.orchestration.in_process import tasks_in_this_process, tasks_run_in_this_process

    started = []
    monkeypatch.setattr(gate, "warm_up", lambda: started.append("gx"))
    assert not tasks_run_in_this_process()
    warm_up_the_gate()  # a scheduler's task process: the load has its own process
    assert started == []
    with tasks_in_this_process():  # dag_runner.run_dag: every task runs here
        assert tasks_run_in_this_process()
        warm_up_the_gate()
    assert started == ["gx"]
    assert not tasks_run_in_this_process()


def test_the_load_starts_dbt_only_when_the_build_runs_in_its_process(monkeypatch):
    from trade_warehouse.orchestration.dag_factory import warm_up_the_transform
    from trade_warehouse.orchestration.in_process import tasks_in_this_process
    from trade_warehouse.transform import dbt_process

    started = []
    monkeypatch.setattr(dbt_process, "warm_up", lambda: started.append("dbt"))
    warm_up_the_transform()  # a scheduler's task process: the build has its own process
    assert started == []
    with tasks_in_this_process():
        warm_up_the_transform()
    assert started == ["dbt"]
