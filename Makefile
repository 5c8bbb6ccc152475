# Two commands for a fresh machine: `make serve` and `make test`. Both install first, idempotently,
# into .venv in the repo root (re-run when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install serve test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: install
	$(VENV)/bin/kumo serve

test: install
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/python bench/vectorize_query.py
	$(VENV)/bin/python bench/vectorize_ingest.py

clean:
	rm -rf $(VENV) .kumo
