# Jiaoying: `make run` serves on the embedded default (SQLite, console gateway); `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean catalogs

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Jiaoying needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.stamp-run

# A local admin token for the newcomer's loopback-only server; set your own for anything else.
run: export JIAOYING_ADMIN_TOKEN ?= dev-admin-token
run: export JIAOYING_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.stamp-run
	$(BIN)/alembic upgrade head
	@echo "Jiaoying on http://$(HOST):$(PORT)  (admin token: $$JIAOYING_ADMIN_TOKEN)"
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT)

test: $(VENV)/.stamp-dev
	$(BIN)/pytest

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench
	$(BIN)/mypy app

# Message catalogs (app.i18n): every text people receive or read, extracted; new ones merged into each language.
catalogs: $(VENV)/.stamp-dev
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k tr -k tr_plain --no-location --sort-output --project=Jiaoying \
		-o app/i18n/catalogs/messages.pot .
	for po in app/i18n/catalogs/*.po; do \
		$(BIN)/pybabel update --no-fuzzy-matching -i app/i18n/catalogs/messages.pot -o $$po \
			-l $$(basename $$po .po); done

bench: $(VENV)/.stamp-dev
	$(BIN)/python bench/import_regions.py
	$(BIN)/python bench/import_contacts.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/acks.py

clean:
	rm -rf $(VENV) jiaoying.db jiaoying.db-wal jiaoying.db-shm
