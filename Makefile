# Pioneer: two commands, `make up` then `make test` (see README.md).
SHELL := /bin/bash
PY := .venv/bin/python
PIONEER := .venv/bin/pioneer
VENV_INPUTS := requirements.lock scripts/bootstrap-venv.sh libs/pioneer/pyproject.toml $(wildcard services/*/pyproject.toml)

.PHONY: venv broker postgres up up-federated down status logs test lint format bench docs definitions manifests clean

venv: .venv/.installed
.venv/.installed: $(VENV_INPUTS)
	@scripts/bootstrap-venv.sh

broker:
	@scripts/ensure-rabbitmq.sh

## A local PostgreSQL server for `make up DB=postgres` (installed and started if missing).
postgres:
	@scripts/ensure-postgres.sh

## Start every built service for cixi, haining and jiaxing (one shared deployment, SQLite in var/;
## `make up DB=postgres`: a role and database per service on the local PostgreSQL; REPLICAS=N
## processes of each service on the same queues, PostgreSQL only).
up: venv broker $(if $(filter postgres,$(DB)),postgres)
	@$(PIONEER) up $(if $(DB),--db $(DB)) $(if $(REPLICAS),--replicas $(REPLICAS))

## Three federated city deployments (one vhost each, federation links between them).
up-federated: venv broker $(if $(filter postgres,$(DB)),postgres)
	@$(PIONEER) up --federated $(if $(DB),--db $(DB)) $(if $(REPLICAS),--replicas $(REPLICAS))

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

## Everything, a layer at a time, stopping at the first that fails: lint; unit (domain rules and
## use cases on fakes, no broker or database); storage (SQLite and PostgreSQL); service (each
## service in a container on the real broker, both databases); end to end (the processes
## `pioneer up` starts, on SQLite, then on PostgreSQL with two replicas); then the date-touching
## tests again with the clock moved years ahead. The service layer and the moved clock's unit
## and service tests run as TEST_JOBS pytest processes at once (scripts/pytest_groups.py); what
## times its answers or races processes (the hostile-input suites, end to end) runs alone.
UNIT_TESTS := libs/pioneer/tests/unit $(wildcard services/*/tests/unit) tests/repo
STORAGE_TESTS := $(wildcard services/*/tests/storage)
SERVICE_GROUPS := $(wildcard services/*/tests/service) libs/pioneer/tests/integration tests/broker
HOSTILE_TESTS := $(wildcard services/*/tests/service/test_hostile.py)
TEST_JOBS ?= 3
GROUPS := $(PY) scripts/pytest_groups.py --jobs $(TEST_JOBS)
test: venv broker postgres lint
	@echo "test: unit"; $(PY) -m pytest -q $(UNIT_TESTS)
	@echo "test: storage"; $(PY) -m pytest -q $(STORAGE_TESTS)
	@echo "test: service"; $(GROUPS) $(SERVICE_GROUPS) -- -q --ignore-glob='services/*/tests/service/test_hostile.py'
	@echo "test: hostile input, one service at a time"; $(PY) -m pytest -q $(HOSTILE_TESTS)
	@echo "test: end to end"; $(PY) -m pytest -q tests/e2e
	@echo "test: end to end on PostgreSQL, two replicas of every service"; PIONEER_E2E_DB=postgres PIONEER_E2E_REPLICAS=2 $(PY) -m pytest -q tests/e2e
	@TEST_JOBS=$(TEST_JOBS) scripts/test-moved-clock.sh

bench: venv broker
	@$(PY) -m bench $(ARGS)

## The API reference in docs/api, generated from the code (a test checks it is current).
docs: venv
	@$(PIONEER) docs --out docs/api

## Kubernetes manifests in deploy/k8s, generated from the code (a test checks they are current).
manifests: venv
	@$(PIONEER) manifests --out deploy/k8s

definitions: venv
	@$(PIONEER) definitions --broker --out deploy/rabbitmq/definitions.json

clean: down
	@$(PIONEER) purge
	rm -rf var .venv
