"""Versioned Parquet sets behind an atomically switched pointer (publish/parquet.py), on the filesystem alone."""

from __future__ import annotations

import os

import pytest

from trade_warehouse.core.config import Settings
from trade_warehouse.publish import parquet

pytestmark = pytest.mark.unit


def test_pointer_switch_keeps_previous_sets_and_drops_the_old_layout(tmp_path):
    settings = Settings(base_url="http://127.0.0.1:1", api_key=None, data_dir=tmp_path, hs_level="HS6", pacing_s=0.0)
    versions = settings.parquet_dir / "versions"
    names = [f"2026010{i}T000000000000Z-publish{i}" for i in range(1, 7)]
    for name in names:
        (versions / name / "trade_balance_monthly").mkdir(parents=True)
    legacy = settings.parquet_dir / "trade_balance_monthly"  # serving/parquet/<table>/ before versioned sets
    legacy.mkdir()
    assert parquet.current_parquet(settings) is None

    parquet.point_parquet_at(settings, versions / names[5])
    assert parquet.current_parquet(settings) == (versions / names[5]).resolve()
    # a rollback points back at an older set: pruning must keep it, plus the newest others
    parquet.point_parquet_at(settings, versions / names[2])
    link = os.readlink(settings.parquet_dir / "current")
    assert link == f"versions/{names[2]}"  # relative: survives a moved or mounted data directory
    parquet.prune_parquet(settings)

    kept = sorted(p.name for p in versions.iterdir())
    assert kept == [names[2], names[3], names[4], names[5]]
    assert parquet.current_parquet(settings) == (versions / names[2]).resolve()
    assert not legacy.exists()
    assert [p.name for p in settings.parquet_dir.iterdir() if p.name.startswith(".")] == []  # no stray link


def test_a_patched_publish_reuses_only_the_set_exported_from_its_snapshot(tmp_path, caplog):
    """Unchanged years are hard-linked from the set in service only when that set was exported
    from the snapshot the candidate is a copy of: after a publish that stopped between the
    snapshot's rename and the pointer's switch, or a rollback whose set is no longer kept, the
    set in service is another publish's, and its files would carry that publish's rows."""
    settings = Settings(base_url="http://127.0.0.1:1", api_key=None, data_dir=tmp_path, hs_level="HS6", pacing_s=0.0)
    version = settings.parquet_dir / "versions" / "20260101T000000000000Z-publish-a"
    version.mkdir(parents=True)
    assert parquet.reusable_set(settings, "publish-a") is None  # no set in service yet
    parquet.point_parquet_at(settings, version)
    assert parquet.reusable_set(settings, "publish-a") is None  # a set without a manifest: not trusted
    parquet.write_manifest(version, "publish-a", "run-1", {})
    assert parquet.reusable_set(settings, "publish-a") == version.resolve()
    assert parquet.reusable_set(settings, None) is None  # a snapshot from before publish ids
    with caplog.at_level("WARNING"):
        assert parquet.reusable_set(settings, "publish-b") is None
    assert "is not the snapshot's (publish-b)" in caplog.text


def test_a_monthly_mart_has_a_file_per_month_of_its_newest_year_and_per_earlier_year(tmp_path):
    import duckdb

    from trade_warehouse.publish.contract import PublishedModel

    con = duckdb.connect()
    con.execute(f"attach '{tmp_path / 'candidate.duckdb'}' as candidate")
    con.execute("create schema candidate.marts")
    con.execute(  # 2016-01 .. 2017-11
        "create table candidate.marts.m as select month::date as month, 1 as v "
        "from range(date '2016-01-01', date '2017-12-01', interval 1 month) as t(month)"
    )
    model = PublishedModel(name="m", contract=True, columns={"month": "date", "v": "integer"}, publish_by="month")
    months_2017 = [f"2017-{m:02d}" for m in range(1, 12)]
    assert list(parquet.file_keys(con, model)) == ["2016", *months_2017]

    first = tmp_path / "first" / "m"
    parquet.export_parquet(con, model, first, None, None, set())
    assert sorted(p.stem for p in first.iterdir()) == ["2016", *months_2017]

    # the night of 2017-12 writes its month's file; every other file is the previous set's
    con.execute("insert into candidate.marts.m values (date '2017-12-01', 2)")
    second = tmp_path / "second" / "m"
    parquet.export_parquet(con, model, second, tmp_path / "first", ["2017-12-01"], set())
    assert sorted(p.stem for p in second.iterdir()) == ["2016", *months_2017, "2017-12"]
    linked = {
        p.stem
        for p in second.iterdir()
        if (first / p.name).exists() and p.stat().st_ino == (first / p.name).stat().st_ino
    }
    assert linked == {"2016", *months_2017}

    # the first night of 2018: 2017 becomes one file (written once), 2018's month a file of its own
    con.execute("insert into candidate.marts.m values (date '2018-01-01', 3)")
    third = tmp_path / "third" / "m"
    parquet.export_parquet(con, model, third, tmp_path / "second", ["2018-01-01"], set())
    assert sorted(p.stem for p in third.iterdir()) == ["2016", "2017", "2018-01"]
    assert (third / "2016.parquet").stat().st_ino == (first / "2016.parquet").stat().st_ino
    assert con.execute(f"select count(*), sum(v) from '{third}/2017.parquet'").fetchone() == (12, 13)

    # a revised earlier year rewrites its file; a renamed row's month (of the newest year) its month's
    con.execute("insert into candidate.marts.m values (date '2018-02-01', 3)")
    con.execute("update candidate.marts.m set v = 4 where month in (date '2016-03-01', date '2018-01-01')")
    fourth = tmp_path / "fourth" / "m"
    parquet.export_parquet(con, model, fourth, tmp_path / "third", ["2016-03-01", "2018-02-01"], {"2018-01"})
    linked = {
        p.name
        for p in fourth.iterdir()
        if (third / p.name).exists() and p.stat().st_ino == (third / p.name).stat().st_ino
    }
    assert linked == {"2017.parquet"}
    assert sorted(p.stem for p in fourth.iterdir()) == ["2016", "2017", "2018-01", "2018-02"]
    assert con.execute(f"select sum(v) from '{fourth}/*.parquet'").fetchone() == (15 + 13 + 4 + 3,)
