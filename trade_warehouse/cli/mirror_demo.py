"""The Comtrade mirror DAG against the emulator, on the data ``make run`` loaded.

``make run`` runs it after the Census DAG, against the same emulator, so the dashboard's
"Two sides of the balance" tile has data; ``make mirror`` runs it alone (a fresh emulator)
after a run. Offline: the emulator serves synthetic partner reports derived from its own
U.S. data. Prints the two sides of the balance for the mirror partners and where the report is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from trade_warehouse.cli.summary import failure_summary, log_file, run_dag_process, state_of
from trade_warehouse.core.config import load_settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.launcher import comtrade_base_url, emulator
from trade_warehouse.orchestration.airflow_env import airflow_environment, ensure_airflow
from trade_warehouse.orchestration.comtrade_dag import DAG_ID


def main() -> int:
    """``make mirror``: the mirror DAG against a fresh emulator, after ``make run``."""
    env = airflow_environment()
    settings = load_settings(env)
    if not settings.serving_path.exists():
        print("no serving snapshot yet: run `make run` first", file=sys.stderr)
        return 2
    ensure_airflow()
    with emulator(env.get("CENSUS_EMULATOR_SCALE", "demo")) as base_url:
        env.update(CENSUS_API_BASE_URL=base_url, CENSUS_API_KEY=DEMO_API_KEY, CENSUS_API_PACING_S="0")
        code = run_mirror(env, base_url)
    if code == 0:
        print_two_sides(settings.serving_path)
        print(f"report: {settings.report_path}")
    return code


def run_mirror(env: dict[str, str], base_url: str) -> int:
    """Run the mirror DAG once against the emulator at ``base_url`` (its Comtrade route); 0 if it succeeded.

    Every year with Census data in the landing zone whose partner reports are incomplete is
    asked for, loaded, and published with ``marts.mirror_trade_annual``.
    """
    env = {
        **env,
        "COMTRADE_API_BASE_URL": comtrade_base_url(base_url),
        "COMTRADE_API_KEY": DEMO_API_KEY,
        "COMTRADE_API_PACING_S": "0",
    }
    log_path = log_file(env, "mirror")
    started = time.monotonic()
    print(f"mirror: running DAG {DAG_ID}; Airflow log: {log_path}", flush=True)
    code, outcome = run_dag_process({}, env, log_path, DAG_ID)
    elapsed = time.monotonic() - started
    if code != 0:
        print("\n" + failure_summary(outcome, "mirror", elapsed), file=sys.stderr)
        print(f"full log: {log_path}", file=sys.stderr)
        return 1
    states = {t["task_id"]: state_of(t) for t in outcome.get("tasks", [])}
    print(f"mirror: succeeded in {elapsed:.0f}s; tasks: {states}", flush=True)
    return 0


def print_two_sides(serving: Path) -> None:
    """The U.S.-reported and partner-reported balances of the mirror partners, per year."""
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
