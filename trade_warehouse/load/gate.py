"""Great Expectations gate for every loaded month (write-audit-publish's "audit").

Suites are JSON files in ``expectations/`` versioned with the code and loaded into an
ephemeral GX context per process, so parallel tasks never share or corrupt a file
context. Data reach GX as pandas DataFrames read from DuckDB: GX's SQL datasource over
duckdb-engine returns no rows (great_expectations issue 11579).

This module is the generic runner (any suite, any frame, one or several months per run);
what a source checks, and the frames it builds, live with the source
(``sources/census/checks.py``, the Comtrade loader).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from trade_warehouse.core.config import EXPECTATIONS_DIR

log = logging.getLogger(__name__)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# GX logs thousands of INFO lines on import ("Skipping registering function ... closure"):
# lowered before anything imports it, so task logs keep only what an operator needs.
logging.getLogger("great_expectations").setLevel(logging.WARNING)


@dataclass
class SuiteResult:
    """One suite's verdict on a frame: its failed expectations, summarised, and GX's own JSON."""

    suite: str
    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)
    document: dict = field(default_factory=dict, repr=False)  # GX's JSON, for Data Docs
    # a validation of several months (run_suite's by_month): each month's own failures
    failed_by_month: dict[str, list[dict]] | None = field(default=None, repr=False)

    def summary(self) -> str:
        lines = [f"suite {self.suite}: {len(self.failed)} of {self.evaluated} expectations failed"]
        for failure in self.failed:
            lines.append(
                f"  - {failure['expectation']} {failure['column'] or ''}: observed {failure['observed']}, "
                f"expected {failure['expected']}; examples {failure['examples']}"
            )
        return "\n".join(lines)

    def for_month(self, month: str) -> SuiteResult:
        """This result as one month of a several-month validation sees it (its own failures only)."""
        if self.failed_by_month is None:
            return self
        failed = self.failed_by_month.get(month, [])
        return SuiteResult(self.suite, not failed, self.evaluated, failed, self.document)


_GX_LOCK = threading.Lock()
# one validation at a time: the load's lanes share one GX context, which is not thread-safe
# (and is pure Python, so two runs at once would not be faster anyway)
_GX_RUN_LOCK = threading.Lock()


def warm_up() -> threading.Thread:
    """Import GX and build its context in a background thread; returns the thread.

    Importing GX and building the context costs 5 to 7 s of one core, once per process.
    The load task starts it first thing, so it overlaps the reading of the first months
    (DuckDB, on the other core) instead of adding to it. ``_gx`` waits for it if need be.
    """
    thread = threading.Thread(target=_gx, name="gx-warm-up", daemon=True)
    thread.start()
    return thread


def _gx():
    """One ephemeral context per process with every suite from ``expectations/`` (built once)."""
    with _GX_LOCK:
        return _build_gx()


@lru_cache(maxsize=1)
def _build_gx():
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # progress bars only cost log noise
        pass
    batch_definition = (
        context.data_sources.add_pandas("trade_month")
        .add_dataframe_asset("month")
        .add_batch_definition_whole_dataframe("whole")
    )
    definitions = {}
    for path in sorted(Path(EXPECTATIONS_DIR).glob("*.json")):
        suite = context.suites.add(gx.ExpectationSuite(**json.loads(path.read_text(encoding="utf-8"))))
        definitions[suite.name] = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
        )
    return definitions


def run_suite(
    name: str,
    frame: pd.DataFrame,
    parameters: dict,
    examples_from: pd.DataFrame | None = None,
    by_month: list[str] | None = None,
) -> SuiteResult:
    """Validate ``frame`` with the suite ``name``; failures carry observed values and examples.

    ``by_month``: the frame holds several months (column ``loaded_month``); each failure is
    attributed to the months of its unexpected rows (GX's ``unexpected_index_list``), or to
    every month when GX names no rows. ``examples_from``: a frame of set-based checks (one
    row per month, e.g. the Census ``detail_checks``), whose failures report the checked
    value itself and the examples in its ``<column>_examples``.
    """
    definitions = _gx()
    if name not in definitions:
        raise KeyError(f"no expectation suite {name!r} in {EXPECTATIONS_DIR}")
    result_format: str | dict = "SUMMARY"
    if by_month is not None:
        result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": ["loaded_month"]}
    with _GX_RUN_LOCK:
        result = definitions[name].run(
            batch_parameters={"dataframe": frame}, expectation_parameters=parameters, result_format=result_format
        )
    failed: list[dict] = []
    failed_by_month: dict[str, list[dict]] | None = None if by_month is None else {m: [] for m in by_month}
    for item in result.results:
        if item.success:
            continue
        failure = _Failure.from_gx(item)
        if failed_by_month is None:
            failed.append(failure.base)
            continue
        for month, entry in _month_entries(failure, list(failed_by_month), examples_from):
            failed_by_month[month].append(entry)
            failed.append({**entry, "month": month})
    document = result.to_json_dict()
    document.get("meta", {}).pop("batch_parameters", None)  # holds the DataFrame itself
    evaluated = int(result.statistics["evaluated_expectations"])
    return SuiteResult(name, bool(result.success), evaluated, failed, document, failed_by_month)


@dataclass(frozen=True)
class _Failure:
    """One failed expectation of a GX run, summarised (``base``) with what attributing it needs."""

    kwargs: dict
    result: dict
    raised: bool
    columns: list[str] | None  # the pair's or the key's columns, when not a one-column expectation
    base: dict

    @classmethod
    def from_gx(cls, item) -> _Failure:
        kwargs = {k: v for k, v in item.expectation_config.kwargs.items() if k not in ("batch_id",)}
        res = item.result or {}
        raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
        columns = [kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k)] or kwargs.get("column_list")
        column = kwargs.get("column") or columns
        base = {
            "expectation": item.expectation_config.type,
            "column": ", ".join(column) if isinstance(column, list) else column,
            "observed": _observed(item, res, raised),
            "expected": _expected(kwargs, item.expectation_config.type),
            "examples": [str(x) for x in (res.get("partial_unexpected_list") or [])[:5]],
        }
        return cls(kwargs, res, raised, columns, base)


def _observed(item, res: dict, raised: bool) -> object:
    """What GX observed: its value, else the count of unexpected rows, else the error it raised."""
    if raised:
        return f"error: {item.exception_info.get('exception_message')}"
    observed = res.get("observed_value")
    if observed is None and res.get("unexpected_count") is not None:
        observed = f"{res.get('unexpected_count')} unexpected rows"
    return observed


def _expected(kwargs: dict, expectation: str) -> dict | str:
    """The expectation's arguments without its columns; a pair says its relation instead of GX's flags."""
    if kwargs.get("column_B"):
        relation = "=" if "equal" in expectation else (">=" if kwargs.get("or_equal") else ">")
        return f"{kwargs['column_A']} {relation} {kwargs['column_B']}"
    expected = {k: v for k, v in kwargs.items() if k not in ("column", "column_list", "column_A", "column_B")}
    if isinstance(expected.get("value_set"), list) and len(expected["value_set"]) > 8:
        expected["value_set"] = f"<{len(expected['value_set'])} known values>"
    return expected


def _month_entries(failure: _Failure, months: list[str], examples_from: pd.DataFrame | None) -> list[tuple[str, dict]]:
    """The failure as each month it concerns sees it: its own unexpected rows and examples."""
    hit: dict[str, list[dict]] = {}
    for row in failure.result.get("unexpected_index_list") or []:
        if isinstance(row, dict) and row.get("loaded_month") in months:
            hit.setdefault(row["loaded_month"], []).append(row)
    if failure.raised or not hit:  # a table-level failure or an error: every month of the batch
        hit = {month: [] for month in months}
    entries = []
    for month, month_rows in hit.items():
        entry = dict(failure.base)
        if month_rows:
            kwargs = failure.kwargs
            shown = [kwargs.get("column")] if kwargs.get("column") else (failure.columns or [])
            entry["observed"] = f"{len(month_rows)} unexpected rows"
            joiner = " vs " if kwargs.get("column_B") else ", "  # a pair compares; a key lists
            entry["examples"] = [joiner.join(str(r.get(c)) for c in shown) for r in month_rows[:5]]
        if examples_from is not None and not failure.raised:
            _describe_from_checks(entry, failure.kwargs, examples_from, month)
        entries.append((month, entry))
    return entries


def _describe_from_checks(entry: dict, kwargs: dict, checks: pd.DataFrame, month: str) -> None:
    """A set-based check's failure: report the checked value and its listed examples."""
    row = checks[checks["loaded_month"] == month]
    if len(row) != 1:
        return
    row = row.iloc[0]
    if kwargs.get("column_B"):  # the row-count band: both sides
        a, b = kwargs["column_A"], kwargs["column_B"]
        entry["observed"] = f"{a} {row[a]}, {b} {row[b]}"
        entry["examples"] = []
    elif kwargs.get("column") in row:
        entry["observed"] = str(row[kwargs["column"]])
        listed = row.get(f"{kwargs['column']}_examples")
        entry["examples"] = [str(x) for x in (list(listed) if listed is not None else [])]


def row_band(trailing: list[int]) -> tuple[int, int | None]:
    """Accepted detail row count: half to double the median of the trailing months."""
    if not trailing:
        return 1, None
    median = statistics.median(trailing)
    return max(1, int(median * 0.5)), int(median * 2) + 1


def save_result(results_dir: Path, run_id: str, flow: str, month: str, result: SuiteResult) -> Path:
    """Keep a validation result as JSON so one later task can build the Data Docs site."""
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    target = Path(results_dir) / safe_run / f"{flow}-{month}-{result.suite}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result.document, default=str), encoding="utf-8")
    return target
