# modelhealth — every target sets itself up (venv, pip, JVM jars) on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)

.PHONY: venv demo test test-unit test-integration lint format bench services-up services-down clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[kafka,pinot,learn,dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

demo: venv
	$(VENV)/bin/modelhealth demo $(DEMO_ARGS)

lint: venv
	$(VENV)/bin/ruff check modelhealth tests benchmarks
	$(VENV)/bin/ruff format --check modelhealth tests benchmarks

format: venv
	$(VENV)/bin/ruff format modelhealth tests benchmarks
	$(VENV)/bin/ruff check --fix modelhealth tests benchmarks

## The whole suite: lint, unit tier, then the integration tier (real Kafka + Pinot JVMs,
## downloaded from Maven Central on first run and started by the test session).
test: venv lint
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -q tests -m "not integration and not browser" $(PYTEST_ARGS)

test-integration: venv
	$(PY) -m pytest -q tests -m integration $(PYTEST_ARGS)

services-up: venv
	$(VENV)/bin/modelhealth services up

services-down: venv
	$(VENV)/bin/modelhealth services down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output artifacts
