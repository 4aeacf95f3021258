# Developer tasks. `make setup` once, then `make up`, `make test`, `make lint`...
# Everything runs from the project's own .venv (created by `make setup`).
.DEFAULT_GOAL := help
.PHONY: help setup lock lock-upgrade up up-dev test lint format typecheck security bench docs docs-serve docker docker-dev k8s-check

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON_BIN ?= python3.12

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

setup: ## create .venv from the hashed lock, install the project editable and the git hooks
	$(PYTHON_BIN) -m venv $(VENV)
	$(VENV)/bin/pip install --require-hashes -r requirements-pip.txt
	$(VENV)/bin/pip install --require-hashes -r requirements.txt
	$(VENV)/bin/pip install --no-deps -e .
	$(VENV)/bin/python -m core.backtest.native_build  # the fast backtest's kernels, compiled ahead of time
	$(VENV)/bin/pre-commit install

lock: ## recompile requirements.txt and requirements-runtime.txt from pyproject.toml (keeps existing pins)
	PYTHON=$(PY) bash scripts/lock.sh

lock-upgrade: ## recompile the locks with the newest releases pyproject.toml allows
	PYTHON=$(PY) bash scripts/lock.sh --upgrade

up: ## dashboard and every worker (konsens up)
	$(VENV)/bin/konsens up

up-dev: ## compose dev profile: mounted source, dashboard reload on :8502, workers restart on change
	docker compose --profile dev up dashboard-dev workers-dev

test: ## the test suite (needs PostgreSQL on 127.0.0.1:5432 and Chromium, see README)
	$(PY) -m pytest

lint: ## ruff and the format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: ## fix what ruff can and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: ## mypy
	$(VENV)/bin/mypy

security: ## bandit against the reviewed baseline, pip-audit on the locks
	$(VENV)/bin/bandit -q -c pyproject.toml -r app core workers pages -ll -b .bandit-baseline.json
	$(VENV)/bin/pip-audit --strict --require-hashes --disable-pip -r requirements-runtime.txt

bench: ## every benchmark in bench/ (prints figures; slow)
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

docs: ## build the manual (strict) into site/
	$(VENV)/bin/mkdocs build --strict

docs-serve: ## serve the manual on http://127.0.0.1:8000 with live reload
	$(VENV)/bin/mkdocs serve

docker: ## build the production image konsens:latest (VERSION from pyproject.toml)
	docker build --build-arg VERSION=$$($(PY) -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])') \
		--build-arg REVISION=$$(git rev-parse HEAD) -t konsens:latest .

docker-dev: ## build the development image konsens:dev
	docker build --target dev -t konsens:dev .

k8s-check: ## validate the Kubernetes manifests and render the overlays (the same checks as the tests)
	$(PY) -m pytest -q tests/deploy/test_k8s.py
