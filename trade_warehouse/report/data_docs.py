"""GX Data Docs: the validation results of the load gate as a static site (docs/gx/).

Kept apart from the gate (``load/gate.py``): the gate decides whether a month is loaded;
this module only renders what it decided, once per run, from the results it saved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from trade_warehouse.core.config import Settings
from trade_warehouse.report.html import templates


def build_data_docs(results_dir: Path, site_dir: Path, keep: int = 120) -> Path:
    """Render GX Data Docs (static HTML) from the newest saved validation results.

    Built by a single task after the validations: concurrent ``build_data_docs`` calls
    on one site fail (great_expectations issue 3487), and the per-task ephemeral
    contexts that validated the months are gone by then. The site shows the newest ``keep``
    results (about 20 nights); every validation of every month stays in ``audit.validations``.
    A result's page is named by the result file's modification time, so it never changes:
    only results without a page are rendered, and pages of results no longer kept (or saved
    again under the same name, by a retried task) are deleted. Rendering all 120 again cost
    1.5 s of every night, most of it GX serialising each result into its store.
    """
    files = sorted(Path(results_dir).glob("*/*.json"), key=lambda p: p.stat().st_mtime)[-keep:]
    site_dir = Path(site_dir)
    kept = {_page_key(path): path for path in files}
    rendered = _rendered_pages(site_dir)
    for key in set(rendered) - set(kept):
        rendered[key].unlink(missing_ok=True)  # another run's build may have removed it
    fresh = [path for key, path in kept.items() if key not in rendered]
    if fresh:
        _render(site_dir, fresh)
    (site_dir / "gx_index.html").unlink(missing_ok=True)  # GX's index, written before 2026-12 (CDN scripts)
    status = {key: bool(json.loads(path.read_text(encoding="utf-8")).get("success")) for key, path in kept.items()}
    _write_offline_index(site_dir, status)
    return site_dir / "index.html"


PageKey = tuple[str, str, str, str]  # suite, run, result time, batch: validations/<suite>/<run>/<time>/<batch>.html


def _result_time(result_file: Path) -> datetime:
    """When the result was saved (its file's modification time): the page's run time."""
    return datetime.fromtimestamp(result_file.stat().st_mtime, UTC)


def _page_key(result_file: Path) -> PageKey:
    """The page of a saved result ``<run>/<flow>-<month>-<suite>.json``, as GX names it."""
    parts = result_file.stem.split("-")
    time = _result_time(result_file).strftime("%Y%m%dT%H%M%S.%fZ")  # GX's RunIdentifier.to_tuple
    return parts[-1], result_file.parent.name, time, "-".join(parts[:3])  # batch: exports-2017-01


def _rendered_pages(site_dir: Path) -> dict[PageKey, Path]:
    """The result pages on the site, by their key."""
    base = site_dir / "validations"
    return {tuple(page.relative_to(base).with_suffix("").parts): page for page in base.rglob("*.html")}


def _render(site_dir: Path, files: list[Path]) -> None:
    """Render the pages of ``files`` (saved results) with an ephemeral GX context.

    Only those results go into its store, and GX's own index is not built: it lists the
    store, would delete the pages of every other result, and needs scripts from CDNs to
    show anything (``_write_offline_index`` writes the site's index instead).
    """
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        site_name="trade_warehouse",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
        },
    )
    schema = ExpectationSuiteValidationResultSchema()
    for path in files:
        run_time = _result_time(path)
        document = json.loads(path.read_text(encoding="utf-8"))
        document.setdefault("meta", {})["run_id"] = {"run_name": path.parent.name, "run_time": run_time.isoformat()}
        result = schema.load(document)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=RunIdentifier(run_name=path.parent.name, run_time=run_time),
            batch_identifier=_page_key(path)[3],
        )
        context.validation_results_store.set(key, result)
    context.build_data_docs(site_names=["trade_warehouse"], build_index=False)


def _write_offline_index(site_dir: Path, status: dict[PageKey, bool]) -> None:
    """The site's index as static HTML (GX's lists its results with scripts from CDNs, so
    offline it showed an empty table)."""
    rows = []
    for (suite, run_name, time, batch), page in _rendered_pages(site_dir).items():
        passed = status.get((suite, run_name, time, batch))
        flow, month = batch.split("-", 1)
        rows.append((month, flow, suite, passed, run_name, page.relative_to(site_dir).as_posix()))
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[4]), reverse=True)
    page = (
        templates()
        .get_template("gx_index.html.j2")
        .render(
            rows=[
                {"month": m, "flow": f, "suite": s, "passed": p, "run": r, "link": link} for m, f, s, p, r, link in rows
            ],
            failed=sum(1 for r in rows if not r[3]),
        )
    )
    (site_dir / "index.html").write_text(page, encoding="utf-8")


def build_gx_docs(settings: Settings) -> str:
    """Rebuild the GX Data Docs site from the saved validation results."""
    if not any(settings.gx_results_dir.glob("*/*.json")):
        return ""
    return str(build_data_docs(settings.gx_results_dir, settings.gx_docs_dir))
