# Two commands for a new user:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install serve bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Install, create the SQLite database, load samples/ and serve on http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/wastewater demo

## Install and run the whole test suite (SQLite and PostgreSQL, headless chromium)
test: $(STAMP)
	sh .ci/ensure-services
	$(BIN)/python -m pytest

## Run every benchmark; one combined report in benchmarks/reports/summary.md (takes long)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) wastewater.db .pytest_cache
