"""The emulator's state-level rows (``exports/statehs``, ``imports/statehs``), split from its national rows.

Every partner x HS6 row of the national universe (``synthetic.Universe.leaves``) is split
over a few U.S. states in whole dollars that add up exactly, so the states of any partner x
commodity sum to the national value at every HS level, the unidentified ``XX`` included,
by construction. Where the goods come from follows simple, recognisable patterns: potatoes
from Idaho and Washington, LNG from Louisiana and Texas, coal through Virginia and West
Virginia, cars into California, New Jersey and Maryland; everything else follows each
state's rough share of U.S. trade. Value and shipping weight by method of transport (air,
vessel, containerized vessel) come from chapter-level shares and prices per kilogram.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from trade_warehouse.emulator.synthetic import Universe, read_csv, stable_seed

UNIDENTIFIED = "XX"
TOTAL = "-"
STATES_PER_LINE = 4  # at most this many states carry a partner x HS6 line (the planted ones: all four)
EXTRA_STATE_CHANCE = 0.25  # beyond the first state, each further one carries a line with this chance

# Rough shares of U.S. exports (by state of origin) and imports (by state of destination).
PROFILE = {
    "exports": {
        "TX": 20,
        "CA": 11,
        "NY": 5,
        "IL": 4,
        "LA": 5,
        "WA": 4,
        "MI": 4,
        "OH": 3,
        "PA": 3,
        "FL": 4,
        "GA": 3,
        "NJ": 3,
        "NC": 2,
        "IN": 2,
        "TN": 2,
        "SC": 2,
        "KY": 2,
        "MN": 1.5,
        "AZ": 1.5,
        "WI": 1.5,
        "MA": 1.5,
        "OR": 1.2,
        "AL": 1.2,
        "VA": 1,
        "MO": 1,
        "IA": 1,
        "UT": 1,
    },
    "imports": {
        "CA": 15,
        "TX": 13,
        "IL": 7,
        "NY": 6,
        "MI": 6,
        "NJ": 5,
        "GA": 4,
        "OH": 3,
        "PA": 3,
        "FL": 3,
        "TN": 3,
        "KY": 2,
        "IN": 2,
        "NC": 2,
        "WA": 2,
        "MD": 1.5,
        "SC": 1.5,
        "MA": 1.5,
        "VA": 1.5,
        "AZ": 1.2,
        "LA": 1.2,
        "MN": 1,
        "WI": 1,
        "AL": 1,
    },
}
# Planted patterns: an HS4 heading's main states and their shares of each line (the rest of a
# line goes to one state drawn from the profile).
PLANTED = {
    "exports": {
        "0701": {"ID": 0.45, "WA": 0.30, "ND": 0.08},  # potatoes
        "2711": {"LA": 0.55, "TX": 0.30, "MD": 0.05},  # LNG and other petroleum gases
        "2701": {"VA": 0.45, "WV": 0.30, "AL": 0.10},  # coal
    },
    "imports": {
        "8703": {"CA": 0.30, "NJ": 0.20, "MD": 0.15},  # cars
    },
}
# Transport: the air share of a chapter's value, the containerized share of its vessel value,
# and a price per kilogram (by HS4 where it matters, else by chapter) for shipping weights.
AIR_SHARE = {"30": 0.6, "71": 0.8, "84": 0.35, "85": 0.45, "88": 0.5, "90": 0.55, "97": 0.6}
CONTAINER_SHARE = {"10": 0.05, "12": 0.1, "25": 0.05, "26": 0.02, "27": 0.02, "72": 0.2, "87": 0.25}
PRICE_PER_KG = {
    "07": 0.6,
    "10": 0.3,
    "12": 0.45,
    "27": 0.4,
    "30": 150.0,
    "71": 4000.0,
    "84": 35.0,
    "85": 50.0,
    "87": 14.0,
    "88": 250.0,
    "90": 120.0,
}
PRICE_PER_KG_HS4 = {"2701": 0.12, "2711": 0.5, "0701": 0.55}
LAND_PARTNERS = {"1220": 0.72, "2010": 0.78}  # Canada, Mexico: most trade goes by truck, rail, pipeline


@lru_cache(maxsize=1)
def state_codes() -> tuple[str, ...]:
    """The USPS codes of the state dimension (dbt seed ``census_states``), ``XX`` included."""
    return tuple(row["state_code"] for row in read_csv("census_states.csv"))


def _profile(flow: str) -> tuple[np.ndarray, np.ndarray]:
    """Every identified state and its probability of carrying a line of ``flow``."""
    codes = [c for c in state_codes() if c != UNIDENTIFIED]
    weights = np.array([PROFILE[flow].get(c, 0.25) for c in codes], dtype=float)
    return np.array(codes), weights / weights.sum()


def _chapter_values(chapters: np.ndarray, table: dict[str, float], default: float) -> np.ndarray:
    return np.array([table.get(c, default) for c in chapters])


@lru_cache(maxsize=48)
def state_leaves(universe: Universe, flow: str, year: int, month: int, vintage: int = 0) -> pd.DataFrame:
    """State x partner x HS6 rows of one month, summing exactly to ``universe.leaves``.

    Columns: ``state``, ``cty``, ``hs6``, ``val``, ``con`` (as the national leaves) and
    ``air_val``, ``air_swt``, ``ves_val``, ``ves_swt``, ``cnt_val``, ``cnt_swt`` (dollars, kg).
    """
    leaves = universe.leaves(flow, year, month, vintage)
    n = len(leaves)
    rng = np.random.default_rng(stable_seed(universe.seed, "states", flow, year, month))
    codes, probabilities = _profile(flow)
    index = {c: i for i, c in enumerate(codes)}
    chosen = rng.choice(len(codes), size=(n, STATES_PER_LINE), p=probabilities)
    weights = rng.lognormal(0.0, 1.0, size=(n, STATES_PER_LINE))
    # most lines come from one or two states: 1 + Binomial(3, 0.25) states, 1.75 on average
    carried = 1 + rng.binomial(STATES_PER_LINE - 1, EXTRA_STATE_CHANCE, n)
    weights[np.arange(STATES_PER_LINE)[None, :] >= carried[:, None]] = 0.0
    hs4 = leaves["hs6"].str[:4].to_numpy()
    for heading, shares in PLANTED[flow].items():
        rows = np.nonzero(hs4 == heading)[0]
        if not len(rows):
            continue
        for column, (state, share) in enumerate(shares.items()):
            chosen[rows, column] = index[state]
            weights[rows, column] = share * rng.uniform(0.85, 1.15, len(rows))
        rest = 1.0 - sum(shares.values())
        weights[rows, len(shares) :] = rest / (STATES_PER_LINE - len(shares))
    # a small share of the value is not attributed to any state (XX)
    unidentified = np.where(rng.random(n) < 0.3, weights.sum(axis=1) * rng.uniform(0.005, 0.03, n), 0.0)
    weights = np.column_stack([weights, unidentified])
    states = np.column_stack([codes[chosen], np.full(n, UNIDENTIFIED)])
    shares = weights / weights.sum(axis=1, keepdims=True)
    val = _allocate(leaves["val"].to_numpy(), shares)
    con = _allocate(leaves["con"].to_numpy(), shares)
    width = shares.shape[1]
    frame = pd.DataFrame(
        {
            "state": states.ravel(),
            "cty": np.repeat(leaves["cty"].to_numpy(), width),
            "hs6": np.repeat(leaves["hs6"].to_numpy(), width),
            "val": val.ravel(),
            "con": con.ravel(),
        }
    )
    frame = frame[frame["val"] > 0]
    frame = frame.groupby(["state", "cty", "hs6"], as_index=False, sort=False)[["val", "con"]].sum()
    return _with_transport(frame, rng)


def _allocate(totals: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Each row's total split by its shares in whole dollars that add up exactly."""
    raw = shares * totals[:, None]
    values = np.floor(raw).astype("int64")
    remainder = totals - values.sum(axis=1)
    values[np.arange(len(totals)), np.argmax(raw, axis=1)] += remainder
    return values


def _with_transport(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Value and shipping weight by air, vessel and containerized vessel (a part of vessel)."""
    chapters = frame["hs6"].str[:2].to_numpy()
    headings = frame["hs6"].str[:4].to_numpy()
    n = len(frame)
    land = frame["cty"].map(LAND_PARTNERS).fillna(0.02).to_numpy()
    air = _chapter_values(chapters, AIR_SHARE, 0.12) * (1 - land) * rng.uniform(0.7, 1.3, n)
    air = np.clip(air, 0.0, 0.95)
    vessel = np.clip((1 - land - air) * rng.uniform(0.85, 1.0, n), 0.0, 1.0 - air)
    container = np.clip(_chapter_values(chapters, CONTAINER_SHARE, 0.7) * rng.uniform(0.8, 1.1, n), 0.0, 1.0)
    price = _chapter_values(chapters, PRICE_PER_KG, 8.0)
    price = np.where(pd.Series(headings).isin(PRICE_PER_KG_HS4), pd.Series(headings).map(PRICE_PER_KG_HS4), price)
    value = frame["val"].to_numpy()
    air_val = np.floor(value * air).astype("int64")
    ves_val = np.floor(value * vessel).astype("int64")
    cnt_val = np.floor(ves_val * container).astype("int64")
    return frame.assign(
        air_val=air_val,
        air_swt=np.round(air_val / (price * 4.0)).astype("int64"),  # what flies is lighter for its value
        ves_val=ves_val,
        ves_swt=np.round(ves_val / price).astype("int64"),
        cnt_val=cnt_val,
        cnt_swt=np.round(cnt_val / price).astype("int64"),
    )
