"""What each stage of a run returns: typed results, and one failure type for every stage.

Stage results travel as XCom (JSON) from one Airflow task to the next, to the run's
``finish`` task, to the CLI's run summary and to the failure alert. One set of
dataclasses with one serialized form (:meth:`to_xcom` / ``from_xcom``) means every reader
sees the same fields: nobody rebuilds a failure from text, and a validation failure
carries its failed expectations (suite, expectation, column, examples) all the way to
what ``make backfill`` prints.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from trade_warehouse.core.errors import TerminalError

Stage = Literal["extract", "load", "validate"]
MAX_EXAMPLES = 3


def _plain(value: Any) -> Any:
    """JSON types only (tuples become lists): XCom stores a tuple as an Airflow-encoded object,
    which a reader of the raw value (the CLI, reading the metadata database) would not undo."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation a month failed: what GX observed, what it expected, a few bad values."""

    suite: str
    expectation: str
    column: str
    observed: str
    expected: str
    examples: tuple[str, ...] = ()

    @classmethod
    def from_gx(cls, suite: str, failure: dict) -> FailedExpectation:
        """From one entry of ``validation.SuiteResult.failed`` (GX's result, already summarised)."""
        column = failure.get("column")
        if isinstance(column, list | tuple):
            column = ", ".join(map(str, column))
        return cls(
            suite=suite,
            expectation=_text(failure.get("expectation")),
            column=_text(column),
            observed=_text(failure.get("observed")),
            expected=_text(failure.get("expected")),
            examples=tuple(_text(x) for x in (failure.get("examples") or [])[:MAX_EXAMPLES]),
        )

    def describe(self) -> str:
        column = f" on {self.column}" if self.column else ""
        examples = f"; e.g. {', '.join(self.examples)}" if self.examples else ""
        return (
            f"{self.suite}: {self.expectation}{column}: observed {self.observed}{examples} (expected {self.expected})"
        )


@dataclass(frozen=True)
class MonthFailure:
    """A flow-month that failed in one stage; the next stages skip it, the other months go on.

    ``transient`` says whether a later re-run may succeed without anyone changing anything
    (the API answered 5xx or timed out) or not (a rejected key, a failed expectation).
    ``consequence`` marks months that were not even tried because of an earlier failure
    (after a rejected key, the rest of the window): they are listed after the real causes.
    """

    flow: str
    month: str
    stage: Stage
    transient: bool
    reason: str
    expectations: tuple[FailedExpectation, ...] = ()
    consequence: bool = False

    def describe(self) -> str:
        """One line per failure, then one indented line per failed expectation."""
        lines = [f"{self.flow} {self.month} at {self.stage}: {self.reason}"]
        lines += [f"    - {e.describe()}" for e in self.expectations]
        return "\n".join(lines)

    def to_xcom(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> MonthFailure:
        expectations = tuple(
            FailedExpectation(**{**e, "examples": tuple(e.get("examples") or ())})
            for e in data.get("expectations") or ()
        )
        return cls(
            flow=data["flow"],
            month=data["month"],
            stage=data["stage"],
            transient=bool(data["transient"]),
            reason=data["reason"],
            expectations=expectations,
            consequence=bool(data.get("consequence")),
        )


def sorted_failures(failures: list[MonthFailure]) -> list[MonthFailure]:
    """Causes first, then the months skipped because of them; each group by month and flow."""
    return sorted(failures, key=lambda f: (f.consequence, f.month, f.flow, f.stage))


def describe_failures(failures: list[MonthFailure]) -> str:
    """The run summary's failure block: a count, then every failed flow-month with its reason."""
    if not failures:
        return ""
    lines = [f"{len(failures)} flow-month(s) failed:"]
    lines += ["  " + f.describe().replace("\n", "\n  ") for f in sorted_failures(failures)]
    return "\n".join(lines)


@dataclass(frozen=True)
class FlowMonth:
    flow: str
    month: str


@dataclass
class ExtractResult:
    """Which flow-months landed (and will be loaded), which are unreleased, which failed."""

    landed: list[FlowMonth] = field(default_factory=list)
    unreleased: list[str] = field(default_factory=list)
    failures: list[MonthFailure] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)  # one extraction record per flow-month
    bytes: int = 0
    requests: int = 0
    seconds: float = 0.0
    from_landing: bool = False  # a reload of landed files: no API call was made

    def to_xcom(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> ExtractResult:
        return cls(
            landed=[FlowMonth(**m) for m in data.get("landed", [])],
            unreleased=list(data.get("unreleased", [])),
            failures=[MonthFailure.from_xcom(f) for f in data.get("failures", [])],
            costs=list(data.get("costs", [])),
            bytes=int(data.get("bytes", 0)),
            requests=int(data.get("requests", 0)),
            seconds=float(data.get("seconds", 0.0)),
            from_landing=bool(data.get("from_landing")),
        )


@dataclass(frozen=True)
class MonthLoad:
    """A flow-month the load stage finished: swapped in (``loaded``) or kept (``unchanged``)."""

    flow: str
    month: str
    status: Literal["loaded", "unchanged"]
    load_id: str | None = None
    rows: int | None = None


@dataclass
class LoadResult:
    loaded: list[MonthLoad] = field(default_factory=list)
    unchanged: list[MonthLoad] = field(default_factory=list)
    failures: list[MonthFailure] = field(default_factory=list)

    def to_xcom(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> LoadResult:
        return cls(
            loaded=[MonthLoad(**m) for m in data.get("loaded", [])],
            unchanged=[MonthLoad(**m) for m in data.get("unchanged", [])],
            failures=[MonthFailure.from_xcom(f) for f in data.get("failures", [])],
        )


@dataclass
class PublishResult:
    """What ``transform_and_publish`` did: published a snapshot, or why not."""

    published: bool
    reason: str = ""
    publish_id: str | None = None
    serving_path: str | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    months: int = 0
    docs_rebuilt: bool = False
    dbt_seconds: float = 0.0
    publish_seconds: float = 0.0
    # the months rebuilt and re-published on top of the snapshot in service; None = all of them
    changed_months: list[str] | None = None

    def to_xcom(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> PublishResult:
        return cls(**data)


def run_failures(extracted: ExtractResult | None, loaded: LoadResult | None) -> list[MonthFailure]:
    """Every failed flow-month of a run, whichever stage it failed in."""
    return [*(extracted.failures if extracted else []), *(loaded.failures if loaded else [])]


class PipelineError(TerminalError):
    """A run finished with failed months; the message lists each month and why."""

    def __init__(self, failures: list[MonthFailure]) -> None:
        super().__init__(describe_failures(failures))
        self.failures = failures


def raise_for_failures(extracted: ExtractResult | None, loaded: LoadResult | None) -> None:
    """End the run failed, naming every failed month, after the good months were published."""
    failures = [*(extracted.failures if extracted else []), *(loaded.failures if loaded else [])]
    if failures:
        raise PipelineError(failures)


TASK_FAILURE_KEY = "task_failure"  # the XCom key under which a failing task leaves its TaskFailure
_SECRET_PARAM = re.compile(r"((?:[?&]|\b)(?:key|subscription-key|api_key)=)[^&\s'\":;,)]+", re.IGNORECASE)


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed as a whole (settings, plan, dbt, publish, docs), not one flow-month.

    Month failures let the other months go on; a task failure stops what depends on the task.
    The failing task leaves this under the XCom key ``task_failure`` before it raises, so the
    run summary and the alert name the cause from the same typed value, never from the log.
    ``transient`` as for :class:`MonthFailure`: whether a re-run may succeed unchanged.
    """

    task: str
    cause: str
    transient: bool = False

    @classmethod
    def from_error(cls, task: str, error: BaseException, secrets: tuple[str | None, ...] = ()) -> TaskFailure:
        """From the exception that failed the task; a key in a URL or among ``secrets`` becomes ``***``."""
        cause = _SECRET_PARAM.sub(r"\1***", str(error).strip()) or error.__class__.__name__
        for secret in secrets:
            cause = cause.replace(secret, "***") if secret else cause
        return cls(task=task, cause=cause, transient=bool(getattr(error, "transient", False)))

    def describe(self) -> str:
        """One line: the task, then the first line of its cause."""
        first = next((line.strip() for line in self.cause.splitlines() if line.strip()), "unknown error")
        return f"{self.task}: {first}"

    def to_xcom(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> TaskFailure:
        return cls(task=data["task"], cause=data["cause"], transient=bool(data.get("transient")))
