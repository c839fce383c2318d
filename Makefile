# evcsms - run `make help` for the targets.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(VENV)/bin
DEMO_STATIONS ?= 5

.DEFAULT_GOAL := help
.PHONY: help install browser run demo test test-fast lint bench clean

help: ## Show the targets and what they do
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## Create .venv with the locked dependencies (runs automatically)

browser: ## Install Debian's chromium for the browser tests when missing (runs automatically)
	@scripts/ensure-chromium

run: install ## Start evcsms on SQLite with a simulated fleet charging; prints the URLs to open
	$(RUN)/evcsms demo --stations $(DEMO_STATIONS)

demo: run ## Same as run

test: install browser ## Run the whole test suite (unit, storage on SQLite and PostgreSQL, integration, API, browser, layer contracts)
	$(RUN)/lint-imports pyproject.toml
	$(RUN)/python -m pytest -n 2 --dist loadgroup -q

test-fast: install ## Unit tests only (no sockets, no PostgreSQL)
	$(RUN)/python -m pytest -q -m "not slow and not postgres"

lint: install ## ruff, mypy and the import-layer contracts
	$(RUN)/ruff check src tests benchmarks
	$(RUN)/mypy
	$(RUN)/lint-imports pyproject.toml

bench: install ## Gateway throughput/latency/memory benchmark beside two reference servers
	$(RUN)/python benchmarks/gateway_throughput.py

clean: ## Remove the virtualenvs and local databases
	rm -rf $(VENV) $(TOOLS) evcsms.db .pytest_cache
