"""Reading a Census month's landed JSON tables into typed temp tables (the loader's "stage").

Why apart from ``load/warehouse``: which columns a Census table must have, how a split
part's header differs from a whole month's, and which raw table each landed kind fills are
this source's shape; the warehouse module knows connections, fingerprints and audit rows.
The history backfill reads landed files with the same :func:`select_landed`, so a
backfilled version is exactly what was loaded.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from trade_warehouse.load.landing import LandedFile
from trade_warehouse.load.warehouse import LandingError, content_fingerprint, data_fingerprint
from trade_warehouse.sources.census.api import COMMODITY_VAR, VALUE_COLUMNS, collapse_repeats, is_state_flow

RAW_SUFFIX = {"detail": "hs", "totals": "totals", "hs4": "hs4_totals"}


def raw_kinds(flow: str) -> tuple[str, ...]:
    """The landed kinds a flow has raw tables for: the state flows have no HS4 world totals."""
    return ("detail", "totals") if is_state_flow(flow) else tuple(RAW_SUFFIX)


def raw_table(flow: str, kind: str) -> str:
    """The raw table a landed kind loads into: detail -> hs, totals, hs4 -> hs4_totals."""
    return f"raw.census_{flow}_{RAW_SUFFIX[kind]}"


def served_header(path: str | Path) -> list[str]:
    """The header row actually in a landed file's bytes (the first element of its JSON array).

    Only the start of the file is decompressed: the header is the first array element.
    """
    decoder = json.JSONDecoder()
    text = ""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        while True:
            chunk = handle.read(65536)
            text += chunk
            start = text.find("[")
            if start >= 0:
                second = text.find("[", start + 1)
                if second >= 0:
                    try:
                        header, _ = decoder.raw_decode(text, second)
                        break
                    except json.JSONDecodeError:
                        pass
            if not chunk:
                raise LandingError(f"landed file {Path(path).name} has no header row")
    if not isinstance(header, list) or not all(isinstance(name, str) for name in header):
        raise LandingError(f"landed file {Path(path).name} does not start with a header row of column names")
    return header


def _state(flow: str) -> list[str]:
    return ["STATE"] if is_state_flow(flow) else []


REQUIRED_COLUMNS = {
    "detail": lambda flow: [
        *_state(flow),
        "CTY_CODE",
        "CTY_NAME",
        "time",
        COMMODITY_VAR[flow],
        COMMODITY_VAR[flow] + "_LDESC",
    ],
    "totals": lambda flow: (
        ["STATE", "time"] if is_state_flow(flow) else ["CTY_CODE", "CTY_NAME", "time", "SUMMARY_LVL"]
    ),
    "hs4": lambda flow: ["time", COMMODITY_VAR[flow], COMMODITY_VAR[flow] + "_LDESC"],
}


def select_landed(files: list[LandedFile], flow: str, kind: str, load_id: str, hs_level: str) -> str:
    """SQL that reads landed JSON tables with DuckDB's reader and types the columns.

    Every file is read by the header in its own bytes (never by a position remembered
    elsewhere): a split part's header carries the commodity predicate as an extra column.
    Files with the same header are read together; all parts must share one layout, and
    a part that does not is named.
    """
    chosen = [f for f in files if f.kind == kind]
    if not chosen:
        raise LandingError(f"no landed {kind} file for {flow} {files[0].month}")
    headers = {f.path: served_header(f.path) for f in chosen}
    reference = chosen[0]
    for other in chosen[1:]:
        if collapse_repeats(headers[other.path]) != collapse_repeats(headers[reference.path]):
            raise LandingError(
                f"landed part {other.part} of {flow} {other.month} {kind} ({Path(other.path).name}) has columns "
                f"{headers[other.path]}, but part {reference.part} ({Path(reference.path).name}) has "
                f"{headers[reference.path]}: all parts of a month must share one layout"
            )
    required = REQUIRED_COLUMNS[kind](flow) + list(VALUE_COLUMNS[flow])
    missing = [name for name in required if name not in headers[reference.path]]
    if missing:
        raise LandingError(
            f"landed {kind} file {Path(reference.path).name} lacks columns {missing} (header {headers[reference.path]})"
        )
    sources = {f.source for f in chosen}
    source = "census-emulator" if "census-emulator" in sources else "census"
    by_header: dict[tuple[str, ...], list[LandedFile]] = {}
    for landed in chosen:
        by_header.setdefault(tuple(headers[landed.path]), []).append(landed)
    selects = [
        _select_layout(list(header), group, flow, kind, load_id, hs_level, source)
        for header, group in by_header.items()
    ]
    return "\n    union all\n".join(selects)


def _select_layout(
    header: list[str], files: list[LandedFile], flow: str, kind: str, load_id: str, hs_level: str, source: str
) -> str:
    """One read_json over files that share exactly one header."""
    position = {name: index + 1 for index, name in reversed(list(enumerate(header)))}  # first occurrence, 1-based
    paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
    header_literal = "[" + ", ".join("'" + h.replace("'", "''") + "'" for h in header) + "]"
    # values stay strings here: the GX gate reports a bad value by its text, the swap casts
    values = ",\n        ".join(f"json[{position[api]}] as {column}" for api, column in VALUE_COLUMNS[flow].items())
    commodity = COMMODITY_VAR[flow]
    state = f"""json[{position["STATE"]}] as state_code,""" if is_state_flow(flow) else ""
    if kind == "totals" and is_state_flow(flow):
        dims = state
    elif kind == "detail":
        dims = f"""{state}
        json[{position["CTY_CODE"]}] as partner_code,
        json[{position["CTY_NAME"]}] as partner_name,
        json[{position[commodity]}] as hs_code,
        json[{position[commodity + "_LDESC"]}] as hs_description,"""
    elif kind == "totals":
        dims = f"""json[{position["CTY_CODE"]}] as partner_code,
        json[{position["CTY_NAME"]}] as partner_name,
        json[{position["SUMMARY_LVL"]}] as summary_level,"""
    else:
        dims = f"""json[{position[commodity]}] as hs_code,
        json[{position[commodity + "_LDESC"]}] as hs_description,"""
    return f"""
    select
        '{load_id}' as load_id,
        '{source}' as source,
        cast(json[{position["time"]}] || '-01' as date) as month,
        '{hs_level}' as hs_level,
        {dims}
        {values},
        regexp_extract(filename, '[^/]+$') as landed_file,
        now()::timestamp as loaded_at
    from read_json([{paths}], format = 'array', records = false,
                   columns = {{'json': 'VARCHAR[]'}}, filename = true)
    where json <> {header_literal}
    """


@dataclass
class StagedMonth:
    """A flow-month read into temp tables (values still text), waiting for the gate and the swap."""

    load_id: str
    flow: str
    hs_level: str
    month: str
    fingerprint: str
    detail_table: str
    totals_table: str
    detail_rows: int
    totals_rows: int
    source: str
    hs4_table: str | None = None  # world x HS4 totals; None for months landed before they were extracted
    hs4_rows: int = 0
    data_sha256: str = ""  # see data_fingerprint

    def tables(self) -> dict[str, str]:
        """Staged temp table per landed kind."""
        tables = {"detail": self.detail_table, "totals": self.totals_table}
        if self.hs4_table:
            tables["hs4"] = self.hs4_table
        return tables


def stage_month(con: duckdb.DuckDBPyConnection, files: list[LandedFile], load_id: str) -> StagedMonth:
    """Read a month's landed files into temp tables, typed, without touching raw tables.

    Every file's data rows are counted against its manifest row count, so a file read
    with the wrong layout (or a truncated one) cannot slip through.
    """
    first = files[0]
    flow, hs_level, month = first.flow, first.hs_level, first.month
    suffix = load_id.replace("-", "")[:12]
    kinds = ["detail", "totals"] + (["hs4"] if any(f.kind == "hs4" for f in files) else [])
    tables = {kind: f"stage_{kind}_{suffix}" for kind in kinds}
    counts = {}
    expected = {Path(f.path).name: f.row_count for f in files}
    for kind, table in tables.items():
        con.execute(f"create or replace temp table {table} as {select_landed(files, flow, kind, load_id, hs_level)}")
        per_file = dict(con.execute(f"select landed_file, count(*) from {table} group by 1").fetchall())
        for landed in (f for f in files if f.kind == kind):
            name = Path(landed.path).name
            if per_file.get(name, 0) != expected[name]:
                raise LandingError(
                    f"landed file {name} ({flow} {month} {kind}) has {per_file.get(name, 0)} data rows "
                    f"but the manifest recorded {expected[name]}"
                )
        counts[kind] = sum(per_file.values())
    sources = {f.source for f in files}
    data_sha256 = data_fingerprint(con, tables)
    return StagedMonth(
        load_id=load_id,
        flow=flow,
        hs_level=hs_level,
        month=month,
        fingerprint=content_fingerprint(files),
        detail_table=tables["detail"],
        totals_table=tables["totals"],
        detail_rows=counts["detail"],
        totals_rows=counts["totals"],
        source="census-emulator" if "census-emulator" in sources else "census",
        hs4_table=tables.get("hs4"),
        hs4_rows=counts.get("hs4", 0),
        data_sha256=data_sha256,
    )


def drop_stage(con: duckdb.DuckDBPyConnection, staged: StagedMonth) -> None:
    """Drop a staged month's temp tables (loaded or not, they are not needed any more)."""
    for table in staged.tables().values():
        con.execute(f"drop table if exists {table}")
