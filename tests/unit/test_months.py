import pytest

from trade_warehouse.core.months import MonthError, add_months, month_range, parse_month
from trade_warehouse.sources.census import resolve_window

pytestmark = pytest.mark.unit


def test_month_range_crosses_years():
    assert month_range("2016-11", "2017-02") == ["2016-11", "2016-12", "2017-01", "2017-02"]
    assert add_months("2017-01", -1) == "2016-12"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2017-13", "2017-12", "month 13"),
        ("2017-1", "2017-12", "YYYY-MM"),
        ("2017-05", "2017-01", "is after"),
        ("2009-12", "2010-02", "before 2010-01"),
    ],
)
def test_bad_ranges_name_the_problem(start, end, message):
    with pytest.raises(MonthError, match=message):
        month_range(start, end)


def test_resolve_window_prefers_single_month_and_requires_both_ends():
    assert resolve_window({"month": "2016-03", "start_month": "2011-01", "end_month": "2011-02"}) == ["2016-03"]
    with pytest.raises(ValueError, match="both start_month and end_month"):
        resolve_window({"start_month": "2016-01", "end_month": None})
    with pytest.raises(MonthError, match="month='2016-3'"):
        parse_month("2016-3")
