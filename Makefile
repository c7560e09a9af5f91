# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv (Python 3.11+) and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The vendor's published samples, kept in the repository (tests/data/vendor/README.md).
SAMPLES ?= tests/data/vendor/amlyze-docs-samples

.PHONY: setup test lint typecheck pytest demo bench clean contract-sync

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[all,dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Eight workers on two cores: the slow tests (collected first, tests/conftest.py) start
# early and the waiting ones (servers, timeouts, budgets) overlap the busy ones. Since
# 2026-12-06 the run is CPU-bound (wall ~ CPU / 1.9): pytest with 8 workers 250-295 s,
# 4 workers 368 s, 8 with --dist worksteal 330 s, 8 with --maxschedchunk 1 332 s.
PYTEST_WORKERS ?= 8

# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: pytest caches its
# assert rewrite of every package that ships a plugin (schemathesis, ours, ...) as .pyc,
# and without it each worker and each pytest or CLI the tests start redoes it (~3 s).
pytest: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest

demo: $(STAMP)
	@bash docs/demo.sh "$(BIN)" "$(SAMPLES)"

# The rule catalogue against the domain contract page, which lives outside this
# repository: make contract-sync CONTRACT=path/to/CONTRACT.md
contract-sync:
	@test -n "$(CONTRACT)" || { echo "usage: make contract-sync CONTRACT=path/to/CONTRACT.md" >&2; exit 2; }
	@$(MAKE) -s setup
	@$(BIN)/python -m tests.contract_sync "$(CONTRACT)"

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) dist build .demo
