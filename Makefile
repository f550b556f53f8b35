# Two entry points: `make run` (the app on the embedded defaults) and `make test`.
# Both set up everything from nothing: virtualenv, dependencies, model weights, index.
# `make` alone lists the targets: each one's `## ` comment is its line in that list.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help install chromium infinity run test test-fast lint docs bench clean-index
.DEFAULT_GOAL := help

help: ## this list
	@echo "make TARGET, one of:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# llama.cpp is compiled here, never taken from pip's cache, where a native build could lie.
# Not -march=native: a CPU may list Intel AMX that its hypervisor does not enable, and the model
# then dies on its first token ("invalid opcode", tilezero). So a portable x86-64-v3 build
# (AVX2/FMA/F16C), plus AVX-512 with VNNI and BF16 where /proc/cpuinfo lists them, never AMX
# (docs/decisions/2026-11-28-llama-cpp-build.md).
LLAMA_VERSION := 0.3.36
AVX512_FLAGS := avx512f avx512bw avx512dq avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni
ifeq ($(shell uname -m),x86_64)
LLAMA_FLAVOUR := $(if $(filter-out $(shell cat /proc/cpuinfo 2>/dev/null | grep -m1 '^flags'),$(AVX512_FLAGS)),x86-64-v3,avx512)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	$(if $(filter avx512,$(LLAMA_FLAVOUR)),-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON)
endif
LLAMA_STAMP := $(VENV)/.llama-cpp-$(LLAMA_VERSION)-$(LLAMA_FLAVOUR)-stamp

$(LLAMA_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet --no-cache-dir \
		--force-reinstall --no-deps 'llama-cpp-python==$(LLAMA_VERSION)'
	touch $@

$(STAMP): pyproject.toml Makefile $(LLAMA_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on this machine's disk; an unpinned torch would pull CUDA.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## the virtualenv in .venv with every dependency (llama.cpp compiled once)

run: install ## the browser chat on http://127.0.0.1:7860 (the index is built on first start)
	$(BIN)/rag serve

# An Infinity embedding server (OpenAI-compatible /v1/embeddings) for the remote embedder's
# tests, in a virtualenv of its own: its pins (sentence-transformers<4, its own numpy and
# transformers) are not the project's. The CPU torch goes in first, as above.
INFINITY_VENV := .venv-infinity
INFINITY_VERSION := 0.0.78
INFINITY_STAMP := $(INFINITY_VENV)/.infinity-$(INFINITY_VERSION)-stamp

$(INFINITY_STAMP):
	test -x $(INFINITY_VENV)/bin/python || $(PYTHON) -m venv $(INFINITY_VENV)
	$(INFINITY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFINITY_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(INFINITY_VENV)/bin/python -m pip install --quiet 'infinity-emb[server,torch]==$(INFINITY_VERSION)'
	touch $@

infinity: $(INFINITY_STAMP) ## .venv-infinity: the Infinity embedding server for the remote-embedder tests

# The browser tests drive Debian's chromium (never a browser downloaded by Playwright).
chromium: ## Debian's chromium for the browser tests (apt-get, as root)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: install chromium infinity ## everything CI runs: ruff, then all of pytest (real Qwen, browser)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -ra

test-fast: install ## ruff and the tests not marked slow (a few minutes; no browser, no Qwen)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -ra -m "not slow"

lint: install ## ruff check and ruff format --check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

docs: install ## regenerate docs/cli.md and docs/configuration.md from the code
	$(BIN)/cog -r -I . -I scripts docs/cli.md docs/configuration.md

bench: install ## seed and time questions: quality and speed per backend (tens of minutes)
	$(BIN)/python scripts/bench.py

clean-index: ## delete the generated index (rebuilt on next use); uploads stay
	rm -rf index/gen-* index/CURRENT index/.tmp-* index/embed-cache.sqlite*
