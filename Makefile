# LEAP: every target installs what it needs first; `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install up down status topics run test unit integration test-tools bench bench-latency chaos clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv with LEAP and its pinned dependencies

up: install ## Start Kafka, Redis and PostgreSQL here (each only if not already reachable); migrate the database
	deploy/local/services.sh up
	$(BIN)/leap db migrate

down: install ## Stop what `make up` started
	deploy/local/services.sh down

status: install ## Show whether each service answers and who started it
	deploy/local/services.sh status

topics: up ## Create LEAP's topics (idempotent)
	$(BIN)/leap topics create

run: topics ## The main job end to end: a simulated university through a stream worker, bands by cohort
	deploy/local/run.sh

unit: install ## Unit and property tests of the pure logic (no services)
	$(BIN)/pytest -q tests/unit

test-tools: ## Node packages (test OpenID provider, axe-core), Debian's chromium (browser tests) and prometheus (alert rules)
	deploy/local/test-tools.sh

integration: topics test-tools ## Integration tests against the real services
	$(BIN)/pytest -q -m integration tests/integration

test: topics test-tools ## Everything: services up, then the whole suite against them
	$(BIN)/pytest -q --durations=25 tests

clean: down ## Stop services and delete their data, the jar cache, .venv and the test tools
	rm -rf .state .cache $(VENV) tests/tools/node_modules

chaos: topics ## Fault-injection run on the real services: kills, restarts, poison; checks every invariant (about 15 min on 2 cores)
	$(BIN)/python -m reliability.chaos --seed $${LEAP_CHAOS_SEED:-7} --out .state/chaos-last.json

bench: topics ## Measure the engine: events/s per worker vs a bare consumer, latency, memory
	$(BIN)/python -m benchmarks.engine_bench

bench-latency: topics ## Latency alone, on a smaller backlog (a few minutes): for trying a change to it
	$(BIN)/python -m benchmarks.latency
