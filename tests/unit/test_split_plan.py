"""Sizing split requests from what the last month taught (no network: pure planning)."""

import pytest

from trade_warehouse.sources.census.api import CHAPTERS
from trade_warehouse.sources.census.split import (
    DetailExtraction,
    RequestOutcome,
    SizeMemory,
    estimate_units,
    halves,
    initial_units,
    pack,
)

pytestmark = pytest.mark.unit


def test_pack_keeps_code_order_and_stays_under_the_target():
    units = {"01": 40, "02": 50, "03": 30, "84": 90, "85": 20, "87": 130}
    groups = pack(units, target=100)
    assert groups[:3] == [("01", "02"), ("03",), ("84",)]
    # a prefix predicted above the target is planned as its children, never as a request bound to fail
    flat = [p for g in groups for p in g]
    assert "87" not in flat and [p for p in flat if p.startswith("87")] == [f"87{d}" for d in range(10)]
    assert flat == sorted(flat) and len(flat) == len(set(flat))  # code order, each prefix once
    predicted = {**units, **{f"87{d}": 13 for d in range(10)}}
    assert all(sum(predicted[p] for p in g) <= 100 for g in groups)


def test_estimates_spread_one_success_over_what_is_left():
    estimate = estimate_units(["03", "04", "870"], rows=300, fetched=("01", "02"))
    assert estimate == {"03": 150, "04": 150, "870": 15}


def test_halves_balance_rows_and_split_a_single_prefix_into_its_children():
    units = {"01": 10, "02": 10, "03": 10, "04": 70}
    assert halves(("01", "02", "03", "04"), units, digits=6) == [("01", "02", "03"), ("04",)]
    assert halves(("87",), units, digits=6) == [
        ("870", "871", "872", "873", "874"),
        ("875", "876", "877", "878", "879"),
    ]
    assert halves(("870323",), units, digits=6) == []  # full code length: nothing left to split


def test_target_converges_between_success_and_failure():
    assert SizeMemory(ok_rows=30_000, fail_rows=60_000).target_rows() == 45_000
    # never plan right at the size that failed
    assert SizeMemory(ok_rows=49_000, fail_rows=50_000).target_rows() == 45_000
    assert SizeMemory(fail_rows=200_000).target_rows() == 100_000
    assert SizeMemory().target_rows() is None


def test_memory_learns_the_exact_size_of_a_refused_request():
    units = {"01": 100, "02": 200, "03": 300, "04": 50}
    outcomes = [
        RequestOutcome("all", (), None, 0, 1, heavy_failure=True),  # 650 rows
        RequestOutcome("01-03", ("01", "02", "03"), None, 0, 1, heavy_failure=True),  # 600 rows
        RequestOutcome("01-02", ("01", "02"), 200, 300, 1),
        RequestOutcome("03", ("03",), 200, 300, 1),
        RequestOutcome("04", ("04",), 200, 50, 1),
    ]
    memory = DetailExtraction([], outcomes, units, "split").memory(previous=None)
    assert memory.split and memory.ok_rows == 300 and memory.fail_rows == 600
    assert memory.units == units


def test_a_limit_not_confirmed_for_months_is_forgotten_and_the_whole_month_tried_again():
    memory = SizeMemory(units={"01": 10}, ok_rows=300, fail_rows=600, split=True)
    quiet = DetailExtraction([], [RequestOutcome("01", ("01",), 200, 300, 1)], {"01": 300}, "split")
    for month in range(1, 7):
        memory = quiet.memory(memory)
        assert memory.split == (month < 6) and (memory.fail_rows == 600) == (month < 6)
    assert memory.fail_rows is None and memory.months_since_refusal == 0


def test_pack_caps_prefixes_per_request_and_never_predicts_zero_children():
    groups = pack({"84": 30_000, "85": 0}, target=1, digits=10)  # a damaged memory's target
    assert all(len(g) <= 50 for g in groups)
    assert len(groups) <= 400  # planned at 100 rows at least: no runaway refinement
    assert pack({f"{c:02d}": 0 for c in range(1, 98)}, target=1000)[0] == tuple(f"{c:02d}" for c in range(1, 51))


def test_malformed_memory_is_ignored():
    assert SizeMemory.from_record({"extraction_id": "x"}) is None
    memory = SizeMemory.from_record({"units": {"01": None, "02": 5}, "ok_rows": "big", "fail_rows": 9})
    assert memory.units == {"01": 0, "02": 5} and memory.ok_rows is None and memory.fail_rows == 9


def test_initial_units_cover_every_chapter():
    remembered = SizeMemory(
        units={
            "84": 500,
            "870": 20,
            "871": 30,
            "872": 0,
            "873": 0,
            "874": 0,
            "875": 0,
            "876": 0,
            "877": 0,
            "878": 0,
            "879": 0,
        },
        split=True,
    )
    units = initial_units("imports", remembered)
    assert {u[:2] for u in units} == set(CHAPTERS["imports"])
    assert "87" not in units and units["871"] == 30  # the finer split that worked is kept
    assert units["01"] == 275  # an unseen chapter is predicted at the average chapter size
