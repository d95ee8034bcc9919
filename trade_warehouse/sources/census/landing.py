"""Landing one Census response: its bytes unchanged in the landing zone, its shape in the manifest.

Why here and not in ``load/landing``: the landing zone knows files and manifests; what a
Census :class:`~trade_warehouse.sources.census.api.Response` holds (its request, the
header as served, the rows per prefix) is this source's business.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from trade_warehouse.core.http import CLIENT_VERSION
from trade_warehouse.load.landing import MANIFEST, LandedFile, append_jsonl, month_dir, write_immutable
from trade_warehouse.sources.census.api import Response


def land_response(
    landing_dir: Path, hs_level: str, month: str, response: Response, extraction_id: str | None = None
) -> LandedFile | None:
    """Write a 200 response unchanged (gzip) and record it; a 204 lands nothing.

    The manifest keeps the header exactly as served (a predicate also in ``get`` appears
    twice): the loader checks it against the file's own first row.
    """
    if response.status == 204:
        return None
    request = response.request
    directory = month_dir(landing_dir, request.flow, hs_level, month)
    target, digest = write_immutable(directory, f"{request.kind}-{request.part}", response.body)
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
        extraction_id=extraction_id,
        prefix_rows=response.prefix_rows or None,
    )
    append_jsonl(directory / MANIFEST, asdict(landed))
    return landed
