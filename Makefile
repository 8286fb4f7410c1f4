# The README's contract: make run | test | ui | bench. Each sets up the environment
# first (uv, from PyPI, then the locked dependencies), so a fresh clone just works.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: setup run test ui bench lint

setup:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: setup
	$(UV) run --frozen ctdc run

test: setup
	$(UV) run --frozen pytest

ui: setup
	$(UV) run --frozen ctdc ui

bench: setup
	$(UV) run --frozen python bench/run.py $(ARGS)

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
