# Two entry points: `make run` (the app on the embedded defaults) and `make test`.
# Both set up everything from nothing: virtualenv, dependencies, model weights, index.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install chromium run test test-fast lint bench clean-index

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on this machine's disk; an unpinned torch would pull CUDA.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/rag serve

# The browser tests drive Debian's chromium (never a browser downloaded by Playwright).
chromium:
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: install chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -ra

test-fast: install
	$(BIN)/python -m pytest -ra -m "not slow"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install
	$(BIN)/python scripts/bench.py

clean-index:
	rm -rf index/gen-* index/CURRENT index/.tmp-*
