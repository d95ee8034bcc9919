"""The time-left phrase of long stages' progress lines."""

import pytest

from trade_warehouse.core.progress import time_left

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "expected"),
    [
        (0, 10, 5.0, ""),  # nothing to extrapolate from yet
        (10, 10, 50.0, ""),  # finished: nothing left
        (1, 3, 10.0, "about 20 s left"),
        (1, 1000, 0.0001, "about 1 s left"),  # never "0 s" while items remain
        (12, 96, 60.0, "about 7 min left"),  # 84 items at 5 s
        (1, 96, 120.0, "about 3 h 10 min left"),
    ],
)
def test_time_left_extrapolates_the_mean_time_per_item(done, total, elapsed, expected):
    assert time_left(done, total, elapsed) == expected
