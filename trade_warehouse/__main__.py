import sys

from trade_warehouse.cli import main

sys.exit(main())
