# modelhealth — every target sets itself up (venv, pip, JVM jars) on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HASH   := $(shell cat pyproject.toml | md5sum | cut -c1-8)
STAMP  := $(VENV)/.installed-$(HASH)
EXTRAS := kafka,pinot,learn,dev

.PHONY: venv demo test test-unit test-integration lint format bench services-up services-down clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

## The benchmarks' peers (Evidently) come with the `bench` extra, installed by `make bench` only.
$(VENV)/.bench-$(HASH): $(STAMP)
	$(PY) -m pip install -q -e '.[$(EXTRAS),bench]'
	rm -f $(VENV)/.bench-*; touch $@

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

## benchmarks/*.py one after the other at their default (full-size, README) sizes, so a long
## run. Pick scripts with BENCH, pass a script's own arguments with BENCH_ARGS_<script>:
##   make bench BENCH="notify drift" BENCH_ARGS_notify="200 --repeats 3"
## detection(_cv) run on the simulated fleet unless BENCH_ARGS_detection names a NAB-layout
## dataset folder. pipeline.py is left out: it needs Kafka + Pinot (`make services-up` first,
## then `make bench BENCH=pipeline`). detection_cv.py (a cross-validation tool, no peer) too.
BENCH ?= ingest rules scheduler_memory notify drift dashboard learned_tick detection
BENCH_ARGS_detection ?= --simulated
BENCH_ARGS_detection_cv ?= --simulated

bench: $(VENV)/.bench-$(HASH)
	@$(foreach b,$(BENCH),echo "== $(PY) benchmarks/$(b).py $(BENCH_ARGS_$(b))" && \
	  $(PY) benchmarks/$(b).py $(BENCH_ARGS_$(b)) && ) true

services-up: venv
	$(VENV)/bin/modelhealth services up

services-down: venv
	$(VENV)/bin/modelhealth services down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output artifacts
