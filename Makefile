# The two commands of the README:
#   make run    installs, then runs the main job on the embedded default (no credentials, no servers)
#   make test   installs, then runs lint, type checks and the whole test suite (CI calls this)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench fmt lock clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/esl validate examples/lessons/0[1-5]-*.md

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy esl_dagster api_shim

pytest: install
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
