"""GX Data Docs: the validation results of the load gate as a static site (docs/gx/).

Kept apart from the gate (``load/gate.py``): the gate decides whether a month is loaded;
this module only renders what it decided, once per run, from the results it saved.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from trade_warehouse.core.config import Settings
from trade_warehouse.report.html import templates


def build_data_docs(results_dir: Path, site_dir: Path, keep: int = 120) -> Path:
    """Render GX Data Docs (static HTML) from the newest saved validation results.

    Built by a single task after the validations: concurrent ``build_data_docs`` calls
    on one site fail (great_expectations issue 3487), and the per-task ephemeral
    contexts that validated the months are gone by then. The site shows the newest ``keep``
    results (about 20 nights; rendering costs about 15 ms a result, so a larger site would
    slow every night); every validation of every month stays in ``audit.validations``.
    """
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    files = sorted(Path(results_dir).glob("*/*.json"), key=lambda p: p.stat().st_mtime)[-keep:]
    site_dir = Path(site_dir)
    shutil.rmtree(site_dir / "validations", ignore_errors=True)
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
    status: dict[tuple[str, str, str], bool] = {}
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        document.setdefault("meta", {})["run_id"] = {"run_name": path.parent.name, "run_time": None}
        result = schema.load(document)
        flow_month = "-".join(path.stem.split("-")[:3])  # exports-2017-01
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=RunIdentifier(run_name=path.parent.name),
            batch_identifier=flow_month,
        )
        context.validation_results_store.set(key, result)
        status[(result.suite_name, path.parent.name, flow_month)] = bool(result.success)
    context.build_data_docs(site_names=["trade_warehouse"])
    _write_offline_index(site_dir, status)
    return site_dir / "index.html"


def _write_offline_index(site_dir: Path, status: dict[tuple[str, str, str], bool]) -> None:
    """Replace GX's index with a static one: GX's lists its results with scripts from CDNs,
    so offline it shows an empty table. GX's own index stays as ``gx_index.html``."""
    os.replace(site_dir / "index.html", site_dir / "gx_index.html")
    rows = []
    for page in (site_dir / "validations").rglob("*.html"):
        suite, run_name, _, batch = page.relative_to(site_dir / "validations").with_suffix("").parts
        passed = status.get((suite, run_name, batch))
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
