# Two commands for a new user:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install serve bench clean lock

# Installs are reproducible: every package version comes from the lock files
# (requirements.lock = runtime, used by the Dockerfile; requirements-test.lock = runtime + [test]).
# After changing dependencies in pyproject.toml, run `make lock` and commit both files.
$(STAMP): pyproject.toml requirements-test.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements-test.lock -e '.[test]'
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

## Re-resolve the lock files from pyproject.toml (pip-tools in a throw-away venv)
lock:
	test -x .venv-lock/bin/pip-compile || ($(PY) -m venv .venv-lock && .venv-lock/bin/pip install -q pip-tools)
	.venv-lock/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links \
		-o requirements.lock pyproject.toml
	.venv-lock/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra test -o requirements-test.lock pyproject.toml

clean:
	rm -rf $(VENV) .venv-lock wastewater.db .pytest_cache
