import pytest

from trade_warehouse.core.config import DEFAULT_BASE_URL, ConfigError, duckdb_storage_version, load_settings

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
