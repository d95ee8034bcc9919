#!/usr/bin/env bash
# Write docker/.env from .env.example with fresh random secrets, once. Prints the admin
# password a single time (it is also in .env, readable only by you); never overwrites.
set -euo pipefail
cd "$(dirname "$0")"
if [ -e .env ]; then
  echo "docker/.env exists; not overwriting it (delete it first to start over)" >&2
  exit 1
fi
hex() { python3 -c "import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))" "$1"; }
fernet=$(python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())")
admin_password=$(hex 16)
umask 077
sed -e "s/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=$(hex 24)/" \
    -e "s/^AIRFLOW_FERNET_KEY=$/AIRFLOW_FERNET_KEY=${fernet}/" \
    -e "s/^AIRFLOW_JWT_SECRET=$/AIRFLOW_JWT_SECRET=$(hex 32)/" \
    -e "s/^AIRFLOW_API_SECRET_KEY=$/AIRFLOW_API_SECRET_KEY=$(hex 32)/" \
    -e "s/^REDIS_PASSWORD=$/REDIS_PASSWORD=$(hex 24)/" \
    -e "s/^AIRFLOW_ADMIN_PASSWORD=$/AIRFLOW_ADMIN_PASSWORD=${admin_password}/" \
    -e "s/^MINIO_ROOT_PASSWORD=$/MINIO_ROOT_PASSWORD=$(hex 24)/" \
    -e "s/^TRADE_LAKE_S3_SECRET_KEY=$/TRADE_LAKE_S3_SECRET_KEY=$(hex 24)/" \
    -e "s/^TRADE_LAKE_DB_PASSWORD=$/TRADE_LAKE_DB_PASSWORD=$(hex 24)/" \
    .env.example > .env
if [ "$(uname -s)" = Linux ]; then echo "AIRFLOW_UID=$(id -u)" >> .env; fi
echo "wrote docker/.env (mode 600)."
echo "Airflow admin login: $(grep '^AIRFLOW_ADMIN_USERNAME=' .env | cut -d= -f2) / ${admin_password}"
echo "(shown once; it stays in docker/.env)"
