"""``make mirror``: the Comtrade mirror DAG against a fresh emulator, on the data ``make run`` loaded.

Offline, like ``make run``: the emulator serves synthetic partner reports derived from its
own U.S. data. Prints the two sides of the balance for the mirror partners and where the
report is. Kept apart from ``make run`` so the demo's runtime does not grow with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.core.config import load_settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.orchestration.airflow_env import airflow_environment, ensure_airflow
from trade_warehouse.orchestration.comtrade_dag import DAG_ID


def main() -> int:
    from trade_warehouse.cli.main import emulator

    env = airflow_environment()
    settings = load_settings(env)
    if not settings.serving_path.exists():
        print("no serving snapshot yet: run `make run` first", file=sys.stderr)
        return 2
    ensure_airflow()
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-mirror.log"
    started = time.monotonic()
    with (
        emulator(env.get("CENSUS_EMULATOR_SCALE", "demo")) as base_url,
        tempfile.NamedTemporaryFile(suffix=".json") as result,
    ):
        env.update(
            CENSUS_API_BASE_URL=base_url,
            CENSUS_API_KEY=DEMO_API_KEY,
            CENSUS_API_PACING_S="0",
            COMTRADE_API_BASE_URL=base_url.replace("/data/timeseries/intltrade", "/data/v1"),
            COMTRADE_API_KEY=DEMO_API_KEY,
            COMTRADE_API_PACING_S="0",
        )
        print(f"mirror: running DAG {DAG_ID}; Airflow log: {log_path}", flush=True)
        with open(log_path, "w", encoding="utf-8") as log:
            code = subprocess.run(
                [sys.executable, "-m", "trade_warehouse.orchestration.dag_runner", "{}", result.name, DAG_ID],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        outcome = json.loads(Path(result.name).read_text() or "{}")
    states = {t["task_id"]: t["state"].rsplit(".", 1)[-1].lower() for t in outcome.get("tasks", [])}
    print(f"mirror: {'succeeded' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s; tasks: {states}")
    if code == 0:
        print_two_sides(settings.serving_path)
        print(f"report: {settings.report_path}")
    return code


def print_two_sides(serving: Path) -> None:
    import duckdb

    con = duckdb.connect(str(serving), read_only=True)
    try:
        rows = con.execute(
            "select year, partner_name, us_reported_balance_usd / 1e9, partner_reported_balance_usd / 1e9, "
            "export_asymmetry_pct, import_asymmetry_pct from marts.mirror_trade_annual "
            "where partner_months_covered = 12 order by partner_name, year"
        ).fetchall()
    finally:
        con.close()
    print("\nTwo sides of the balance ($ billions, U.S. point of view) - SYNTHETIC emulator data")
    print(f"{'year':<6}{'partner':<16}{'U.S.-rep.':>11}{'partner-rep.':>14}{'exp. asym %':>13}{'imp. asym %':>13}")

    def pct(value: float | None) -> str:  # NULL when the two sides cover different months
        return "n/a" if value is None else f"{value:.1f}"

    for year, name, us_balance, partner_balance, export_pct, import_pct in rows:
        print(
            f"{year:<6}{name[:15]:<16}{us_balance:>11.1f}{partner_balance:>14.1f}{pct(export_pct):>13}"
            f"{pct(import_pct):>13}"
        )


if __name__ == "__main__":
    sys.exit(main())
