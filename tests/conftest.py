"""Shared fixtures: an isolated Airflow home, temporary data directories, and real
Census API emulators listening on 127.0.0.1 (in a thread of the test process)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # shared test helpers

# Airflow reads its configuration when first imported: isolate it before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tw-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")
os.environ["GX_ANALYTICS_ENABLED"] = "False"
# dbt's parse, kept for every new data dir of the session (transform.dbt_runner): each test's
# first dbt call would otherwise parse the project in full; not the user's ~/.cache
os.environ["TRADE_DBT_PARSE_CACHE"] = tempfile.mkdtemp(prefix="tw-dbt-parse-")
for name in (
    "CENSUS_API_BASE_URL",
    "CENSUS_API_KEY",
    "TRADE_DATA_DIR",
    "TRADE_HS_LEVEL",
    "TRADE_STATE_HS_LEVEL",
    "TRADE_STATE_TRADE",
    "CENSUS_API_PACING_S",
):
    os.environ.pop(name, None)
# The state-level flows (statehs) double what a DAG run extracts and loads. Tests of the
# national behaviour run without them; the tests of the state path, the dashboard, the report
# and the lake's row-for-row comparison turn them on (``state_settings``, or the variable).
os.environ["TRADE_STATE_TRADE"] = "off"

from trade_warehouse.core.config import Settings  # noqa: E402
from trade_warehouse.emulator import DEMO_API_KEY  # noqa: E402
from trade_warehouse.emulator.server import EmulatorState, make_server  # noqa: E402
from trade_warehouse.emulator.synthetic import Universe  # noqa: E402

_UNIVERSE = Universe("small")  # shared so generated months are cached across emulators
LATEST_MONTH = "2017-06"


class RunningEmulator:
    def __init__(self, state: EmulatorState, base_url: str) -> None:
        self.state = state
        self.base_url = base_url

    def set_faults(self, **faults: object) -> None:
        from trade_warehouse.emulator.server import Faults

        self.state.faults = Faults(**faults)

    def requests(self) -> int:
        return self.state.request_count


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A fresh emulator per test (faults and request counts are per instance)."""
    state = EmulatorState(universe=_UNIVERSE, api_keys=frozenset([DEMO_API_KEY]), latest_month=LATEST_MONTH)
    server = make_server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield RunningEmulator(state, f"http://{host}:{port}/data/timeseries/intltrade")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a temporary data directory, pointed at the test's emulator."""
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CENSUS_API_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CENSUS_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("CENSUS_API_PACING_S", "0")
    # the national flows only: the stage tests written for them count flow-months; the state
    # flows have their own tests (``state_settings``), and every DAG run loads them too
    monkeypatch.setenv("TRADE_STATE_TRADE", "off")
    return Settings(
        base_url=emulator.base_url,
        api_key=DEMO_API_KEY,
        data_dir=tmp_path / "data",
        hs_level="HS6",
        pacing_s=0.0,
        state_trade=False,
    )


@pytest.fixture
def state_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``settings`` with the state-level flows on (as a deployment has them by default)."""
    monkeypatch.setenv("TRADE_STATE_TRADE", "on")
    return replace(settings, state_trade=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB with the writer pool, in a temporary AIRFLOW_HOME."""
    from trade_warehouse.orchestration.airflow_env import ensure_airflow

    ensure_airflow()
    return _AIRFLOW_HOME


@pytest.fixture(scope="module")
def lake_services() -> Iterator[object]:
    """A PostgreSQL cluster and an S3 store on 127.0.0.1 for DuckLake catalogs (tests/support/lake_services.py)."""
    from lake_services import LakeServices

    running = LakeServices().start()
    try:
        yield running
    finally:
        running.stop()
