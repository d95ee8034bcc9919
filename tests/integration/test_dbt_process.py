"""A dbt process started ahead of its command (transform/dbt_process.py) runs what the ``dbt``
executable would: the same output, the command's own environment and working directory,
dbt's exit code; and one nobody uses goes away without running anything.

Real dbt on the real project: ``dbt ls`` lists the models, a missing macro fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from trade_warehouse.core.config import Settings
from trade_warehouse.transform import dbt_process, dbt_runner

pytestmark = pytest.mark.integration

LS = ("ls", "--resource-type", "model", "--output", "name")


def models_in(output: str) -> list[str]:
    return sorted(line.strip() for line in output.splitlines() if line.strip().startswith(("stg_", "fct_", "dim_")))


def test_the_warm_process_runs_the_command_it_is_sent(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    started: list[subprocess.Popen] = []
    real_start = dbt_process.start

    def recording_start(*args, **kwargs) -> subprocess.Popen:
        process = real_start(*args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(dbt_process, "start", recording_start)
    cold = dbt_runner.run_dbt(replace(settings, data_dir=tmp_path / "cold"), *LS)
    assert started[-1].args[0].endswith("dbt")  # nothing warm: the executable

    dbt_process.warm_up()
    warm = dbt_runner.run_dbt(replace(settings, data_dir=tmp_path / "warm"), *LS)
    assert started[-1].args == [sys.executable, str(dbt_process.CHILD)]  # the process started ahead
    assert models_in(warm) == models_in(cold) and models_in(cold), cold

    # the command's environment, not the one the process started with: no profile there
    dbt_process.warm_up()
    (tmp_path / "no-profiles").mkdir()
    with pytest.raises(dbt_runner.TransformError, match="(?i)profile"):
        dbt_runner.run_dbt(
            replace(settings, data_dir=tmp_path / "env"), *LS, env={"DBT_PROFILES_DIR": str(tmp_path / "no-profiles")}
        )
    assert started[-1].args == [sys.executable, str(dbt_process.CHILD)]

    dbt_process.warm_up()
    with pytest.raises(dbt_runner.TransformError, match="no_such_macro"):
        dbt_runner.run_dbt(replace(settings, data_dir=tmp_path / "failing"), "run-operation", "no_such_macro")
    assert started[-1].args == [sys.executable, str(dbt_process.CHILD)] and started[-1].returncode != 0


def test_an_unused_warm_process_exits_without_running_dbt(tmp_path: Path) -> None:
    # its parent gone (stdin closed) before any command: exit 0, nothing printed, nothing written
    child = subprocess.run(
        [sys.executable, str(dbt_process.CHILD)], input="", capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert child.returncode == 0 and child.stdout == "", child.stdout + child.stderr
    assert list(tmp_path.iterdir()) == []

    dbt_process.warm_up()
    dbt_process.discard()
    process = dbt_process.start(["--version"], dict(os.environ), cwd=tmp_path)
    assert process.args[0].endswith("dbt")  # the discarded one is not handed out
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and "dbt" in out.lower()
