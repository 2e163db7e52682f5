# The two commands of the README:
#   make run    installs, then starts the whole embedded default stack (SQLite Dagster home, offline
#               TTS, Notion preview, local uploads): webserver :3000, daemon, /jobs API :8080
#   make test   installs, then runs lint, type checks and the whole test suite (CI calls this)
# `make run-postgres` runs the same stack with the production dagster.yaml on the local Postgres.
# STACK_ARGS passes options to esl-stack (e.g. STACK_ARGS="--api-port 8081").
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

STACK_ARGS ?=

.PHONY: install promtool run run-postgres test lint typecheck pytest bench fmt lock clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/esl-stack $(STACK_ARGS)

run-postgres: install
	$(BIN)/esl-stack --postgres $(STACK_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy esl_dagster api_shim esl_common

# promtool (Debian's prometheus package, ~25 s from a warm apt cache) checks deploy/prometheus;
# installed only when missing (needs apt, as root).
promtool:
	@command -v promtool >/dev/null 2>&1 || apt-get install -y --no-install-recommends prometheus >/dev/null \
	  || { apt-get update -qq && apt-get install -y --no-install-recommends prometheus >/dev/null; }

pytest: install promtool
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python -m bench

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-pin every dependency after changing pyproject.toml (writes constraints.txt).
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^esl-dagster' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
