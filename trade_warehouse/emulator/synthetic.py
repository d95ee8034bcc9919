"""Deterministic synthetic trade data shaped like the Census ``hs`` datasets.

The emulator only generates the finest rows (partner x HS6 x month, with integer dollar
values); every total it serves (HS4, HS2, commodity total, groupings, world total) is
summed from these rows, so the published invariants hold exactly by construction.

Annual partner totals are calibrated to published Census-basis figures (the
annual balances first published by Census, USITC and USTR) so the demo tells the real story (Japan about -$69 billion in 2016, Korea's
deficit doubling after 2011, cars driving the Japan deficit), but the data stay synthetic.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from trade_warehouse.core.config import SEEDS_DIR

WORLD_TOTAL_CODE = "-"
WORLD_TOTAL_NAME = "TOTAL FOR ALL COUNTRIES"

# World totals per year, $ millions (exports ALL_VAL, general imports GEN_VAL), Census basis.
WORLD_TOTALS_M: dict[int, tuple[float, float]] = {
    2010: (1_278_000, 1_913_000),
    2011: (1_480_000, 2_208_000),
    2012: (1_545_821, 2_276_000),
    2013: (1_578_517, 2_268_000),
    2014: (1_621_172, 2_356_000),
    2015: (1_502_572, 2_248_000),
    2016: (1_453_721, 2_187_000),
    2017: (1_546_760, 2_342_910),
    2018: (1_665_000, 2_540_000),
    2019: (1_643_000, 2_498_000),
    2020: (1_424_000, 2_329_000),
    2021: (1_754_000, 2_833_000),
    2022: (2_062_000, 3_250_000),
    2023: (2_021_939, 3_076_552),
    2024: (2_065_000, 3_270_000),
}

# Bilateral anchors, $ millions (exports, general imports) for the years the reference
# documents; other years are interpolated, or scaled with the world totals outside the range.
PARTNER_ANCHORS_M: dict[str, dict[int, tuple[float, float]]] = {
    "1220": {2011: (281_000, 315_000), 2016: (266_800, 278_100), 2017: (282_300, 300_000)},  # Canada
    "2010": {2011: (198_300, 263_100), 2016: (230_000, 294_000), 2017: (243_300, 314_360)},  # Mexico
    "5700": {2011: (104_100, 399_400), 2016: (115_600, 462_640), 2017: (129_900, 505_130)},  # China
    "5880": {  # Japan
        2011: (66_000, 128_900),
        2013: (65_206, 138_606),
        2014: (66_964, 133_964),
        2016: (63_300, 132_240),
        2017: (67_700, 136_550),
    },
    "5800": {  # Korea, South: the deficit more than doubles after KORUS (2012-03)
        2011: (43_500, 56_700),
        2012: (42_300, 58_900),
        2013: (41_550, 62_220),
        2014: (44_500, 69_500),
        2015: (43_500, 71_800),
        2016: (42_300, 69_870),
        2017: (48_280, 71_160),
    },
    "4280": {2011: (49_300, 98_700), 2016: (49_400, 114_270), 2017: (53_900, 117_700)},  # Germany
    "4120": {2016: (55_300, 54_300)},
    "4279": {2016: (31_100, 46_800)},
    "5330": {2016: (21_700, 46_000)},
    "4759": {2016: (16_800, 45_300)},
    "5830": {2016: (26_000, 39_300)},
    "5520": {2016: (10_100, 42_100)},
    "4190": {2016: (9_600, 46_000)},
    "4419": {2016: (22_700, 36_000)},
    "5570": {2016: (11_800, 36_600)},
    "4210": {2016: (40_400, 16_700)},
    "3510": {2016: (30_300, 24_900)},
    "5820": {2016: (34_900, 7_000)},
    "4231": {2016: (32_200, 15_100)},
    "5590": {2016: (26_900, 17_800)},
    "6021": {2016: (22_200, 10_600)},
    "5170": {2016: (18_000, 17_500)},
    "5490": {2016: (11_200, 29_500)},
    "5081": {2016: (13_200, 22_200)},
    "4621": {2016: (5_800, 14_500)},  # Russia
    "5600": {2016: (6_000, 19_300)},  # Indonesia
    "3010": {2016: (13_000, 14_000)},  # Colombia
    "3370": {2016: (12_900, 8_800)},  # Chile
    "4890": {2016: (6_600, 9_600)},  # Turkey
    "4700": {2016: (9_700, 14_600)},  # Spain
    "5650": {2016: (7_800, 9_600)},  # Philippines
    "4010": {2016: (4_500, 9_500)},  # Sweden
    "4330": {2016: (4_000, 11_200)},  # Austria
    "4550": {2016: (3_500, 6_500)},  # Poland
    "3330": {2016: (8_000, 5_900)},  # Peru
    "3570": {2016: (8_500, 4_000)},  # Argentina
    "2470": {2016: (7_500, 4_400)},  # Dominican Republic
    "2230": {2016: (5_800, 4_400)},  # Costa Rica
    "2050": {2016: (5_800, 3_800)},  # Guatemala
    "2150": {2016: (5_200, 4_400)},  # Honduras
    "7910": {2016: (5_400, 6_900)},  # South Africa
    "5200": {2016: (22_300, 3_200)},  # United Arab Emirates
    "5180": {2016: (5_200, 1_300)},  # Qatar
    "5130": {2016: (3_100, 3_700)},  # Kuwait
    "4039": {2016: (3_400, 5_200)},  # Norway
    "4099": {2016: (2_100, 9_300)},  # Denmark
    "4050": {2016: (1_800, 5_600)},  # Finland
    "5350": {2016: (2_100, 3_400)},  # Pakistan
    "5380": {2016: (900, 6_100)},  # Bangladesh
    "5550": {2016: (400, 2_800)},  # Cambodia
    "3310": {2016: (4_200, 6_300)},  # Ecuador
    "7530": {2016: (1_700, 4_400)},  # Nigeria
    "7290": {2016: (3_600, 1_500)},  # Egypt
    "2250": {2016: (5_900, 400)},  # Panama
    "4840": {2016: (800, 1_300)},  # Greece
    "4710": {2016: (1_000, 2_300)},  # Portugal
}

# Chapters that carry most of U.S. goods trade get more weight in the commodity mix.
CHAPTER_WEIGHTS = {
    "84": 14.0,
    "85": 14.0,
    "87": 12.0,
    "27": 10.0,
    "30": 6.0,
    "90": 5.0,
    "88": 6.0,
    "39": 4.0,
    "71": 4.0,
    "29": 4.0,
    "98": 2.0,
    "99": 2.0,
    "94": 2.0,
    "62": 2.0,
    "61": 2.0,
}

# Real HS6 codes planted so the headline questions have answers (HS2017 descriptions).
PLANTED_CODES = {
    "870323": "PASSENGER MOTOR VEHICLES, SPARK-IGNITION, CYLINDER CAPACITY 1,500-3,000 CC",
    "870324": "PASSENGER MOTOR VEHICLES, SPARK-IGNITION, CYLINDER CAPACITY OVER 3,000 CC",
    "271111": "NATURAL GAS, LIQUEFIED",
    "270112": "BITUMINOUS COAL, WHETHER OR NOT PULVERIZED, NOT AGGLOMERATED",
    "070190": "POTATOES, FRESH OR CHILLED, EXCEPT SEED",
}

# HS4 headings of the headline questions, with descriptions in the API's style; other
# headings get a synthetic description built from the chapter title.
HS4_DESCRIPTIONS = {
    "8703": "MOTOR CARS AND OTHER MOTOR VEHICLES PRINCIPALLY DESIGNED FOR THE TRANSPORT OF PERSONS",
    "2701": "COAL; BRIQUETTES, OVOIDS AND SIMILAR SOLID FUELS MANUFACTURED FROM COAL",
    "2711": "PETROLEUM GASES AND OTHER GASEOUS HYDROCARBONS",
    "0701": "POTATOES (OTHER THAN SWEET POTATOES), FRESH OR CHILLED",
}

# Share of a partner's flow carried by planted codes: (partner, flow) -> {code: share}.
PLANTED_SHARES = {
    ("5880", "imports"): {"870323": 0.24, "870324": 0.14},
    ("5800", "imports"): {"870323": 0.16, "870324": 0.06},
    ("2010", "imports"): {"870323": 0.06, "870324": 0.03},
    ("4280", "imports"): {"870323": 0.08, "870324": 0.12},
    ("5880", "exports"): {"271111": 0.006, "270112": 0.015, "070190": 0.0015},
}


@dataclass(frozen=True)
class Scale:
    """How big the synthetic universe is: commodity codes and partner detail density."""

    name: str
    headings_per_chapter: int
    subheadings_per_heading: int
    max_coverage: float  # share of the code universe the largest partner trades in a month
    exponent: float  # how fast detail thins out for smaller partners


SCALES = {
    "small": Scale("small", 3, 2, 0.6, 0.6),
    "demo": Scale("demo", 6, 2, 0.7, 0.55),
    "full": Scale("full", 12, 5, 0.95, 0.3),
}


def stable_seed(*parts: object) -> int:
    """A seed that is the same on every machine and Python run (``hash()`` is salted)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def read_csv(name: str) -> list[dict[str, str]]:
    """The rows of one of the dbt seeds (partners, groupings, chapters) the emulator shares with the warehouse."""
    with open(Path(SEEDS_DIR) / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class Commodity:
    code: str
    description: str


class Universe:
    """Partners, groupings and commodity codes, plus the generator of monthly leaf rows."""

    def __init__(self, scale: str = "demo", seed: int = 2011) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown emulator scale {scale!r}; use one of {', '.join(SCALES)}")
        self.scale = SCALES[scale]
        self.seed = seed
        self.partners = {row["partner_code"]: row["partner_name"] for row in read_csv("census_partners.csv")}
        self.groups = {row["group_code"]: row["group_name"] for row in read_csv("census_groupings.csv")}
        members: dict[str, list[str]] = {}
        for row in read_csv("census_grouping_members.csv"):
            members.setdefault(row["group_code"], []).append(row["partner_code"])
        self.group_members = members
        self.chapters = {row["hs_chapter"]: row["chapter_title"] for row in read_csv("hs_chapters.csv")}

    # ---- countries -------------------------------------------------------------------
    def country_name(self, code: str) -> str:
        if code == WORLD_TOTAL_CODE:
            return WORLD_TOTAL_NAME
        return self.partners.get(code) or self.groups[code]

    def country_summary_level(self, code: str) -> str:
        return "CGP" if code in self.groups else "DET"

    @cached_property
    def membership(self) -> pd.DataFrame:
        """(country value, member partner): each partner is its own member; '-' holds all."""
        rows = [(p, p) for p in self.partners]
        rows += [(WORLD_TOTAL_CODE, p) for p in self.partners]
        rows += [(g, p) for g, ps in self.group_members.items() for p in ps]
        return pd.DataFrame(rows, columns=["country", "member"])

    # ---- commodities -----------------------------------------------------------------
    @lru_cache(maxsize=2)
    def commodities(self, flow: str) -> list[Commodity]:
        """The HS6 code universe of a flow (exports use chapters 01-98, imports 01-99)."""
        codes: dict[str, str] = {}
        for chapter, title in self.chapters.items():
            if flow == "exports" and chapter == "99":
                continue
            for h in range(1, self.scale.headings_per_chapter + 1):
                for s in range(1, self.scale.subheadings_per_heading + 1):
                    code = f"{chapter}{h:02d}{s * 10 if s < 9 else 90:02d}"
                    codes[code] = f"{title.upper()}: HEADING {chapter}{h:02d}, ITEM {s}"
        codes.update(PLANTED_CODES)
        return [Commodity(code, desc) for code, desc in sorted(codes.items())]

    def description(self, flow: str, code: str) -> str:
        if code == "-":
            return "TOTAL FOR ALL COMMODITIES"
        if len(code) == 2:
            return self.chapters[code].upper()
        if len(code) == 4:
            return HS4_DESCRIPTIONS.get(code) or f"HEADING {code} OF {self.chapters[code[:2]].upper()}"
        if len(code) == 10:
            return self._descriptions(flow)[code[:6]]
        return self._descriptions(flow)[code]

    @lru_cache(maxsize=2)
    def _descriptions(self, flow: str) -> dict[str, str]:
        return {c.code: c.description for c in self.commodities(flow)}

    @lru_cache(maxsize=2)
    def _commodity_weights(self, flow: str) -> np.ndarray:
        rng = np.random.default_rng(stable_seed(self.seed, "weights", flow))
        codes = self.commodities(flow)
        base = rng.lognormal(0.0, 1.2, len(codes))
        chapter = np.array([CHAPTER_WEIGHTS.get(c.code[:2], 1.0) for c in codes])
        return base * chapter

    # ---- partner totals --------------------------------------------------------------
    def _world_total(self, year: int, flow_index: int) -> float:
        if year in WORLD_TOTALS_M:
            return WORLD_TOTALS_M[year][flow_index] * 1e6
        last = max(WORLD_TOTALS_M)
        first = min(WORLD_TOTALS_M)
        anchor = last if year > last else first
        return WORLD_TOTALS_M[anchor][flow_index] * 1e6 * (1.02 ** (year - anchor))

    def _anchor_value(self, code: str, year: int, flow_index: int) -> float | None:
        anchors = PARTNER_ANCHORS_M.get(code)
        if not anchors:
            return None
        years = sorted(anchors)
        if year in anchors:
            return anchors[year][flow_index] * 1e6
        if years[0] < year < years[-1]:
            lo = max(y for y in years if y < year)
            hi = min(y for y in years if y > year)
            t = (year - lo) / (hi - lo)
            return ((1 - t) * anchors[lo][flow_index] + t * anchors[hi][flow_index]) * 1e6
        nearest = years[-1] if year > years[-1] else years[0]
        ratio = self._world_total(year, flow_index) / self._world_total(nearest, flow_index)
        return anchors[nearest][flow_index] * 1e6 * ratio

    @lru_cache(maxsize=64)
    def annual_totals(self, flow: str, year: int) -> dict[str, float]:
        """Each partner's annual value for a flow, summing to the world total of that year."""
        flow_index = 0 if flow == "exports" else 1
        world = self._world_total(year, flow_index)
        totals: dict[str, float] = {}
        for code in self.partners:
            anchored = self._anchor_value(code, year, flow_index)
            if anchored is not None:
                totals[code] = anchored
        others = [code for code in self.partners if code not in totals]
        rng = np.random.default_rng(stable_seed(self.seed, "ranks", flow))
        ranks = rng.permutation(len(others)) + 1
        weights = 1.0 / (ranks + 10.0) ** 1.5
        # slow drift per partner and year so small partners' trade is not flat
        drift = np.array([1 + 0.08 * np.sin(year / 2.0 + stable_seed(c) % 7) for c in others])
        weights = weights * drift
        residual = max(world - sum(totals.values()), world * 0.05)
        for code, weight in zip(others, weights / weights.sum(), strict=False):
            totals[code] = residual * weight
        return totals

    def _month_factors(self, flow: str, code: str, year: int) -> np.ndarray:
        rng = np.random.default_rng(stable_seed(self.seed, "season", flow, code, year))
        months = np.arange(12)
        factors = 1 + 0.05 * np.sin((months + 2) / 12 * 2 * np.pi) + rng.normal(0, 0.03, 12)
        return factors / factors.sum()

    # ---- monthly leaf rows -----------------------------------------------------------
    @lru_cache(maxsize=256)
    def leaves(self, flow: str, year: int, month: int, vintage: int = 0) -> pd.DataFrame:
        """Partner x HS6 rows with positive integer values for one flow-month.

        Columns: ``cty``, ``hs6``, ``val`` (exports ALL_VAL / imports GEN_VAL) and ``con``
        (imports for consumption; equal to ``val`` for exports). ``vintage`` > 0 gives the
        revised values an annual revision would publish for the same month.
        """
        codes = self.commodities(flow)
        code_array = np.array([c.code for c in codes])
        code_index = {c.code: i for i, c in enumerate(codes)}
        base_weights = self._commodity_weights(flow)
        totals = self.annual_totals(flow, year)
        largest = max(totals.values())
        universe = len(codes)
        frames = []
        for code, annual in totals.items():
            monthly = annual * self._month_factors(flow, code, year)[month - 1]
            if vintage:
                revision = np.random.default_rng(stable_seed(self.seed, "rev", flow, code, year, month, vintage))
                monthly *= 1 + revision.normal(0, 0.01)
            share = (annual / largest) ** self.scale.exponent
            n_codes = int(np.clip(round(universe * self.scale.max_coverage * share), 3, universe))
            partner_rng = np.random.default_rng(stable_seed(self.seed, "partner", flow, code))
            probabilities = base_weights / base_weights.sum()
            chosen = partner_rng.choice(universe, size=n_codes, replace=False, p=probabilities)
            weights = base_weights[chosen] * partner_rng.lognormal(0, 0.8, n_codes)
            month_rng = np.random.default_rng(stable_seed(self.seed, "month", flow, code, year, month, vintage))
            weights = weights * month_rng.lognormal(0, 0.25, n_codes)
            weights[month_rng.random(n_codes) < 0.08] = 0.0  # some months a line has no trade
            planted = PLANTED_SHARES.get((code, flow), {})
            if planted:
                extra = [code_index[c] for c in planted if code_index[c] not in chosen]
                chosen = np.concatenate([chosen, np.array(extra, dtype=chosen.dtype)])
                weights = np.concatenate([weights, np.zeros(len(chosen) - len(weights))])
                fixed = np.zeros(len(chosen))
                for planted_code, planted_share in planted.items():
                    fixed[np.nonzero(chosen == code_index[planted_code])[0][0]] = planted_share
                free = fixed == 0
                weights[~free] = 0.0
                weights = np.where(free, weights / weights[free].sum() * (1 - fixed.sum()), fixed)
            values = self._allocate(int(round(monthly)), weights)
            keep = values > 0
            frames.append(pd.DataFrame({"cty": code, "hs6": code_array[chosen[keep]], "val": values[keep]}))
        frame = pd.concat(frames, ignore_index=True)
        if flow == "imports":
            rng = np.random.default_rng(stable_seed(self.seed, "con", year, month, vintage))
            frame["con"] = np.floor(frame["val"].to_numpy() * rng.uniform(0.95, 1.0, len(frame))).astype("int64")
        else:
            frame["con"] = frame["val"]
        return frame

    @staticmethod
    def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
        """Split ``total`` dollars over ``weights`` in whole dollars that add up exactly."""
        if weights.sum() <= 0 or total <= 0:
            return np.zeros(len(weights), dtype="int64")
        raw = weights / weights.sum() * total
        values = np.floor(raw).astype("int64")
        values[np.argmax(raw)] += total - values.sum()
        return values
