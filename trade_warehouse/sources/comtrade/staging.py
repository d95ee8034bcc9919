"""Landed Comtrade files as a typed temp table, and the checks a staged year must pass first.

DuckDB's JSON reader reads the landed gzip files directly (no Python rows), typed to
``raw.comtrade_monthly``. Before the gate, the staged rows must match the manifest file by
file, and must not cover fewer reporter x flow x months than the loaded version.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from trade_warehouse.load.warehouse import LandingError

ROW_TYPE = (
    "STRUCT(refYear INTEGER, refMonth INTEGER, period VARCHAR, reporterCode INTEGER, "
    "reporterISO VARCHAR, reporterDesc VARCHAR, flowCode VARCHAR, partnerCode INTEGER, "
    "partner2Code INTEGER, cmdCode VARCHAR, customsCode VARCHAR, motCode INTEGER, "
    "primaryValue DOUBLE, cifvalue DOUBLE, fobvalue DOUBLE, isReported BOOLEAN)[]"
)
COVERAGE = "select count(distinct (reporter_code, flow_code, month)) from {} where cmd_code = 'TOTAL'"


def stage_sql(files: list[dict], load_id: str, source: str) -> str:
    """DuckDB's JSON reader over the landed files, typed to raw.comtrade_monthly (no Python rows)."""
    paths = ", ".join("'" + f["path"].replace("'", "''") + "'" for f in files)
    return f"""
    select
        '{load_id}' as load_id,
        '{source}' as source,
        r.refYear as year,
        make_date(r.refYear, r.refMonth, 1) as month,
        lpad(r.reporterCode::varchar, 3, '0') as reporter_code,
        r.reporterISO as reporter_iso,
        r.reporterDesc as reporter_name,
        r.flowCode as flow_code,
        lpad(r.partnerCode::varchar, 3, '0') as partner_code,
        r.partner2Code::varchar as partner2_code,
        r.cmdCode as cmd_code,
        r.customsCode as customs_code,
        r.motCode::varchar as mot_code,
        r.primaryValue as primary_value_usd,
        r.cifvalue as cif_value_usd,
        r.fobvalue as fob_value_usd,
        r.isReported as is_reported,
        regexp_extract(filename, '[^/]+$') as landed_file,
        now()::timestamp as loaded_at
    from (
        select unnest(data) as r, filename
        from read_json([{paths}], format = 'auto', filename = true,
                       columns = {{'count': 'BIGINT', 'data': '{ROW_TYPE}', 'error': 'VARCHAR'}})
    )
    """


def check_staged(con: duckdb.DuckDBPyConnection, table: str, files: list[dict], year: int, force: bool) -> None:
    """Raise :class:`LandingError` if the staged rows are not the manifest's, or cover less than is loaded."""
    per_file = dict(con.execute(f"select landed_file, count(*) from {table} group by 1").fetchall())
    for landed in files:
        name = Path(landed["path"]).name
        if per_file.get(name, 0) != landed["row_count"]:
            raise LandingError(
                f"landed file {name} has {per_file.get(name, 0)} rows but the manifest recorded {landed['row_count']}"
            )
    landed_cover = con.execute(COVERAGE.format(table)).fetchone()[0]
    loaded_cover = con.execute(COVERAGE.format("raw.comtrade_monthly") + " and year = ?", [year]).fetchone()[0]
    if landed_cover < loaded_cover and not force:
        # a partial answer or a narrowed reporter list must not delete reporter-months already loaded
        raise LandingError(
            f"the landed extraction covers {landed_cover} reporter x flow x months of {year}, fewer than the "
            f"{loaded_cover} loaded; the loaded version is kept (trigger with force=true to replace it)"
        )
