"""docker/'s `lake` profile: MinIO, its bucket and key, and the DuckLake catalog database.

The compose file is checked as Compose resolves it (no Docker engine here). The catalog
script, ``docker/lake_catalog_init.sh``, runs for real against a Debian PostgreSQL: the
role and database it makes must hold a lake the pipeline opens with the role's password.
MinIO's own script (``minio_init.sh``) needs the MinIO image and is only read here.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest
from stack import DOCKER_DIR, StackError, compose_config, fresh_secrets

from trade_warehouse.core.config import load_settings
from trade_warehouse.load import lake

pytestmark = pytest.mark.deploy

LAKE_SERVICES = {"minio", "minio-init", "lake-catalog-init"}
LAKE_SECRETS = ("MINIO_ROOT_PASSWORD", "TRADE_LAKE_S3_SECRET_KEY", "TRADE_LAKE_DB_PASSWORD")


def environment(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_the_lake_profile_adds_storage_and_a_catalog_and_points_the_tasks_at_them():
    variables = {**fresh_secrets(), "TRADE_WAREHOUSE_BACKEND": "ducklake"}
    default = compose_config(variables)["services"]
    lake_stack = compose_config(variables, "lake", "celery")["services"]
    assert set(lake_stack) - set(compose_config(variables, "celery")["services"]) == LAKE_SERVICES
    assert not LAKE_SERVICES & set(default)

    scheduler = environment(lake_stack["scheduler"])
    assert scheduler["TRADE_WAREHOUSE_BACKEND"] == "ducklake"
    assert scheduler["TRADE_DUCKLAKE_CATALOG"] == "postgres:dbname=trade_lake host=postgres port=5432 user=trade_lake"
    assert scheduler["TRADE_DUCKLAKE_DATA_PATH"] == "s3://trade-lake/warehouse/"
    assert scheduler["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert scheduler["PGPASSWORD"] == variables["TRADE_LAKE_DB_PASSWORD"]
    assert scheduler["AWS_SECRET_ACCESS_KEY"] == variables["TRADE_LAKE_S3_SECRET_KEY"]
    # the password is never in the catalog string (the pipeline refuses one there)
    assert "password" not in scheduler["TRADE_DUCKLAKE_CATALOG"]
    # every task runner waits for the bucket and the catalog database
    for name in ("scheduler", "worker", "worker-duckdb", "airflow-init"):
        depends = lake_stack[name]["depends_on"]
        for init in ("minio-init", "lake-catalog-init"):
            assert depends[init]["condition"] == "service_completed_successfully", (name, init)
    assert default["scheduler"]["depends_on"]["minio-init"]["required"] is False  # harmless without the profile

    minio, init = lake_stack["minio"], lake_stack["minio-init"]
    assert "9000" not in str(minio.get("ports", []))  # inside the compose network only
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert environment(minio)["MINIO_ROOT_PASSWORD"] == variables["MINIO_ROOT_PASSWORD"]
    # MinIO's root credentials stay with MinIO and its init step, never with a task
    for name, service in lake_stack.items():
        if variables["MINIO_ROOT_PASSWORD"] in str(service):
            assert name in ("minio", "minio-init"), name
    assert lake_stack["lake-catalog-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("minio", "minio-init"):
        assert ":latest" not in lake_stack[name]["image"] and "RELEASE." in lake_stack[name]["image"]
    # AWS S3 itself: the endpoint can be set empty, and a bucket of one's own named
    aws = compose_config(
        {**variables, "AWS_ENDPOINT_URL": "", "TRADE_DUCKLAKE_DATA_PATH": "s3://corp-trade/lake/"}, "lake"
    )["services"]["scheduler"]
    assert environment(aws)["AWS_ENDPOINT_URL"] == ""
    assert environment(aws)["TRADE_DUCKLAKE_DATA_PATH"] == "s3://corp-trade/lake/"


@pytest.mark.parametrize("name", LAKE_SECRETS)
def test_every_lake_credential_is_required(name):
    variables = fresh_secrets()
    del variables[name]
    with pytest.raises(StackError, match=f"required variable {name} is missing a value"):
        compose_config(variables, "lake")


def run_catalog_init(lake_services, lake_password: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": "127.0.0.1",
        "PGPORT": str(lake_services.postgres.port),
        "PGUSER": "airflow",
        "PGDATABASE": "postgres",
        "PGPASSWORD": lake_services.password,
        "LAKE_DB_PASSWORD": lake_password,
    }
    return subprocess.run(
        ["sh", str(DOCKER_DIR / "lake_catalog_init.sh")], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_catalog_init_makes_a_database_the_pipeline_opens_and_runs_again_safely(lake_services, tmp_path):
    first_password, second_password = secrets.token_hex(12), secrets.token_hex(12)
    first = run_catalog_init(lake_services, first_password)
    assert first.returncode == 0, first.stderr
    assert "role and database trade_lake ready" in first.stdout
    assert first_password not in first.stdout + first.stderr

    env = {
        "TRADE_WAREHOUSE_BACKEND": "ducklake",
        "TRADE_DUCKLAKE_CATALOG": f"postgres:dbname=trade_lake host=127.0.0.1 port={lake_services.postgres.port} "
        "user=trade_lake",
        "TRADE_DUCKLAKE_DATA_PATH": str(tmp_path / "lake-data"),
        "PGPASSWORD": first_password,
        "TRADE_DATA_DIR": str(tmp_path / "data"),
    }
    lake.check(load_settings(env))  # the first writer creates the lake in the new database
    with lake.connect(load_settings(env)) as con:
        con.execute("create table audit.kept as select 'kept' as publish_id")

    # again, with a rotated password: nothing lost, the new password works, the old one not
    again = run_catalog_init(lake_services, second_password)
    assert again.returncode == 0, again.stderr
    with lake.connect(load_settings({**env, "PGPASSWORD": second_password}), read_only=True) as con:
        assert con.execute("select publish_id from audit.kept").fetchall() == [("kept",)]
    with pytest.raises(lake.LakeError, match="TRADE_DUCKLAKE_CATALOG=") as refused:
        lake.check(load_settings(env))
    assert first_password not in str(refused.value)


def test_the_minio_init_script_is_idempotent_and_scoped_to_the_bucket():
    """Read only (no MinIO here): the parts that make a second run and a leaked key harmless."""
    script = (DOCKER_DIR / "minio_init.sh").read_text()
    assert "set -eu" in script
    assert "mc mb --ignore-existing" in script
    assert "arn:aws:s3:::${LAKE_BUCKET}/*" in script and '"s3:*"' not in script
    assert "MC_HOST_lake" in script and "mc alias set" not in script  # no credentials file written
    check = subprocess.run(["sh", "-n", str(DOCKER_DIR / "minio_init.sh")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
