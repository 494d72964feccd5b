# One entry point. `make demo` and `make test` each install everything they need first.
SHELL := /bin/bash
# The interpreter's own path, not a launcher's (pyenv shim): uv compares the path it is given
# with the one .venv was made from, and recreates .venv on every sync when they differ.
PYTHON ?= $(shell $$(command -v python3.11 || command -v python3) -c 'import sys; print(sys.executable)')
UV_VERSION := 0.13.9
UV := .uv/bin/uv
RUN := $(UV) run --frozen
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install prepare demo demo-cdc demo-bigquery dev test test-fast lint lint-sql format benchmark clean

# SQL lint of the dbt models (dbt_project/.sqlfluff, dbt templater). It compiles the project
# against an in-memory DuckDB, never the warehouse file (no lock taken; macros that look at
# raw tables render the same on every machine), into its own target directory (the prepared
# manifest is left alone). Run from dbt_project/: sqlfluff takes the templater from there.
SQLFLUFF := cd dbt_project && DUCKDB_PATH=:memory: DBT_TARGET_PATH=target/sqlfluff \
	DBT_LOG_PATH=logs/sqlfluff ../$(RUN) sqlfluff

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set (as on the reference
# machine) every process, dbt's included, would otherwise recompile each module it imports.
install: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(UV) run --frozen python -m compileall -q orchestration benchmarks tests > /dev/null
	mkdir -p $(DAGSTER_HOME) && cp -n dagster_home/dagster.yaml $(DAGSTER_HOME)/dagster.yaml || true

prepare: install
	$(RUN) python -m orchestration.prepare

## Install, generate the demo data if needed, run the whole pipeline, print the marts.
demo: prepare
	$(RUN) python -m orchestration.demo

## The same pipeline from a PostgreSQL of its own (pgserver, wal_level=logical), orders and
## inventory in mode cdc; then a few committed changes and what change data capture records.
demo-cdc: prepare
	$(RUN) python -m orchestration.demo.cdc_demo

## The same demo with WAREHOUSE=bigquery, on a local BigQuery emulator started for the run.
demo-bigquery: prepare
	$(RUN) python -m orchestration.demo.bigquery_emulator demo

## The Dagster UI on http://127.0.0.1:3000, with the local Marketo sandbox unless MARKETO_BASE_URL is set
dev: prepare
	$(RUN) python -m orchestration.demo.dev

## Install and run every test (what CI runs): two workers, one per core, whole files per worker.
test: prepare
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports
	$(SQLFLUFF) lint --processes 2
	$(RUN) pytest -n 2 --dist loadfile --durations=25

## Everything but the slow end-to-end tests.
test-fast: prepare
	$(RUN) pytest -n 2 --dist loadfile -m "not slow"

lint: lint-sql
	$(RUN) ruff check . && $(RUN) ruff format --check . && $(RUN) lint-imports

lint-sql:
	$(SQLFLUFF) lint --processes 2

format:
	$(RUN) ruff check --fix . && $(RUN) ruff format .
	$(SQLFLUFF) fix --processes 2

benchmark: prepare
	$(RUN) python -m benchmarks

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
