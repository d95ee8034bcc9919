"""The cached N-month histories the nightly scenarios run on, and their scratch copies.

A history is built once (a backfill through the same DAG, timed) under ``--bench-dir``;
each nightly runs on a scratch copy: the immutable landed files are hard-linked, the rest
is copied. A history whose months another cache already landed loads from hard links.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tools.bench.measure import MONTHLY_DAG, bench_env, load_average, now, run_dag
from trade_warehouse.core.config import FLOWS
from trade_warehouse.emulator.launcher import emulator


def copy_data_dir(source: Path, target: Path) -> None:
    """A scratch copy of a cached data dir: landed gzip files and served files hard-linked, the rest copied.

    Landed files are immutable and served files are only ever replaced by rename; everything
    else (the warehouse, manifests, docs) may be written in place, so it is copied.
    """
    if target.exists():
        shutil.rmtree(target)

    def copy(src: str, dst: str) -> None:
        immutable = src.endswith(".json.gz") or "/serving/" in src
        if immutable:
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)

    shutil.copytree(
        source,
        target,
        copy_function=copy,
        symlinks=True,
        ignore=shutil.ignore_patterns("*.writer.lock", "build.*", "logs"),
    )
    # The copy leaves the warehouse (2.3 GB at 84 months) as dirty pages: flushed here, not by
    # the measured run's first commit, whose fsync took 2 s more for it (a night's load
    # 3.9 s -> 1.8 s after a sync). A warehouse in service is not a fresh copy.
    os.sync()


def history_dir(bench_dir: Path, scale: str, months: list[str]) -> Path:
    return bench_dir / f"{scale}-{months[0]}..{months[-1]}"


def ensure_history(bench_dir: Path, scale: str, months: list[str], state: str) -> dict:
    """The cached data dir holding ``months`` loaded and published: built once (timed), then reused.

    A history whose months another cache already landed is loaded from hard links to those
    files (``from_landing``: no emulator time spent twice). ``state`` (``--state``) says
    whether the state-level flows are extracted and loaded too: a cache built otherwise is
    built again (one built before the build recorded it counts as on, the pipeline's default).
    """
    target = history_dir(bench_dir, scale, months)
    done = target / "build.done"
    if done.exists():
        built = json.loads(done.read_text())
        if built.get("rc") == 0 and built.get("state", "on") == state:
            return built
    if target.exists():
        shutil.rmtree(target)
    donor = landing_donor(bench_dir, scale, months, target)
    conf = {"start_month": months[0], "end_month": months[-1]}
    if donor:
        link_landing(donor, target, months)
        conf["from_landing"] = True
    print(
        f"building the {len(months)}-month history {months[0]}..{months[-1]} at scale {scale} in {target}"
        + (
            f" (landed files from {', '.join(sorted({d.name for d in donor.values()}))})"
            if donor
            else " (extracting from the emulator)"
        ),
        flush=True,
    )
    load_before = load_average()
    started = time.monotonic()
    with emulator(scale) as base_url:
        env = {**bench_env(target, base_url), "TRADE_STATE_TRADE": state}
        run = run_dag(env, MONTHLY_DAG, conf, f"history-{len(months)}")
    record = {
        "rc": 0,
        "state": state,
        "seconds": round(time.monotonic() - started, 1),
        "from_landing": bool(donor),
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
        "stages": {s.task_id: s.wall_s for s in run.stages},
        "built_at": now(),
    }
    done.write_text(json.dumps(record))
    print(f"history built in {record['seconds']:.0f}s", flush=True)
    return record


def link_landing(donor: Path | dict[str, Path], target: Path, months: list[str]) -> None:
    """Hard-link the donors' landed files for ``months`` into ``target`` (manifests are copied)."""
    for month in months:
        source = donor if isinstance(donor, Path) else donor[month]
        for flow in FLOWS:
            shutil.copytree(
                source / "landing" / "census" / flow / "HS6" / month,
                target / "landing" / "census" / flow / "HS6" / month,
                copy_function=lambda s, d: os.link(s, d) if s.endswith(".gz") else shutil.copy2(s, d),
            )


LANDING_DONORS: list[Path] = []  # --landing-from: other data dirs whose landed files may be linked


def landing_donor(bench_dir: Path, scale: str, months: list[str], target: Path) -> dict[str, Path] | None:
    """Per month, a cached data dir that landed it (all months covered), else None."""
    candidates = [
        c
        for c in [*LANDING_DONORS, *sorted(bench_dir.glob(f"{scale}-*..*"))]
        if c != target and ((c / "build.done").exists() or c in LANDING_DONORS)
    ]
    chosen = {}
    for month in months:
        for candidate in candidates:
            base = candidate / "landing" / "census"
            if all((base / flow / "HS6" / month / "extractions.jsonl").exists() for flow in FLOWS):
                chosen[month] = candidate
                break
        else:
            return None
    return chosen
