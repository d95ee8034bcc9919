#!/bin/sh
# Profile lake, service lake-catalog-init (image postgres): the DuckLake catalog's role and
# database in the stack's PostgreSQL. Idempotent: runs on every `up`; the role's password
# follows TRADE_LAKE_DB_PASSWORD (a rotated one takes effect on the next `up`). DuckLake
# creates its own tables in the database on the first load.
# Connects with libpq's PGHOST/PGPORT/PGUSER/PGDATABASE/PGPASSWORD (an administrator).
set -eu
: "${LAKE_DB_PASSWORD:?}"
LAKE_DB="${LAKE_DB:-trade_lake}"
psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 -v lake_db="$LAKE_DB" -v lake_password="$LAKE_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'lake_db')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'lake_db')
\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'lake_db', :'lake_password')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'lake_db', :'lake_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'lake_db')
\gexec
SQL
echo "lake-catalog-init: role and database ${LAKE_DB} ready"
