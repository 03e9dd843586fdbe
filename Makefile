# Pioneer: two commands, `make up` then `make test` (see README.md).
SHELL := /bin/bash
PY := .venv/bin/python
PIONEER := .venv/bin/pioneer
VENV_INPUTS := requirements.lock scripts/bootstrap-venv.sh libs/pioneer/pyproject.toml $(wildcard services/*/pyproject.toml)

.PHONY: venv broker up up-federated down status logs test lint format bench docs definitions clean

venv: .venv/.installed
.venv/.installed: $(VENV_INPUTS)
	@scripts/bootstrap-venv.sh

broker:
	@scripts/ensure-rabbitmq.sh

## Start every built service for cixi, haining and jiaxing (one shared deployment, SQLite in var/).
up: venv broker
	@$(PIONEER) up

## Three federated city deployments (one vhost each, federation links between them).
up-federated: venv broker
	@$(PIONEER) up --federated

down: venv
	@$(PIONEER) down

status: venv
	@$(PIONEER) status --json

logs: venv
	@$(PIONEER) logs

lint: venv
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

format: venv
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .

## Everything: lint, unit, service (SQLite + PostgreSQL, real broker), end to end; then the
## date-touching tests again with the clock moved years ahead (scripts/test-moved-clock.sh).
test: venv broker lint
	@$(PY) -m pytest -q
	@scripts/test-moved-clock.sh

bench: venv broker
	@$(PY) -m bench

## The API reference in docs/api, generated from the code (a test checks it is current).
docs: venv
	@$(PIONEER) docs --out docs/api

definitions: venv
	@$(PIONEER) definitions --broker --out deploy/rabbitmq/definitions.json

clean: down
	rm -rf var .venv
