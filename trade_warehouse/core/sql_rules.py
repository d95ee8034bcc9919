"""SQL rules shared by dbt and the Python load gate, stated once, in the dbt macros.

The load gate runs SQL outside dbt (on a staged month, before dbt ever sees it), yet it
must classify Census country codes exactly as the models do. Rather than a second copy of
the rule, it renders the same macro file with Jinja2 (the macro uses no dbt-only function).
"""

from __future__ import annotations

from functools import cache

import jinja2

from trade_warehouse.core.config import DBT_PROJECT_DIR


@cache
def country_type_sql(code_column: str) -> str:
    """SQL for 'world_total' / 'grouping' / 'partner' of ``code_column`` (macros/country_type.sql)."""
    macro = (DBT_PROJECT_DIR / "macros" / "country_type.sql").read_text(encoding="utf-8")
    return jinja2.Environment().from_string(macro + "{{ country_type(column) }}").render(column=code_column).strip()
