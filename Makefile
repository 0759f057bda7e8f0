# opsgov developer tasks (GNU make). `make help` lists them.
#
# Everything runs from a virtual environment in .venv, created and filled on
# first use from pyproject.toml with the versions pinned in constraints.txt;
# it is refreshed only when one of those two files changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VENV_PYTHON := $(BIN)/python
INSTALL_STAMP := $(VENV)/.opsgov-installed
MANAGE := $(VENV_PYTHON) manage.py
# The settings' default when OPSGOV_VAR_DIR is unset.
VAR_DIR := $(or $(OPSGOV_VAR_DIR),var)
SEED_STAMP := $(VAR_DIR)/.demo-seeded
PORT ?= 8000
# Links in e-mails, printed ingestion URLs, exported runbook_urls and the demo's HTTP checks follow
# the port `make run` serves on, unless OPSGOV_BASE_URL is set (e.g. behind a proxy).
BASE_URL := $(or $(OPSGOV_BASE_URL),http://127.0.0.1:$(PORT))
# pytest-xdist workers: `auto` is one per core; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv install run test lint format typecheck check lock clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "opsgov needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Try: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): $(VENV_PYTHON) pyproject.toml constraints.txt
	@echo "Installing opsgov and its dev tools into $(VENV) (pinned by constraints.txt) ..."
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(VENV_PYTHON) ## create .venv (no packages)

install: $(INSTALL_STAMP) ## create .venv and install opsgov with its dev tools (pinned by constraints.txt)

run: export OPSGOV_BASE_URL = $(BASE_URL)
run: install ## migrate, seed demo data once, then run web + Celery worker + beat (Ctrl-C stops all)
	$(MANAGE) migrate --noinput
	@if [ ! -f "$(SEED_STAMP)" ]; then \
		$(MANAGE) seed_demo && mkdir -p "$(VAR_DIR)" && touch "$(SEED_STAMP)"; \
	else \
		$(MANAGE) shell -c 'import sys; from monitoring.checks.demo import follow_base_url; follow_base_url(stdout=sys.stdout)'; \
	fi
	@echo
	@echo "  opsgov: http://127.0.0.1:$(PORT) (links and demo checks use $(BASE_URL))"
	@echo "  Demo login: admin / opsgov-demo (every demo user has the password opsgov-demo)"
	@echo "  Web, Celery worker and beat start now; Ctrl-C stops them all."
	@echo
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start --procfile Procfile --port $(PORT)

test: install ## run the whole pytest suite (integration tests need Redis on 127.0.0.1:6379)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install ## ruff check + ruff format --check + lint-imports (the import graph of DESIGN.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy
	$(BIN)/mypy .

check: lint typecheck ## lint + typecheck + no missing migrations
	$(MANAGE) makemigrations --check --dry-run

# Re-resolve every dependency from pyproject.toml in a throw-away venv and pin
# what got installed. Run it to upgrade; commit constraints.txt afterwards.
LOCK_VENV := $(or $(TMPDIR),/tmp)/opsgov-lock-venv
lock: ## regenerate constraints.txt from a fresh venv (latest versions pyproject.toml allows)
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --disable-pip-version-check -e '.[dev]'
	{ \
		echo "# Pinned versions of every package opsgov and its [dev] extra install (a lock)."; \
		echo "# Regenerate with 'make lock' (fresh venv, latest versions allowed by pyproject.toml)."; \
		echo "# Used as: pip install -c constraints.txt -e '.[dev]'"; \
		$(LOCK_VENV)/bin/python -m pip freeze --disable-pip-version-check --exclude-editable | grep -v -i '^opsgov[=@ ]'; \
	} > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)
	@echo "constraints.txt regenerated; review 'git diff constraints.txt', then 'make install'."

clean: ## remove caches, build output and test databases (keeps .venv and the dev database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info constraints.txt.new
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -f $(VAR_DIR)/test-opsgov.sqlite3*

distclean: clean ## clean, and remove .venv and var/ (dev database, broker queue, mail, demo stamp)
	rm -rf $(VENV) $(VAR_DIR)
