"""The immutable landing zone: raw Census responses, byte for byte, plus a manifest.

Layout: ``<data>/landing/census/<flow>/<hs_level>/<YYYY-MM>/<kind>-<part>-<sha16>.json.gz``
and a ``manifest.jsonl`` beside the files. Files are content-addressed and written with
temp file + rename, so a crash never leaves a partial file, a re-extraction of unchanged
bytes does not duplicate them, and a changed response (a revision) lands as a new file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from trade_warehouse.census_client import CLIENT_VERSION, Response

MANIFEST = "manifest.jsonl"
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


def month_dir(landing_dir: Path, flow: str, hs_level: str, month: str) -> Path:
    return Path(landing_dir) / flow / hs_level / month


def land_response(landing_dir: Path, hs_level: str, month: str, response: Response) -> LandedFile | None:
    """Write a 200 response unchanged (gzip) and record it; a 204 lands nothing."""
    if response.status == 204:
        return None
    request = response.request
    digest = hashlib.sha256(response.body).hexdigest()
    directory = month_dir(landing_dir, request.flow, hs_level, month)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{request.kind}-{request.part}-{digest[:16]}.json.gz"
    if not target.exists():
        handle, temp_name = tempfile.mkstemp(dir=directory, prefix=".landing-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
                zipped.write(response.body)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    landed = LandedFile(
        flow=request.flow,
        hs_level=hs_level,
        month=month,
        kind=request.kind,
        part=request.part,
        path=str(target),
        request=request.describe(),
        http_status=response.status,
        bytes=len(response.body),
        sha256=digest,
        row_count=response.row_count,
        header=response.header,
        fetched_at=response.fetched_at,
        source=response.source,
        client_version=CLIENT_VERSION,
        attempts=response.attempts,
    )
    line = json.dumps(asdict(landed), sort_keys=True) + "\n"
    with _manifest_lock, open(directory / MANIFEST, "a", encoding="utf-8") as manifest:
        manifest.write(line)
    return landed


def latest_landed(landing_dir: Path, flow: str, hs_level: str, month: str) -> list[LandedFile]:
    """The files of the most recent extraction of a month, from its manifest.

    For each (kind, part) the last manifest row wins. The detail is either the whole-month
    file or the split parts, whichever was fetched last; the totals file is the last one.
    """
    manifest = month_dir(landing_dir, flow, hs_level, month) / MANIFEST
    if not manifest.exists():
        return []
    entries = [LandedFile(**json.loads(line)) for line in manifest.read_text(encoding="utf-8").splitlines() if line]
    latest: dict[tuple[str, str], LandedFile] = {}
    for entry in entries:
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
