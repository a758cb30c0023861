# implicitbias — all set-up goes through these targets.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_FLAGS ?=

.PHONY: setup demo test test-all bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,cluster]"
	touch $(STAMP)

demo: setup
	$(BIN)/implicitbias reproduce --preset quick --out reports/quick

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_FLAGS)

test-all: setup
	IMPLICITBIAS_HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q -m "" $(PYTEST_FLAGS)

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
