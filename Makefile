# Two commands for a newcomer: `make run` and `make test` (and `make demo` to try it in a browser).
# Each creates .venv on first use. `make run` and `make demo` install what running the hub needs;
# `make test` and `make lint` add the dev extra.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run demo test lint install clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing the hub into $(VENV) (first run only)"
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

# The dev extra includes everything running needs: installing it satisfies `make run` too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing the hub and its dev tools into $(VENV) (first run only)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV_STAMP) $(RUN_STAMP)

install: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/python -m hub serve

demo: $(RUN_STAMP)
	$(BIN)/python -m hub demo

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
