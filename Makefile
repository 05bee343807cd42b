# Two commands for a newcomer: `make run` and `make test`. Both install idempotently.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/monitor.toml

.PHONY: install run test lint bench clean

install: $(STAMP)

# torch is pinned and installed first: an unpinned torch pulled in later drags in CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The service on the embedded default (SQLite under var/), API on 127.0.0.1:8000; Ctrl-C stops it.
run: install
	mkdir -p var
	$(BIN)/monitor --config $(CONFIG) run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check monitor workers tests bench
	$(BIN)/ruff format --check monitor workers tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
