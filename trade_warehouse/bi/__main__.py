"""``python -m trade_warehouse.bi setup|up|down``: the Makefile's bi targets."""

from trade_warehouse.bi.superset import main

raise SystemExit(main())
