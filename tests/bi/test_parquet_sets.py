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
