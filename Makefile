# Chorus: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Demo secrets for the shipped connector files (see connectors/). Override in the environment.
export TYPEFORM_SECRET       ?= demo-typeform-secret
export X_CONSUMER_SECRET     ?= demo-x-consumer-secret
export HUBSPOT_CLIENT_SECRET ?= demo-hubspot-client-secret
export HUBSPOT_ACCESS_TOKEN  ?= demo-hubspot-access-token
export CHORUS_ADMIN_TOKEN    ?= demo-admin-token

.PHONY: install run send lint test test-fast bench package validate schema clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

run: install
	$(BIN)/chorus serve --config-dir connectors

# make send CONNECTOR=typeform-nps BODY=tests/fixtures/typeform/form_response.json (the demo secrets above sign it)
send: install
	$(BIN)/chorus send $(CONNECTOR) $(BODY) --config-dir connectors

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The inner loop: the contract and unit tests (conformance, registry, config, store, pure steps), no AWS double
FAST_TESTS := tests/conformance tests/providers/test_registry.py tests/config tests/store \
	tests/pipeline/test_scoring.py tests/pipeline/test_person_write.py

test-fast: install lint
	$(BIN)/python -m pytest $(FAST_TESTS) -m "not slow and not moto" -p no:randomly $(PYTEST_ARGS)

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

validate: install
	$(BIN)/chorus validate connectors

schema: install
	$(BIN)/chorus schema

package: install
	$(BIN)/chorus package --stage $(or $(STAGE),dev) --out build/package

clean:
	rm -rf $(VENV) build .chorus .pytest_cache
