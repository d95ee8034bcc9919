"""Heavy months: split a month's detail request into well-sized parts, and remember what worked.

The live API refuses queries too heavy to compute in time (HTTP 500 after minutes, or a
time-out), so on users' machines a month of HS6 or HS10 detail usually has to be split.
Failed heavy attempts are the expensive part (each costs minutes of server time), so:

* **Remember what worked.** A :class:`SizeMemory` per flow and HS level holds the rows of
  each commodity prefix in the last extracted month, the largest request that succeeded
  and the smallest that failed as too heavy. It comes from the landing zone's extraction
  records (``extractions.jsonl``), so it survives between runs; within a run it is carried
  from month to month. A flow whose last month needed splitting starts the next month
  split, without another failed whole-month attempt.
* **Spend at most two failed heavy attempts per flow per run** on whole months
  (:class:`HeavyBudget`), not two per month.
* **Few, well-sized requests.** Prefixes are packed into requests with the commodity
  predicate repeated (a repeated predicate is OR), each sized from last month's rows to
  stay under the size that last succeeded. Only a request that fails is split further:
  a group of prefixes into two halves of about equal rows, a single prefix into its ten
  children, down to the full code length.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from dataclasses import dataclass, field

from trade_warehouse.sources.census.api import CHAPTERS, Response, TransientCensusError, detail_request
from trade_warehouse.sources.census.client import CensusClient

WHOLE_MONTH_HEAVY_FAILURES_PER_RUN = 2  # per flow, across all the months of a run
SAFETY = 0.9  # never plan a request above this share of the smallest size known to fail
FORGET_LIMIT_AFTER_MONTHS = 6  # a limit not confirmed by a refusal for this long is tried again
MAX_PREFIXES_PER_REQUEST = 50  # keeps URLs short (about 1 KB of predicates)
MIN_TARGET_ROWS = 100  # never plan smaller requests, whatever a (damaged) memory says


@dataclass
class SizeMemory:
    """What the last extracted month of one flow and HS level taught about request sizes."""

    units: dict[str, int] = field(default_factory=dict)  # commodity prefix -> rows; covers every chapter
    ok_rows: int | None = None  # largest detail request known to succeed
    fail_rows: int | None = None  # smallest detail request known to fail as too heavy
    split: bool = False  # the last month needed splitting
    months_since_refusal: int = 0  # months split without any refused request since fail_rows was learned

    def target_rows(self) -> int | None:
        """Planned rows per request: between the sizes known to succeed and to fail.

        Halfway between the largest success and the smallest failure (capped below the
        failure), so the plan converges on the server's limit over a few months while a
        month that grew a little still fits.
        """
        if self.ok_rows and self.fail_rows:
            midpoint = self.ok_rows + (self.fail_rows - self.ok_rows) / 2
            return max(1, int(min(midpoint, self.fail_rows * SAFETY)))
        if self.fail_rows:
            return max(1, int(self.fail_rows / 2))
        return self.ok_rows

    def to_record(self) -> dict:
        return {
            "units": self.units,
            "ok_rows": self.ok_rows,
            "fail_rows": self.fail_rows,
            "split": self.split,
            "months_since_refusal": self.months_since_refusal,
        }

    @classmethod
    def from_record(cls, record: dict) -> SizeMemory | None:
        """The memory in an extraction record; None if the record does not hold a usable one."""

        def count(value: object) -> int | None:
            return int(value) if isinstance(value, int | float) and value >= 0 else None

        units = record.get("units")
        if not isinstance(units, dict):
            return None
        return cls(
            units={str(k): count(v) or 0 for k, v in units.items()},
            ok_rows=count(record.get("ok_rows")),
            fail_rows=count(record.get("fail_rows")),
            split=bool(record.get("split")),
            months_since_refusal=count(record.get("months_since_refusal")) or 0,
        )


class HeavyBudget:
    """Failed whole-month attempts allowed per flow in one run (shared by its months)."""

    def __init__(self, allowed: int = WHOLE_MONTH_HEAVY_FAILURES_PER_RUN) -> None:
        self.allowed = allowed
        self._failed: dict[str, int] = {}
        self._lock = threading.Lock()

    def remaining(self, flow: str) -> int:
        with self._lock:
            return self.allowed - self._failed.get(flow, 0)

    def spend(self, flow: str) -> None:
        with self._lock:
            self._failed[flow] = self._failed.get(flow, 0) + 1


@dataclass
class RequestOutcome:
    """One detail request as sent: its part, result and cost (for the record and `make status`)."""

    part: str
    prefixes: tuple[str, ...]
    status: int | None  # 200, 204, or None when it failed
    rows: int
    attempts: int
    heavy_failure: bool = False
    error: str | None = None


@dataclass
class DetailExtraction:
    """A month's detail responses and how they were obtained."""

    responses: list[Response]
    outcomes: list[RequestOutcome]
    units: dict[str, int]
    mode: str  # "whole" or "split"

    @property
    def requests(self) -> int:
        return sum(o.attempts for o in self.outcomes)

    @property
    def failed(self) -> int:
        """Requests that did not return data (each failed attempt counts)."""
        return sum(o.attempts - (o.status is not None) for o in self.outcomes)

    @property
    def parts(self) -> list[str]:
        return [o.part for o in self.outcomes if o.status == 200]

    def memory(self, previous: SizeMemory | None) -> SizeMemory:
        """The memory the next month of this flow starts from.

        A failed request's size is known exactly once the month is complete: its
        prefixes were all fetched by the requests it was split into.
        """
        succeeded = [o.rows for o in self.outcomes if o.status == 200]
        failed_sizes = [self._rows_under(o.prefixes) for o in self.outcomes if o.heavy_failure]
        ok_rows = max(succeeded, default=None) or (previous.ok_rows if previous else None)
        if failed_sizes:
            fail_rows: int | None = min(failed_sizes)
            quiet = 0
        else:
            fail_rows = previous.fail_rows if previous else None
            quiet = (previous.months_since_refusal + 1) if previous else 0
        if fail_rows is not None and ok_rows is not None and fail_rows <= ok_rows:
            fail_rows = None  # the server took more than it once refused: forget the old limit
        if quiet >= FORGET_LIMIT_AFTER_MONTHS:
            # a refusal not seen again for months may have been a transient fault, or the
            # server got faster: try the whole month again (at most 2 failed attempts a run)
            fail_rows, quiet = None, 0
        split = self.mode == "split" and fail_rows is not None
        return SizeMemory(
            units=self.units, ok_rows=ok_rows, fail_rows=fail_rows, split=split, months_since_refusal=quiet
        )

    def _rows_under(self, prefixes: tuple[str, ...]) -> int:
        if not prefixes:
            return sum(self.units.values())
        return sum(rows for unit, rows in self.units.items() if unit.startswith(prefixes))


def pack(units: dict[str, int], target: int, digits: int = 6) -> list[tuple[str, ...]]:
    """Group prefixes (in code order) into requests of at most ``target`` predicted rows.

    Contiguous runs keep part names readable (``01-15``). A prefix predicted above the
    target is replaced by its ten children first (each predicted at a tenth), so no
    request is planned to fail; one that fails anyway is split further when refused.
    """
    target = max(MIN_TARGET_ROWS, target)
    units = refine(units, target, digits)
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    size = 0
    for prefix in sorted(units):
        rows = units[prefix]
        if current and (size + rows > target or len(current) >= MAX_PREFIXES_PER_REQUEST):
            groups.append(tuple(current))
            current, size = [], 0
        current.append(prefix)
        size += rows
    if current:
        groups.append(tuple(current))
    return groups


def refine(units: dict[str, int], target: int, digits: int) -> dict[str, int]:
    """Replace each prefix predicted above ``target`` by its children, down to the code length."""
    refined: dict[str, int] = {}
    pending = list(units.items())
    while pending:
        prefix, rows = pending.pop()
        if rows > target and len(prefix) + 1 < digits:
            pending += [(prefix + digit, max(1, rows // 10)) for digit in "0123456789"]
        else:
            refined[prefix] = rows
    return refined


def estimate_units(prefixes: list[str], rows: int, fetched: tuple[str, ...]) -> dict[str, int]:
    """Predict rows for ``prefixes`` from one successful request over ``fetched`` prefixes
    (``rows`` rows): an even spread per chapter, a tenth of it per extra digit."""
    chapters = sum(10.0 ** (2 - len(p)) for p in fetched) or 1.0
    per_chapter = rows / chapters
    return {p: int(per_chapter * 10.0 ** (2 - len(p))) for p in prefixes}


def halves(prefixes: tuple[str, ...], units: dict[str, int], digits: int) -> list[tuple[str, ...]]:
    """Split a refused request in two: a group into halves of about equal predicted rows,
    a single prefix into its ten children (``87`` -> ``870..874`` and ``875..879``)."""
    if len(prefixes) == 1:
        prefix = prefixes[0]
        if len(prefix) >= digits:
            return []
        children = tuple(prefix + digit for digit in "0123456789")
        return [children[:5], children[5:]]
    weights = [max(units.get(p, 0), sum(r for u, r in units.items() if u.startswith(p)), 1) for p in prefixes]
    total, running = sum(weights), 0
    cut = 1
    for index, weight in enumerate(weights[:-1], start=1):
        running += weight
        cut = index
        if running * 2 >= total:
            break
    return [prefixes[:cut], prefixes[cut:]]


def initial_units(flow: str, memory: SizeMemory | None) -> dict[str, int]:
    """Prefixes to request, with predicted rows: last month's units, covering every chapter.

    A chapter last month's units do not cover (no memory, or a chapter never seen) is
    predicted at the average chapter size, so packing still spreads it out.
    """
    known = dict(memory.units) if memory and memory.units else {}
    covered = {u[:2] for u in known}
    average = int(sum(known.values()) / max(len(covered), 1)) if known else 0
    for chapter in CHAPTERS[flow]:
        if chapter not in covered:
            known[chapter] = average
    return known


def extract_detail(
    client: CensusClient, flow: str, month: str, hs_level: str, memory: SizeMemory | None, budget: HeavyBudget
) -> DetailExtraction:
    """Fetch one month's partner x commodity detail, whole if it can be, otherwise in parts.

    Raises the client's error when a part that cannot be split further still fails, or
    on any terminal error; nothing is landed by this function.
    """
    outcomes: list[RequestOutcome] = []
    whole = _fetch_whole(client, flow, month, hs_level, memory, budget, outcomes)
    if whole is not None:
        units = {chapter: 0 for chapter in CHAPTERS[flow]} | whole.prefix_rows
        return DetailExtraction([whole], outcomes, units, "whole")
    responses = _fetch_parts(client, flow, month, hs_level, memory, outcomes)
    fetched: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.status == 204:
            fetched.update(dict.fromkeys(outcome.prefixes, 0))
    for response in responses:
        fetched.update(response.prefix_rows)
    return DetailExtraction(responses, outcomes, fetched, "split")


def _sent(response: Response) -> RequestOutcome:
    """The outcome of a request that got an answer (200 or 204)."""
    request = response.request
    return RequestOutcome(request.part, request.prefixes, response.status, response.row_count, response.attempts)


def _failed(part: str, prefixes: tuple[str, ...], error: TransientCensusError) -> RequestOutcome:
    """The outcome of a request that gave up (``heavy`` when the server found it too heavy)."""
    return RequestOutcome(part, prefixes, None, 0, getattr(error, "attempts", 1), error.heavy, str(error))


def _fetch_whole(
    client: CensusClient,
    flow: str,
    month: str,
    hs_level: str,
    memory: SizeMemory | None,
    budget: HeavyBudget,
    outcomes: list[RequestOutcome],
) -> Response | None:
    """The whole month in one request, while the run's heavy budget allows; None when it must be split."""
    digits = int(hs_level[2:])
    whole_allowed = digits <= 2 or not (memory and memory.split)
    while whole_allowed and (digits <= 2 or budget.remaining(flow) > 0):
        try:
            # HS2 months are small and cannot be split: ordinary retries. Deeper levels give
            # up after one heavy failure per attempt, counted against the run's budget.
            heavy_attempts = None if digits <= 2 else 1
            response = client.fetch(detail_request(flow, month, hs_level), month, heavy_attempts=heavy_attempts)
        except TransientCensusError as error:
            outcomes.append(_failed("all", (), error))
            if digits <= 2 or not error.heavy:
                raise
            budget.spend(flow)
            continue
        outcomes.append(_sent(response))
        return response
    return None


def _fetch_parts(
    client: CensusClient,
    flow: str,
    month: str,
    hs_level: str,
    memory: SizeMemory | None,
    outcomes: list[RequestOutcome],
) -> list[Response]:
    """The month in well-sized parts; a part refused as too heavy is split further and retried."""
    digits = int(hs_level[2:])
    responses: list[Response] = []
    units = initial_units(flow, memory)
    target = memory.target_rows() if memory else None
    if any(o.heavy_failure for o in outcomes):  # this month was just refused whole: plan below its size
        target = min(target or sys.maxsize, max(1, sum(units.values()) // 2))
    planned = bool(target and memory and memory.units)
    # with nothing known about sizes, halve the month until a part gets through
    queue = deque(pack(units, target, digits) if planned else halves(tuple(sorted(units)), units, digits))
    while queue:
        prefixes = queue.popleft()
        request = detail_request(flow, month, hs_level, prefixes)
        splittable = len(prefixes) > 1 or len(prefixes[0]) < digits
        try:
            response = client.fetch(request, month, heavy_attempts=1 if splittable else None)
        except TransientCensusError as error:
            outcomes.append(_failed(request.part, prefixes, error))
            if not (error.heavy and splittable):
                raise
            queue.extendleft(reversed(halves(prefixes, units, digits)))
            continue
        responses.append(response)
        outcomes.append(_sent(response))
        if not planned and response.status == 200 and response.row_count:
            # the first part that got through sizes the rest of the month: re-pack what is left
            pending = [p for group in queue for p in group]
            units.update(estimate_units(pending, response.row_count, prefixes))
            queue = deque(pack({p: units[p] for p in pending}, response.row_count, digits))
            planned = True
    return responses
