"""The commands that run the pipeline or change what is served: ``run``, ``backfill``, ``rollback``.

``run`` is the offline demo (always against a freshly started emulator): the Census DAG for
the window, then the Comtrade mirror DAG against the same emulator, so every mart the
dashboard reads is published. ``backfill`` loads a month range from ``CENSUS_API_BASE_URL``
and starts the emulator only when that variable is unset.
"""

from __future__ import annotations

import argparse

from trade_warehouse.cli.mirror_demo import print_two_sides, run_mirror
from trade_warehouse.cli.summary import print_summary, run_pipeline
from trade_warehouse.core.config import load_settings
from trade_warehouse.core.months import month_range
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.launcher import emulator
from trade_warehouse.orchestration.airflow_env import airflow_environment, ensure_airflow


def command_run(args: argparse.Namespace) -> int:
    """The demo: the Census DAG for the window, then the mirror DAG, both against one emulator."""
    env = airflow_environment()
    months = month_range(args.start, args.end)
    ensure_airflow()
    with emulator(args.scale) as base_url:
        env.update(CENSUS_API_BASE_URL=base_url, CENSUS_API_KEY=DEMO_API_KEY, CENSUS_API_PACING_S="0")
        code = run_pipeline({"start_month": args.start, "end_month": args.end}, env, "run")
        mirrored = run_mirror(env, base_url) if code == 0 else 1
    if code == 0:
        print_summary(env, int(months[-1][:4]) if months[-1].endswith("-12") else int(months[-1][:4]) - 1)
    if mirrored == 0:
        print_two_sides(load_settings(env).serving_path)
    return code or mirrored


def command_backfill(args: argparse.Namespace) -> int:
    """A month range from ``CENSUS_API_BASE_URL``, or from a local emulator when it is unset."""
    env = airflow_environment()
    month_range(args.start, args.end)
    ensure_airflow()
    conf = {"start_month": args.start, "end_month": args.end, "force": args.force, "from_landing": args.from_landing}
    if env.get("CENSUS_API_BASE_URL"):
        print(f"backfill: source {env['CENSUS_API_BASE_URL']}")
        return run_pipeline(conf, env, "backfill")
    with emulator(args.scale) as base_url:
        print("backfill: CENSUS_API_BASE_URL is unset, using a local Census API emulator (synthetic data)")
        env.update(
            CENSUS_API_BASE_URL=base_url,
            CENSUS_API_KEY=env.get("CENSUS_API_KEY") or DEMO_API_KEY,
            CENSUS_API_PACING_S="0",
        )
        return run_pipeline(conf, env, "backfill")


def command_rollback(args: argparse.Namespace) -> int:
    """Restore the serving snapshot from the previous published one."""
    from trade_warehouse.publish.snapshot import rollback

    restored = rollback(load_settings())
    print(f"serving snapshot restored from {getattr(restored, 'name', restored)}")
    return 0
