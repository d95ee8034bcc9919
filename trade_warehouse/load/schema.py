"""The warehouse's own tables (raw, audit), created on every writer connection.

Why a module of its own: both backends create them, the DuckDB file (``warehouse``) and the
DuckLake catalog (``lake``, which has no primary keys: ``lake_schema_sql``).
"""

from __future__ import annotations

SCHEMA_SQL = """
create schema if not exists raw;
create schema if not exists audit;
create table if not exists raw.census_exports_hs (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, hs_code varchar not null, hs_description varchar,
    all_value_usd bigint not null, landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_imports_hs (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, hs_code varchar not null, hs_description varchar,
    gen_value_usd bigint not null, con_value_usd bigint not null, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.census_exports_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, summary_level varchar,
    all_value_usd bigint not null, landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_imports_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, summary_level varchar,
    gen_value_usd bigint not null, con_value_usd bigint not null, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.census_exports_hs4_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    hs_code varchar not null, hs_description varchar, all_value_usd bigint not null,
    landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_imports_hs4_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    hs_code varchar not null, hs_description varchar, gen_value_usd bigint not null, con_value_usd bigint not null,
    landed_file varchar not null, loaded_at timestamp not null
);
-- state-level trade (exports/statehs by state of origin, imports/statehs by state of destination):
-- rows by state (and '-', all states) x individual partner (and '-', all countries) x commodity,
-- value and shipping weight (kg) by method of transport; vessel includes containerized vessel
create table if not exists raw.census_state_exports_hs (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    state_code varchar not null, partner_code varchar not null, partner_name varchar, hs_code varchar not null,
    hs_description varchar, all_value_usd bigint not null, air_value_usd bigint not null,
    air_weight_kg bigint not null, vessel_value_usd bigint not null, vessel_weight_kg bigint not null,
    container_value_usd bigint not null, container_weight_kg bigint not null, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.census_state_imports_hs (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    state_code varchar not null, partner_code varchar not null, partner_name varchar, hs_code varchar not null,
    hs_description varchar, gen_value_usd bigint not null, con_value_usd bigint not null,
    air_value_usd bigint not null, air_weight_kg bigint not null, vessel_value_usd bigint not null,
    vessel_weight_kg bigint not null, container_value_usd bigint not null, container_weight_kg bigint not null,
    landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_state_exports_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    state_code varchar not null, all_value_usd bigint not null, air_value_usd bigint not null,
    air_weight_kg bigint not null, vessel_value_usd bigint not null, vessel_weight_kg bigint not null,
    container_value_usd bigint not null, container_weight_kg bigint not null, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.census_state_imports_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    state_code varchar not null, gen_value_usd bigint not null, con_value_usd bigint not null,
    air_value_usd bigint not null, air_weight_kg bigint not null, vessel_value_usd bigint not null,
    vessel_weight_kg bigint not null, container_value_usd bigint not null, container_weight_kg bigint not null,
    landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists audit.loads (
    load_id varchar primary key, run_id varchar, flow varchar not null, hs_level varchar not null,
    month date not null, source varchar, content_sha256 varchar, files varchar, detail_rows bigint,
    totals_rows bigint, status varchar not null, error varchar, started_at timestamp, finished_at timestamp,
    duration_s double
);
alter table audit.loads add column if not exists data_sha256 varchar;
create table if not exists audit.validations (
    validation_id varchar primary key, load_id varchar, run_id varchar, flow varchar, hs_level varchar,
    month date, suite varchar, success boolean, evaluated bigint, failed bigint,
    failed_expectations varchar, details varchar, validated_at timestamp
);
create table if not exists audit.publishes (
    publish_id varchar primary key, run_id varchar, published_at timestamp, fingerprint varchar,
    months bigint, first_month date, last_month date, row_counts varchar, checksum varchar,
    serving_path varchar, status varchar
);
-- what the published marts were built with (transform.scope_fingerprint): a build on top of
-- a publish with the same value rebuilds and re-publishes only the months loaded since
alter table audit.publishes add column if not exists scope_fingerprint varchar;
"""


# UN Comtrade (mirror statistics, sources/comtrade): the partners' own monthly
# reports of trade with the U.S., one load per landed year; validations go to audit.validations.
SCHEMA_SQL += """
create table if not exists raw.comtrade_monthly (
    load_id varchar not null, source varchar not null, year integer not null, month date not null,
    reporter_code varchar not null, reporter_iso varchar, reporter_name varchar, flow_code varchar not null,
    partner_code varchar not null, partner2_code varchar not null, cmd_code varchar not null,
    customs_code varchar not null, mot_code varchar not null, primary_value_usd double not null,
    cif_value_usd double, fob_value_usd double, is_reported boolean, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists audit.comtrade_loads (
    load_id varchar primary key, run_id varchar, year integer not null, reporters varchar, source varchar,
    content_sha256 varchar, data_sha256 varchar, files varchar, rows bigint, status varchar not null,
    error varchar, started_at timestamp, finished_at timestamp, duration_s double
);
"""


def lake_schema_sql() -> str:
    """``SCHEMA_SQL`` for DuckLake, which supports no PRIMARY KEY or UNIQUE constraint.

    The keys are uuids the writer generates, so dropping the constraint loses no guarantee the
    pipeline relies on.
    """
    return SCHEMA_SQL.replace(" primary key", "")
