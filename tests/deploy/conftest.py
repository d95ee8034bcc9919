"""Deployment tests: docker/ checked offline, and the pipeline under real Airflow services."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # stack.py, worker_identity.py
