"""``python -m tools.bench``: what ``make bench`` runs (from the repository root)."""

import sys

from tools.bench.harness import main

sys.exit(main())
