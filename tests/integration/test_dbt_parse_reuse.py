"""A new data dir starts from the last dbt parse instead of parsing the project in full.

dbt keeps its parse in the target dir and trusts it only if the project files, the profile
and the env vars it read still match. The profile names the warehouse relative to dbt's
working directory, so it is the same for every data dir, and ``dbt_runner`` hands a target
with no parse of its own the last one kept (``TRADE_DBT_PARSE_CACHE``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from trade_warehouse.core.config import Settings
from trade_warehouse.transform import dbt_runner

FULL_PARSE = "Unable to do partial parsing"


def list_models(settings: Settings) -> tuple[str, list[str]]:
    output = dbt_runner.run_dbt(settings, "ls", "--resource-type", "model", "--output", "name")
    models = sorted(line.strip() for line in output.splitlines() if line.strip().startswith(("stg_", "fct_", "dim_")))
    return output, models


def test_a_new_data_dir_reuses_the_last_parse(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "parse-cache"
    monkeypatch.setenv("TRADE_DBT_PARSE_CACHE", str(cache))

    first_output, first_models = list_models(replace(settings, data_dir=tmp_path / "first"))
    assert FULL_PARSE in first_output  # nothing kept yet: dbt parses the project
    assert (cache / dbt_runner.PARTIAL_PARSE).exists()
    assert first_models, first_output

    second_output, second_models = list_models(replace(settings, data_dir=tmp_path / "second"))
    assert FULL_PARSE not in second_output, second_output
    assert second_models == first_models
    assert (tmp_path / "second" / "dbt" / "target" / dbt_runner.PARTIAL_PARSE).exists()


def test_a_damaged_kept_parse_costs_only_a_full_parse(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "parse-cache"
    cache.mkdir()
    (cache / dbt_runner.PARTIAL_PARSE).write_bytes(b"not a msgpack file")
    monkeypatch.setenv("TRADE_DBT_PARSE_CACHE", str(cache))

    output, models = list_models(replace(settings, data_dir=tmp_path / "fresh"))
    assert models, output
    # dbt replaced the damaged copy with its own parse, which the next data dir gets
    assert (cache / dbt_runner.PARTIAL_PARSE).read_bytes() != b"not a msgpack file"
