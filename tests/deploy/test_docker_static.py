"""Offline checks of docker/: the compose file as Compose resolves it, the compose-spec
schema, hadolint on the Dockerfile, and the image's versions against the lock.

There is no Docker engine on the machines that run these tests: images are neither
built nor run here (docker/README.md lists what that leaves unproven).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from stack import (
    COMPOSE_FILE,
    DEPLOYMENT_SECRETS,
    DOCKER_DIR,
    REPO,
    StackError,
    compose_binary,
    compose_config,
    fresh_secrets,
)

pytestmark = pytest.mark.deploy

BIN = Path(sys.executable).parent
DOCKERFILE = DOCKER_DIR / "Dockerfile"
SECRETS = (*DEPLOYMENT_SECRETS, "CENSUS_API_KEY")
OPTIONAL_SECRETS = ("COMTRADE_API_KEY",)  # mirror statistics: off without it, so never required
# required names that are not secret (the example file gives them a value)
NAMES = ("MINIO_ROOT_USER", "TRADE_LAKE_S3_ACCESS_KEY")
REQUIRED = (*SECRETS, *NAMES, "CENSUS_API_BASE_URL")
AIRFLOW_SERVICES = {"airflow-init", "api-server", "scheduler", "dag-processor", "triggerer"}
CELERY_WORKERS = {"worker", "worker-duckdb"}


@pytest.fixture(scope="module")
def variables() -> dict[str, str]:
    return fresh_secrets()


@pytest.fixture(scope="module")
def full(variables) -> dict:
    """Every profile on, Celery executor: the largest form of the file."""
    return compose_config({**variables, "AIRFLOW_EXECUTOR": "CeleryExecutor"}, "demo", "celery", "debug", "lake")


def environment(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_compose_resolves_per_profile_and_matches_the_schema(variables):
    default = compose_config(variables)
    assert set(default["services"]) == {"postgres", *AIRFLOW_SERVICES}
    demo = compose_config(variables, "demo")
    assert set(demo["services"]) - set(default["services"]) == {"census-emulator"}
    celery = compose_config(variables, "celery")
    assert set(celery["services"]) - set(default["services"]) == {"redis", *CELERY_WORKERS}
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr


@pytest.mark.parametrize("name", REQUIRED)
def test_every_secret_is_required_and_never_defaulted(variables, name):
    without = {k: v for k, v in variables.items() if k != name}
    with pytest.raises(StackError, match=f"required variable {name} is missing a value"):
        compose_config(without)
    text = COMPOSE_FILE.read_text()
    assert not re.search(rf"\$\{{{name}:?-", text), f"{name} has a default in the compose file"


def test_no_constant_secrets_and_one_jwt_secret_and_fernet_key(full, variables):
    """Every secret-looking setting of every service comes from the environment we gave."""
    secretish = re.compile(r"(PASSWORD$|SECRET|FERNET|_KEY$|SQL_ALCHEMY_CONN|BROKER_URL|RESULT_BACKEND|REDISCLI_AUTH)")
    ours = [variables[s] for s in (*SECRETS, *OPTIONAL_SECRETS, *NAMES)]
    checked = 0
    for name, service in full["services"].items():
        for key, value in environment(service).items():
            if secretish.search(key):
                checked += 1
                assert any(secret in value for secret in ours), f"{name}: {key} is not from the environment"
    assert checked >= 8 * 6  # seven secret settings in each of the eight Airflow services, and more
    airflow = [n for n, s in full["services"].items() if "AIRFLOW__CORE__EXECUTOR" in environment(s)]
    assert AIRFLOW_SERVICES | CELERY_WORKERS <= set(airflow)
    for key, value in (
        ("AIRFLOW__API_AUTH__JWT_SECRET", variables["AIRFLOW_JWT_SECRET"]),
        ("AIRFLOW__CORE__FERNET_KEY", variables["AIRFLOW_FERNET_KEY"]),
        ("AIRFLOW__API__SECRET_KEY", variables["AIRFLOW_API_SECRET_KEY"]),
    ):
        assert {environment(full["services"][n]).get(key) for n in airflow} == {value}, key
    # the admin password reaches only the init service, which writes it for the auth manager
    holders = [n for n, s in full["services"].items() if variables["AIRFLOW_ADMIN_PASSWORD"] in str(s)]
    assert holders == ["airflow-init"]


def test_api_server_is_published_on_loopback_only_by_default(variables):
    [port] = compose_config(variables)["services"]["api-server"]["ports"]
    assert port["host_ip"] == "127.0.0.1" and port["target"] == 8080
    [port] = compose_config({**variables, "AIRFLOW_API_BIND": "0.0.0.0"})["services"]["api-server"]["ports"]
    assert port["host_ip"] == "0.0.0.0"


def test_health_checks_and_start_order_as_in_the_official_file(full):
    services = full["services"]
    for name in AIRFLOW_SERVICES | CELERY_WORKERS | {"postgres", "redis", "census-emulator"}:
        if name != "airflow-init":
            assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in AIRFLOW_SERVICES - {"airflow-init"} | CELERY_WORKERS:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    for name in CELERY_WORKERS:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["api-server"]["condition"] == "service_healthy"
    assert services["scheduler"]["depends_on"]["redis"]["required"] is False  # LocalExecutor needs no Redis
    assert "/api/v2/version" in " ".join(services["api-server"]["healthcheck"]["test"])
    assert services["scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert services["census-emulator"]["profiles"] == ["demo"]


def test_executor_and_the_one_duckdb_writer_worker(variables, full):
    local = compose_config(variables)["services"]
    assert {environment(s)["AIRFLOW__CORE__EXECUTOR"] for n, s in local.items() if n in AIRFLOW_SERVICES} == {
        "LocalExecutor"
    }
    services = full["services"]
    assert (
        environment(services["scheduler"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        == "http://api-server:8080/execution/"
    )
    writers = [n for n, s in services.items() if "duckdb" in (s.get("command") or [])]
    assert writers == ["worker-duckdb"]
    command = services["worker-duckdb"]["command"]
    assert command[command.index("--queues") + 1] == "duckdb"
    assert command[command.index("--concurrency") + 1] == "1"
    assert services["worker-duckdb"].get("deploy", {}).get("replicas", 1) == 1
    assert services["worker"]["command"][services["worker"]["command"].index("--queues") + 1] == "default"
    # the data volume is mounted where tasks run: the scheduler (LocalExecutor) and the workers
    for name in ("scheduler", "worker", "worker-duckdb", "airflow-init"):
        targets = {v["target"]: v["source"] for v in services[name]["volumes"]}
        assert targets.get("/opt/trade-data") == "trade-data", name
        assert environment(services[name])["TRADE_DATA_DIR"] == "/opt/trade-data"
    assert "/opt/trade-data" not in {v["target"] for v in services["api-server"].get("volumes", [])}


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_versions_match_the_lock_and_it_runs_as_airflow():
    text = DOCKERFILE.read_text()
    [base] = re.findall(r"^FROM\s+(\S+)", text, re.M)
    match = re.fullmatch(r"apache/airflow:slim-(\d+\.\d+\.\d+)-python(\d+\.\d+)", base)
    assert match, base
    lock = (REPO / "requirements.lock").read_text()
    assert f"apache-airflow=={match[1]}\n" in lock
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f">={match[2]}" in requires and match[2] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    for package in ("psycopg2-binary", "asyncpg", "apache-airflow-providers-celery", "redis"):
        assert re.search(rf"^{package}==", lock, re.M), f"{package} is not in the lock"
    assert "requirements.lock" in text and "--no-deps --editable ." in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] == "50000"  # the official image's `airflow` user


def test_locked_celery_executor_imports():
    """The lock's Celery and its provider work together (celery 5.7 broke provider 3.26)."""
    done = subprocess.run(
        [sys.executable, "-c", "from airflow.providers.celery.executors.celery_executor import app"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_build_context_keeps_secrets_and_local_state_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in ("docker/.env", "**/.env", ".venv", "data", ".git", ".airflow"):
        assert entry in ignored, entry
    assert ".env" in (DOCKER_DIR / ".gitignore").read_text().split()


def test_env_example_names_every_required_variable_with_no_secret_values():
    example = dict(
        line.split("=", 1)
        for line in (DOCKER_DIR / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in REQUIRED:
        assert name in example, name
    for name in SECRETS:
        if name != "CENSUS_API_KEY":  # the example's key is the emulator's public demo key
            assert example[name] == "", f"{name} has a value in .env.example"
    assert example["CENSUS_API_KEY"] == "census-emulator-demo-key"


def test_generate_env_writes_fresh_private_secrets_once(tmp_path):
    for name in (".env.example", "generate-env.sh"):
        (tmp_path / name).write_bytes((DOCKER_DIR / name).read_bytes())
    (tmp_path / "generate-env.sh").chmod(0o755)
    first = subprocess.run([str(tmp_path / "generate-env.sh")], capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    env = tmp_path / ".env"
    assert env.stat().st_mode & 0o077 == 0
    values = dict(line.split("=", 1) for line in env.read_text().splitlines() if line and not line.startswith("#"))
    assert all(len(values[name]) >= 32 for name in SECRETS if name != "CENSUS_API_KEY")
    assert first.stdout.count(values["AIRFLOW_ADMIN_PASSWORD"]) == 1  # printed once
    again = subprocess.run([str(tmp_path / "generate-env.sh")], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode != 0 and values["AIRFLOW_ADMIN_PASSWORD"] in env.read_text()
    config = subprocess.run(
        [str(compose_binary()), "--env-file", str(env), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert config.returncode == 0, config.stderr


def test_retry_delay_comes_from_the_environment(monkeypatch):
    from trade_warehouse.core.config import RETRY_DELAY_ENV
    from trade_warehouse.orchestration.dag_factory import build_dag

    monkeypatch.setenv(RETRY_DELAY_ENV, "7")
    assert {t.retry_delay for t in build_dag("census_trade_monthly", nightly=False).tasks} == {timedelta(seconds=7)}
    monkeypatch.delenv(RETRY_DELAY_ENV)
    assert {t.retry_delay for t in build_dag("census_trade_monthly", nightly=False).tasks} == {timedelta(minutes=2)}
    monkeypatch.setenv(RETRY_DELAY_ENV, "soon")
    with pytest.raises(ValueError, match=RETRY_DELAY_ENV):
        build_dag("census_trade_monthly", nightly=False)


@pytest.mark.parametrize(("backend", "queue"), [("duckdb", "duckdb"), ("ducklake", "default")])
def test_the_writers_queue_follows_the_backend(monkeypatch, backend, queue):
    """The file's writers wait for the one `duckdb` worker; the lake's run on any worker."""
    from trade_warehouse.orchestration.comtrade_dag import build_comtrade_dag
    from trade_warehouse.orchestration.dag_factory import build_dag

    monkeypatch.setenv("TRADE_WAREHOUSE_BACKEND", backend)
    for dag in (build_dag("census_trade_monthly", nightly=False), build_comtrade_dag()):
        writers = {t.task_id: t.queue for t in dag.tasks if t.pool == "duckdb_writer"}
        assert {"load", "transform_and_publish"} <= set(writers), dag.dag_id
        assert set(writers.values()) == {queue}, dag.dag_id
        others = {t.queue for t in dag.tasks if t.pool != "duckdb_writer"}
        assert others == {"default"}, dag.dag_id
    monkeypatch.setenv("TRADE_WAREHOUSE_BACKEND", "sqlite")
    with pytest.raises(ValueError, match="TRADE_WAREHOUSE_BACKEND='sqlite'"):
        build_dag("census_trade_monthly", nightly=False)


def test_duckdb_settings_reach_the_services_with_the_pipelines_defaults(variables):
    """An operator's memory limits and storage format in docker/.env reach the tasks; unset, the code's defaults."""
    from trade_warehouse.core import duckdb_settings

    defaults = {
        "TRADE_DUCKDB_MEMORY_LIMIT": duckdb_settings.DEFAULT_DUCKDB_MEMORY_LIMIT,
        "TRADE_DBT_MEMORY_LIMIT": duckdb_settings.DEFAULT_DBT_MEMORY_LIMIT,
        "TRADE_DUCKDB_STORAGE_VERSION": duckdb_settings.DEFAULT_DUCKDB_STORAGE_VERSION,
    }
    scheduler = environment(compose_config(variables)["services"]["scheduler"])
    assert {name: scheduler.get(name) for name in defaults} == defaults
    chosen = {
        "TRADE_DUCKDB_MEMORY_LIMIT": "2GB",
        "TRADE_DBT_MEMORY_LIMIT": "3GB",
        "TRADE_DUCKDB_STORAGE_VERSION": "v1.0.0",
    }
    scheduler = environment(compose_config({**variables, **chosen})["services"]["scheduler"])
    assert {name: scheduler.get(name) for name in chosen} == chosen
