"""UN Comtrade, the partners' side of the balance: plan, extract, load."""

from trade_warehouse.sources.comtrade.pipeline import *  # noqa: F403 (temporary while the module is split)
