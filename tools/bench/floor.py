"""The floor: DuckDB alone on the same landed files, the bound every stage is compared with.

It reads the gzip JSON with ``read_json``, types it and builds a balance mart and a partner
x chapter mart in SQL, in a child process (``python -m tools.bench _floor``) so that its
peak RSS is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tools.bench.measure import BenchError, RssSampler
from trade_warehouse.core.config import FLOWS


def floor_sql(data_dir: Path, months: list[str]) -> list[str]:
    """The floor as SQL: read_json on the landed gzip files -> typed tables -> two marts."""
    from trade_warehouse.load.landing import latest_landed
    from trade_warehouse.sources.census.api import COMMODITY_VAR
    from trade_warehouse.sources.census.reader import served_header

    value_column = {"exports": "ALL_VAL_MO", "imports": "GEN_VAL_MO"}
    landing = data_dir / "landing" / "census"
    statements = []
    for flow in FLOWS:
        by_header: dict[tuple[str, ...], list[str]] = {}
        for month in months:
            for landed in latest_landed(landing, flow, "HS6", month):
                if landed.kind == "detail":
                    by_header.setdefault(tuple(served_header(landed.path)), []).append(landed.path)
        if not by_header:
            raise BenchError(f"no landed {flow} detail files for {months[0]}..{months[-1]} under {landing}")
        selects = []
        for header, paths in by_header.items():
            pos = {name: i + 1 for i, name in reversed(list(enumerate(header)))}
            header_literal = "[" + ", ".join("'" + h.replace("'", "''") + "'" for h in header) + "]"
            files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            selects.append(
                f"select cast(json[{pos['time']}] || '-01' as date) as month, json[{pos['CTY_CODE']}] as partner_code, "
                f"json[{pos[COMMODITY_VAR[flow]]}] as hs_code, cast(json[{pos[value_column[flow]]}] as bigint) as value_usd "
                f"from read_json([{files}], format = 'array', records = false, columns = {{'json': 'VARCHAR[]'}}) "
                f"where json <> {header_literal}"
            )
        statements.append(f"create table {flow} as " + " union all ".join(selects))
    statements += [
        """create table balance_monthly as
           select month, partner_code, sum(exports_usd) as exports_usd, sum(imports_usd) as imports_usd,
                  sum(exports_usd) - sum(imports_usd) as balance_usd
           from (select month, partner_code, value_usd as exports_usd, 0 as imports_usd from exports
                 union all select month, partner_code, 0, value_usd from imports)
           group by all""",
        """create table partner_chapter_monthly as
           select month, partner_code, left(hs_code, 2) as hs_chapter, sum(exports_usd) as exports_usd,
                  sum(imports_usd) as imports_usd, sum(exports_usd) - sum(imports_usd) as balance_usd
           from (select month, partner_code, hs_code, value_usd as exports_usd, 0 as imports_usd from exports
                 union all select month, partner_code, hs_code, 0, value_usd from imports)
           group by all""",
    ]
    return statements


def run_floor(data_dir: Path, months: list[str], work_dir: Path) -> dict:
    """Time the floor in a child process (its own RSS) on a new DuckDB file; returns its numbers."""
    work_dir.mkdir(parents=True, exist_ok=True)
    script = work_dir / "floor.json"
    script.write_text(json.dumps({"statements": floor_sql(data_dir, months), "db": str(work_dir / "floor.duckdb")}))
    out = work_dir / "floor-result.json"
    child = subprocess.Popen([sys.executable, "-m", "tools.bench", "_floor", str(script), str(out)])
    with RssSampler(child.pid) as sampler:
        code = child.wait()
    if code != 0:
        raise BenchError(f"the floor failed (exit {code})")
    result = json.loads(out.read_text())
    result["peak_rss_mb"] = sampler.peak_mb()
    for name in ("floor.duckdb", "floor.duckdb.wal"):
        (work_dir / name).unlink(missing_ok=True)
    return result


def floor_child(script: Path, out: Path) -> int:
    import duckdb

    spec = json.loads(script.read_text())
    Path(spec["db"]).unlink(missing_ok=True)
    started = time.monotonic()
    con = duckdb.connect(spec["db"])
    for statement in spec["statements"]:
        con.execute(statement)
    rows = con.execute("select (select count(*) from exports) + (select count(*) from imports)").fetchone()[0]
    marts = {
        t: con.execute(f"select count(*) from {t}").fetchone()[0]
        for t in ("balance_monthly", "partner_chapter_monthly")
    }
    con.close()
    out.write_text(json.dumps({"wall_s": round(time.monotonic() - started, 2), "rows": rows, "mart_rows": marts}))
    return 0
