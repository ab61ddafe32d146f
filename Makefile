# The README's two commands: `make demo` and `make test`. Each creates .venv/ when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch first, pinned (never an unpinned torch). From PyPI on Linux it brings the CUDA
	# libraries: with PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu pip takes the CPU
	# build, 2.13.0+cpu (README); where a local CPU wheel is found, that one.
	$(BIN)/pip install torch==2.13.0

# Everything features and tests need comes from the package index (the corpus renderer, the real
# excerpts, the REAPER scripts' Lua): no system package. The warm-up writes the bytecode and numba
# caches a first run of each dsp path would otherwise spend ~20 s on.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -e '.[test]'
	$(BIN)/python -m diffmusic_engine.warmup
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m diffmusic_engine.demo demo-output

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Test files run on two workers at most (pytest-xdist), each file whole on one worker (its
# module fixtures, such as a daemon, start once): most of the suite's time is subprocesses
# starting and waits, which overlap. `pytest -p no:xdist` runs it in one process.
test: lint
	$(BIN)/python -m pytest -q -n auto --maxprocesses 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-output
