# calgate — the two commands a new user needs are `make demo` and `make test`.
# Everything installs itself into .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format bench install clean help

help:
	@echo "make demo    run calgate on http://127.0.0.1:8080 with seeded demo data"
	@echo "make test    run the whole test suite"
	@echo "make lint    ruff + mypy"
	@echo "make bench   run every benchmark in quick mode"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/calgate demo

test: $(STAMP)
	VENV=$(VENV) scripts/test

lint: $(STAMP)
	VENV=$(VENV) scripts/check

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	VENV=$(VENV) scripts/bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
