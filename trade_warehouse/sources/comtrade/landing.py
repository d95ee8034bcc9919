"""The Comtrade landing zone: one directory per year, the responses unchanged, and three records.

Layout: ``<data>/landing/comtrade/<YYYY>/data-<part>-<sha16>.json.gz`` (gzip,
content-addressed), ``manifest.jsonl`` (one row per landed file, never the key),
``extractions.jsonl`` (one row per extraction of the year: what it asked, what it got,
whether the year is complete) and ``loaded.json`` (which landed content the warehouse
holds, written after each load). The planner reads only these files, never the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from trade_warehouse.core.config import Settings
from trade_warehouse.load.landing import EXTRACTIONS, MANIFEST, append_jsonl, read_records, write_immutable
from trade_warehouse.sources.comtrade.client import ComtradeResponse

LOADED = "loaded.json"  # which landed content of the year the warehouse holds (written after each load)


def landing_dir(settings: Settings) -> Path:
    return settings.data_dir / "landing" / "comtrade"


def year_dir(settings: Settings, year: int) -> Path:
    return landing_dir(settings) / f"{year:04d}"


def latest_extraction(settings: Settings, year: int) -> dict | None:
    """The year's newest extraction record, or None if it was never extracted."""
    records = [r for r in read_records(year_dir(settings, year) / EXTRACTIONS) if r.get("extraction_id")]
    return records[-1] if records else None


def record_extraction(settings: Settings, year: int, record: dict) -> None:
    """Append an extraction record (after its files landed: the record names them)."""
    append_jsonl(year_dir(settings, year) / EXTRACTIONS, record)


def is_complete(record: dict | None, reporters: tuple[str, ...]) -> bool:
    """Whether an extraction holds every reporter x flow x month of its year for ``reporters``."""
    if not record or not record.get("complete"):
        return False
    return set(reporters) <= set(record.get("reporters", []))


def land(settings: Settings, year: int, response: ComtradeResponse, extraction_id: str) -> dict:
    """Write a response unchanged (gzip, content-addressed) and its manifest row (no key in it)."""
    directory = year_dir(settings, year)
    path, digest = write_immutable(directory, f"data-{response.request.part}", response.body)
    entry = {
        "year": year,
        "path": str(path),
        "request": response.request.describe(),
        "http_status": response.status,
        "bytes": len(response.body),
        "sha256": digest,
        "row_count": response.count,
        "periods_with_rows": response.periods_with_rows,
        "fetched_at": response.fetched_at,
        "source": response.source,
        "attempts": response.attempts,
        "extraction_id": extraction_id,
    }
    append_jsonl(directory / MANIFEST, entry)
    return entry


def landed_files(settings: Settings, year: int) -> list[dict]:
    """The manifest rows of the year's latest extraction (never a mix of two extractions)."""
    record = latest_extraction(settings, year)
    if not record:
        return []
    rows = [
        r
        for r in read_records(year_dir(settings, year) / MANIFEST)
        if r.get("extraction_id") == record["extraction_id"]
    ]
    return sorted({r["path"]: r for r in rows}.values(), key=lambda r: r["path"])


def landed_fingerprint(files: list[dict]) -> str:
    """The content of a year's latest extraction: its files' hashes (what a load records)."""
    return hashlib.sha256("|".join(sorted(f["sha256"] for f in files)).encode()).hexdigest()


def mark_loaded(settings: Settings, year: int, fingerprint: str, load_id: str) -> None:
    """Record in the landing zone that the warehouse holds this content of ``year``.

    The planner reads the landing zone only (never the warehouse, whose writer may be busy):
    a complete year landed by a run whose load then failed has no marker, or an older one,
    and is loaded again by the next run without asking the API again.
    """
    path = year_dir(settings, year) / LOADED
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"content_sha256": fingerprint, "load_id": load_id}), encoding="utf-8")
    os.replace(temp, path)


def is_loaded(settings: Settings, year: int) -> bool:
    """Whether the year's latest landed content is the one the warehouse holds."""
    path = year_dir(settings, year) / LOADED
    if not path.exists():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get("content_sha256") == landed_fingerprint(
        landed_files(settings, year)
    )
