# Trade Warehouse: every target that needs Python runs `setup` first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export TRADE_DATA_DIR ?= $(CURDIR)/data
export GX_ANALYTICS_ENABLED ?= False
export DBT_SEND_ANONYMOUS_USAGE_STATS ?= false
# make test: pytest-xdist workers, one test file per worker at a time (TEST_WORKERS=1 for a serial run).
# Three on two cores: the tests also wait on servers, subprocesses and a browser; with three
# workers the suite took 1093 s against 1185 and 1248 s with two (2026-12-06, same machine).
TEST_WORKERS ?= 3

.PHONY: help setup run mirror test test-deps lint up down backfill status rollback lock emulator clean bench
.DEFAULT_GOAL := help

## help: list the targets (this text; plain `make` prints it)
help:
	@awk '/^## / { sub(/^## /, ""); print "  " $$0 }' $(MAKEFILE_LIST)

## setup: create .venv with the locked dependency set, .pyc files compiled once (seconds when nothing changed)
setup: $(STAMP) $(AIRFLOW_HOME)/.migrated

# --compile-bytecode: the .pyc files are written once here. uv does not write them by default, and
# where PYTHONDONTWRITEBYTECODE is set no process does, so every task, dbt call and test process
# compiled Airflow, dbt and GX again on import (import airflow.sdk + dbt + duckdb: 24 s -> 9 s)
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

$(AIRFLOW_HOME)/.migrated: $(STAMP)
	$(BIN)/python -c "from trade_warehouse.orchestration.airflow_env import ensure_airflow; ensure_airflow()"
	@touch $@

## run: offline demo: emulator + full pipeline through Airflow for 2011-01..2017-12
run: setup
	$(BIN)/python -m trade_warehouse run

## mirror: after make run, the UN Comtrade mirror DAG against the emulator (two sides of the balance)
mirror: setup
	$(BIN)/python -m trade_warehouse.cli.mirror_demo

## test: the whole test suite (unit, integration, DAG, end-to-end; prints the 15 slowest); runs test-deps first
test: setup test-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

## test-deps: the Debian packages the tests need (Chromium, PostgreSQL, Redis): installs them as root, else names the command
test-deps:
	@scripts/test-deps.sh

## lint: ruff (checks and formatting) over the Python, sqlfluff over the dbt project's SQL
lint: setup
	$(BIN)/ruff check trade_warehouse dags tests tools
	$(BIN)/ruff format --check trade_warehouse dags tests tools
	cd dbt_project && ../$(BIN)/sqlfluff lint models tests analyses macros snapshots

## backfill: make backfill FROM=2016-01 TO=2016-03 (from CENSUS_API_BASE_URL, or the emulator when unset)
backfill: setup
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM TO=YYYY-MM"; exit 2; }
	$(BIN)/python -m trade_warehouse backfill --from $(FROM) --to $(TO)

## status: per flow-month, the last load attempt and what its extraction cost
status: setup
	$(BIN)/python -m trade_warehouse status

## rollback: restore the serving snapshot from the previous published one
rollback: setup
	$(BIN)/python -m trade_warehouse rollback

## up: Airflow standalone on 127.0.0.1:8080 with this project's DAGs, both sources fed by a local emulator
up: setup
	@$(BIN)/python -m trade_warehouse.orchestration.standalone up

## down: stop what make up started (Airflow standalone and its emulator)
down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m trade_warehouse.orchestration.standalone down; else echo "Airflow is not running (no $(VENV))"; fi

## emulator: run the Census API emulator in the foreground (prints its base URL)
emulator: setup
	$(BIN)/python -m trade_warehouse.emulator --port $${PORT:-8089}

## lock: re-resolve requirements.in into requirements.lock
lock:
	$(BIN)/uv pip compile --python-version 3.11 --quiet requirements.in -o requirements.lock

## clean: delete the local data, Airflow home and dbt target (data/, .airflow/, dbt_project/target)
clean:
	rm -rf data .airflow dbt_project/target

## bi: Apache Superset on 127.0.0.1:8088 (BI_PORT to change) with the dashboard kept as code in bi/dashboard;
##     its own venv from bi/requirements.lock, cached by the lock's hash; needs a published warehouse
.PHONY: bi bi-down bi-setup bi-lock
bi: setup
	$(BIN)/python -m trade_warehouse.bi up

## bi-down: stop Superset
bi-down:
	$(BIN)/python -m trade_warehouse.bi down

## bi-setup: install (once per lock hash) Superset's venv under ~/.cache/trade-warehouse/
bi-setup: setup
	$(BIN)/python -m trade_warehouse.bi setup

## bi-lock: re-resolve bi/requirements.in into bi/requirements.lock
bi-lock:
	$(BIN)/uv pip compile --python-version 3.11 --quiet bi/requirements.in -o bi/requirements.lock

## test-deploy: only the deployment tests (docker/ offline checks + the pipeline under real Airflow services)
.PHONY: test-deploy docker-env
test-deploy: setup
	$(BIN)/python -m pytest tests/deploy

## docker-env: write docker/.env with fresh secrets for `docker compose` (once; see docker/README.md)
docker-env:
	docker/generate-env.sh

## bench: full-scale window through the real DAG vs the DuckDB floor, nightly at 12 and 84 months, no-op night;
##        make bench FROM=2017-01 TO=2017-12 SCALE=full HISTORY=12,84 SCENARIOS=backfill,nightly,noop LABEL=...
##        SCENARIOS=history HISTORY_FROM=2010-01 HISTORY_TO=2017-12: the whole history reloaded from landing
##        STATE=on adds the state-level flows (statehs) and reports their rows, load and dbt time
##        BACKEND=ducklake BENCH_ARGS=--local-lake: the lake, on PostgreSQL + s3rver started for the run
##        BENCH_ARGS="--reuse-landing --landing-from DIR --bench-dir DIR": more options (python -m tools.bench -h)
##        (results appended to bench/results.jsonl; histories cached under bench/data/)
BENCH_FROM ?= $(if $(FROM),$(FROM),2017-01)
BENCH_TO ?= $(if $(TO),$(TO),2017-12)
bench: setup
	$(BIN)/python -m tools.bench --from $(BENCH_FROM) --to $(BENCH_TO) --scale $${SCALE:-full} \
	  --history $${HISTORY:-12,84} --scenarios $${SCENARIOS:-backfill,nightly,noop} --backend $${BACKEND:-duckdb} --state $${STATE:-off} --label "$${LABEL:-}" \
	  --history-from $${HISTORY_FROM:-2010-01} --history-to $${HISTORY_TO:-2017-12} $${BENCH_ARGS:-}
