# levwatch: `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
export LEVWATCH_HOME ?= $(CURDIR)/warehouse
export DAGSTER_HOME ?= $(LEVWATCH_HOME)/dagster
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
RUN := $(UV) run --frozen
# Python keeps the modules it compiles (__pycache__, git-ignored). An environment that sets PYTHONDONTWRITEBYTECODE
# (container images often do) made every process compile everything it imports again: loading the Dagster
# definitions took 10.3 s of CPU instead of 5.2, a dbt process 5.0 s instead of 2.3, and the suite, the demo and each
# run start dozens of them (dbt, Dagster step processes, workers).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup browser demo dev test faults lint bench sandbox record report clean

setup:  ## install from uv.lock (bootstrapping uv with pip if needed) and parse the dbt project once for every run
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	# in the canonical environment (no home): every dbt invocation starts from this parse (pipelines/defs/warehouse/dbt.py)
	cd dbt_project && env -u LEVWATCH_HOME -u LEVWATCH_DBT_DB_PATH ../.venv/bin/dbt parse --profiles-dir . --quiet

# The report's browser test drives Debian's chromium headless. Installed once, quietly, when absent (CI runs as root
# on a fresh Debian machine); elsewhere sudo is tried, and without either the line to run is printed.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report's browser test (apt-get) ..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium ) >/dev/null \
	  || { echo "could not install chromium: run 'sudo apt-get install chromium' (the browser test needs it)" >&2; exit 1; }; }

demo: setup  ## backfill the sandbox's default scenario end to end, offline
	$(RUN) levwatch demo

dev: setup  ## the Dagster UI on the same instance as the demo, over a sandbox started for it (LEVWATCH_SOURCE=live: the venues)
	$(RUN) levwatch home >/dev/null
	if [ "$${LEVWATCH_SOURCE:-sandbox}" = sandbox ]; then \
	  $(RUN) levwatch sandbox run -- dagster dev -m pipelines.definitions; \
	else $(RUN) dagster dev -m pipelines.definitions; fi

test: setup browser  ## the whole test suite on two workers (a file's tests on one worker: its fixtures run once)
	$(RUN) pytest -q -n 2 --dist loadfile

# CI runs exactly `make test` (.ci/run): lint is one of its prerequisites, so a lint error fails CI before the suite.
test: lint

faults: setup  ## every fault kind against the sandbox; prints the table of rows lost, duplicated, time to recover
	LEVWATCH_FAULT_TABLE=$(LEVWATCH_HOME)/fault_table.md $(RUN) pytest -q -m faults tests/faults

lint: setup  ## ruff (check and format) on the Python, sqlfluff on the dbt models (one process per core)
	$(RUN) ruff check pipelines tests
	$(RUN) ruff format --check pipelines tests
	$(RUN) sqlfluff lint --processes 0 dbt_project/models

bench: setup  ## long runs: full backfill timing, simulator and parser benchmarks (prints figures)
	$(RUN) python -m tests.bench.run

sandbox: setup
	$(RUN) levwatch sandbox serve

record: setup  ## keep the Binance and Bybit liquidation websockets open, landing events every minute
	$(RUN) levwatch record liquidations

report:  ## write the daily risk page (DATE=YYYY-MM-DD, default the latest complete day); prints its path only (uv run syncs the venv, quietly)
	@$(RUN) levwatch report $(if $(DATE),--date $(DATE))

clean:
	rm -rf $(LEVWATCH_HOME)/lake $(LEVWATCH_HOME)/build $(LEVWATCH_HOME)/sandbox $(LEVWATCH_HOME)/levwatch.duckdb $(LEVWATCH_HOME)/dagster
