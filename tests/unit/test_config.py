import pytest
import yaml

from trade_warehouse.core.config import DBT_PROJECT_DIR, DEFAULT_BASE_URL, ConfigError, load_settings
from trade_warehouse.core.duckdb_settings import (
    DEFAULT_DBT_MEMORY_LIMIT,
    dbt_memory_limit,
    duckdb_memory_limit,
    duckdb_storage_version,
)

pytestmark = pytest.mark.unit


def test_defaults_follow_the_operating_contract(tmp_path):
    settings = load_settings({"TRADE_DATA_DIR": str(tmp_path)})
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.hs_level == "HS6"
    assert settings.serving_path == tmp_path / "serving" / "trade.duckdb"
    assert settings.api_key is None


def test_bad_settings_say_which_and_why():
    with pytest.raises(ConfigError, match="TRADE_HS_LEVEL='HS5'"):
        load_settings({"TRADE_HS_LEVEL": "HS5"})
    with pytest.raises(ConfigError, match="CENSUS_API_BASE_URL must be an http"):
        load_settings({"CENSUS_API_BASE_URL": "ftp://example"})
    with pytest.raises(ConfigError, match="TRADE_LOAD_LANES='0' must be at least 1"):
        load_settings({"TRADE_LOAD_LANES": "0"})
    with pytest.raises(ConfigError, match="TRADE_LOAD_LANES='many' is not a number"):
        load_settings({"TRADE_LOAD_LANES": "many"})
    assert load_settings({"TRADE_LOAD_LANES": "1"}).load_lanes == 1


def test_the_models_settings_are_checked_before_dbt_reads_them(monkeypatch):
    from trade_warehouse.transform import dbt_runner

    monkeypatch.setenv("TRADE_MIRROR_FOB_FACTOR", "1.1")
    monkeypatch.setenv("TRADE_COMTRADE_REPORTERS", "392, 36")
    assert dbt_runner.model_settings() == {"TRADE_MIRROR_FOB_FACTOR": "1.1", "TRADE_COMTRADE_REPORTERS": "392,036"}
    monkeypatch.setenv("TRADE_MIRROR_FOB_FACTOR", "1,06")  # dbt's float filter would have read 0.0
    with pytest.raises(ConfigError, match="TRADE_MIRROR_FOB_FACTOR"):
        dbt_runner.model_settings()


def test_the_storage_version_of_new_duckdb_files_is_checked_against_duckdb():
    assert duckdb_storage_version({}) == "v1.3.0"  # DICT_FSST strings; DuckDB 1.3 and newer read it
    assert duckdb_storage_version({"TRADE_DUCKDB_STORAGE_VERSION": " v1.0.0 "}) == "v1.0.0"
    for bad in ("v9.9.9", "1.3.0", "v1.3", "newest"):
        with pytest.raises(ConfigError, match=f"TRADE_DUCKDB_STORAGE_VERSION='{bad}' is not a DuckDB storage"):
            duckdb_storage_version({"TRADE_DUCKDB_STORAGE_VERSION": bad})


def test_the_writer_and_dbt_have_memory_limits_of_their_own(tmp_path, monkeypatch):
    assert duckdb_memory_limit({}) == "1GB"
    assert dbt_memory_limit({}) == "1536MB"  # the full build's trade fact spilled, or failed, at 1GB
    env = {"TRADE_DUCKDB_MEMORY_LIMIT": "2GB", "TRADE_DBT_MEMORY_LIMIT": " 3GiB "}
    assert (duckdb_memory_limit(env), dbt_memory_limit(env)) == ("2GB", "3GiB")
    for name, read in (
        ("TRADE_DUCKDB_MEMORY_LIMIT", duckdb_memory_limit),
        ("TRADE_DBT_MEMORY_LIMIT", dbt_memory_limit),
    ):
        for bad in ("lots", "1.5", "-1GB"):
            with pytest.raises(ConfigError, match=f"{name}='{bad}' is not a size like 1GB"):
                read({name: bad})
        # DuckDB takes these and then fails every query with an "Out of Memory Error" naming no setting
        for small in ("0GB", "1MB", "127MB", "0.1GB"):
            with pytest.raises(ConfigError, match=f"{name}='{small}' is too small"):
                read({name: small})
            # and the run stops at its settings, before anything is loaded
            with pytest.raises(ConfigError, match=f"{name}='{small}' is too small"):
                load_settings({name: small, "TRADE_DATA_DIR": str(tmp_path)})
        assert read({name: "128MB"}) == "128MB"
        assert read({name: "   "}) == read({})  # blank is unset, as for the other settings
    # dbt's process is given its own limit, not the writer's
    from trade_warehouse.transform import dbt_runner

    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRADE_DUCKDB_MEMORY_LIMIT", "900MB")
    monkeypatch.delenv("TRADE_DBT_MEMORY_LIMIT", raising=False)
    assert dbt_runner.dbt_env(load_settings())["TRADE_DBT_MEMORY_LIMIT"] == "1536MB"


def test_dbt_profile_reads_the_dbt_memory_limit_in_both_targets():
    """dbt_env passes TRADE_DBT_MEMORY_LIMIT; the profile must read it, with the same default, in every target."""
    outputs = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["trade_warehouse"]["outputs"]
    assert set(outputs) == {"warehouse", "lake"}
    for name, output in outputs.items():
        assert output["settings"]["memory_limit"] == (
            f"{{{{ env_var('TRADE_DBT_MEMORY_LIMIT', '{DEFAULT_DBT_MEMORY_LIMIT}') }}}}"
        ), name
