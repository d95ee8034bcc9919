"""A local stand-in for the Census international trade API (``exports/hs`` and ``imports/hs``).

It speaks the real protocol (header row, string values, 204 for no rows or unreleased
months, 302 for a missing or invalid key, 400 for unknown variables) and serves
deterministic synthetic data, so the whole pipeline runs offline. Nothing it serves is
official statistics: every row loaded from it is marked ``source = 'census-emulator'``.
"""

DEMO_API_KEY = "census-emulator-demo-key"
