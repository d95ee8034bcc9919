"""The writer creates DuckDB files in the configured storage format and never upgrades an existing one."""

import pytest
from duck import query

from trade_warehouse.load.warehouse import connect

pytestmark = pytest.mark.integration
VERSION = "select tags['storage_version'] from duckdb_databases() where not internal"


def test_new_files_take_the_setting_and_existing_files_keep_their_format(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADE_DUCKDB_STORAGE_VERSION", "v1.0.0")  # for a BI tool on DuckDB 1.0
    old = tmp_path / "old.duckdb"
    with connect(old) as con:
        con.execute("create table raw.t (a int)")
    assert query(old, VERSION) == [("v1.0.0+",)]

    monkeypatch.delenv("TRADE_DUCKDB_STORAGE_VERSION")  # the default from now on
    with connect(old) as con:
        con.execute("insert into raw.t values (1)")
        con.execute(f"attach '{tmp_path / 'snapshot.duckdb'}' as snapshot")  # what the publish does
        con.execute("create table snapshot.t as select * from raw.t")
    assert query(old, VERSION) == [("v1.0.0+",)]  # its readers can still open it
    assert query(old, "select a from raw.t") == [(1,)]
    assert query(tmp_path / "snapshot.duckdb", VERSION) == [("v1.3.0+",)]
