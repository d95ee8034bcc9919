"""The immutable landing zone: raw Census responses, byte for byte, plus a manifest.

Layout: ``<data>/landing/census/<flow>/<hs_level>/<YYYY-MM>/<kind>-<part>-<sha16>.json.gz``
and a ``manifest.jsonl`` beside the files. Files are content-addressed and written with
temp file + rename, so a crash never leaves a partial file, a re-extraction of unchanged
bytes does not duplicate them, and a changed response (a revision) lands as a new file.

Each complete extraction of a flow-month also appends one line to ``extractions.jsonl``:
its id (the manifest rows of its files carry it), what it cost (requests, failed
attempts, parts) and what it taught about request sizes (see ``split_extraction``).
The latest complete extraction is what gets loaded.

A source turns its own responses into :class:`LandedFile` rows (the Census one in
``sources/census/landing.py``); this module knows files, manifests and records, no API.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

MANIFEST = "manifest.jsonl"
EXTRACTIONS = "extractions.jsonl"
_manifest_lock = threading.Lock()


@dataclass(frozen=True)
class LandedFile:
    """One landed response, as recorded in the manifest (the request never holds the key)."""

    flow: str
    hs_level: str
    month: str
    kind: str
    part: str
    path: str
    request: str
    http_status: int
    bytes: int
    sha256: str
    row_count: int
    header: list[str]
    fetched_at: str
    source: str
    client_version: str
    attempts: int
    extraction_id: str | None = None  # the extraction this file belongs to (None before records existed)
    prefix_rows: dict[str, int] | None = None  # detail rows per requested prefix (per chapter if whole)


def month_dir(landing_dir: Path, flow: str, hs_level: str, month: str) -> Path:
    return Path(landing_dir) / flow / hs_level / month


def write_immutable(directory: Path, stem: str, body: bytes) -> tuple[Path, str]:
    """Write ``body`` gzipped to ``<directory>/<stem>-<sha16>.json.gz`` (temp file + rename,
    content-addressed: the same bytes are written once); return the path and the sha256."""
    digest = hashlib.sha256(body).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{stem}-{digest[:16]}.json.gz"
    if not target.exists():
        handle, temp_name = tempfile.mkstemp(dir=directory, prefix=".landing-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
                zipped.write(body)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    return target, digest


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line to a manifest or record file (thread-safe within the process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with _manifest_lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


def record_extraction(landing_dir: Path, flow: str, hs_level: str, month: str, record: dict) -> None:
    """Append a complete extraction's record (written after all its files landed)."""
    directory = month_dir(landing_dir, flow, hs_level, month)
    directory.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with _manifest_lock, open(directory / EXTRACTIONS, "a", encoding="utf-8") as handle:
        handle.write(line)


def read_records(path: Path) -> list[dict]:
    """JSON lines of a manifest or extraction record file; a line cut short by a crash is skipped
    (that extraction never completed)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line) if line else None
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
    return records


def read_extractions(landing_dir: Path, flow: str, hs_level: str, month: str) -> list[dict]:
    """The month's extraction records, oldest first."""
    path = month_dir(landing_dir, flow, hs_level, month) / EXTRACTIONS
    return [r for r in read_records(path) if r.get("extraction_id")]


def latest_extraction(landing_dir: Path, flow: str, hs_level: str, month: str) -> dict | None:
    """The month's newest extraction record (what it cost, how it was split), if any."""
    records = read_extractions(landing_dir, flow, hs_level, month)
    return records[-1] if records else None


def nearest_extraction(landing_dir: Path, flow: str, hs_level: str, month: str) -> dict | None:
    """The newest extraction record of the nearest earlier month (else the nearest later one).

    This is where a run's first month of a flow learns whether that flow needed splitting.
    """
    base = Path(landing_dir) / flow / hs_level
    if not base.exists():
        return None
    months = sorted(d.name for d in base.iterdir() if (d / EXTRACTIONS).exists() and d.name != month)
    earlier = [m for m in months if m < month]
    later = [m for m in months if m > month]
    for candidate in [*reversed(earlier), *later]:
        records = read_extractions(landing_dir, flow, hs_level, candidate)
        if records:
            return records[-1]
    return None


def read_manifest(landing_dir: Path, flow: str, hs_level: str, month: str) -> list[LandedFile]:
    """The month's manifest rows; each file is found next to its manifest.

    The recorded ``path`` is where the file was written; a data directory that has since
    moved (a restored backup, a volume mounted elsewhere) still loads, because the file is
    looked up by its name in the month's directory, never by the recorded absolute path.
    """
    directory = month_dir(landing_dir, flow, hs_level, month)
    manifest = directory / MANIFEST
    if not manifest.exists():
        return []
    entries = [LandedFile(**json.loads(line)) for line in manifest.read_text(encoding="utf-8").splitlines() if line]
    return [replace(entry, path=str(directory / Path(entry.path).name)) for entry in entries]


def latest_landed(landing_dir: Path, flow: str, hs_level: str, month: str) -> list[LandedFile]:
    """The files of the most recent complete extraction of a month.

    Months extracted with extraction records: exactly the files of the last record's
    extraction (parts of two extractions are never mixed). Older months without records:
    per (kind, part) the last manifest row wins, and the detail is either the whole-month
    file or the split parts, whichever was fetched last.
    """
    entries = read_manifest(landing_dir, flow, hs_level, month)
    records = read_extractions(landing_dir, flow, hs_level, month)
    if records:
        extraction_id = records[-1]["extraction_id"]
        chosen = [e for e in entries if e.extraction_id == extraction_id]
        order = {"detail": 0, "totals": 1, "hs4": 2}
        return sorted(chosen, key=lambda e: (order.get(e.kind, 9), e.part))
    latest: dict[tuple[str, str], LandedFile] = {}
    for entry in entries:
        if entry.extraction_id is None:  # files with an id but no record belong to an unfinished extraction
            latest[(entry.kind, entry.part)] = entry
    detail = [e for (kind, _), e in latest.items() if kind == "detail"]
    # a split extraction supersedes an earlier whole-month file and vice versa
    whole = [e for e in detail if e.part == "all"]
    parts = [e for e in detail if e.part != "all"]
    if whole and whole[0].fetched_at >= max((p.fetched_at for p in parts), default=""):
        detail = whole
    else:
        detail = parts
    totals = [e for (kind, _), e in latest.items() if kind == "totals"]
    return sorted(detail, key=lambda e: e.part) + totals
