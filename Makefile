# voix: the two commands of the README are `make repro` and `make test`.
# Both create .venv (Python 3.11) and install the pinned stack into it first.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install repro test lint bench clean

install: $(STAMP)

# torch is installed first and pinned (CPU build), or pip would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; voix needs Python 3.11 (set PYTHON=...)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

## Run the whole pipeline on data/raw/ and say where the outputs are.
repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/dvc repro
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pipeline.outputs

## Run the test suite (unit, broken inputs, properties, PII traps, end to end).
test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks

## Benchmarks are run by hand: the whole suite, then benchmarks/RESULTS.md (several hours on 2 cores: the 100k scale runs dominate).
bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
