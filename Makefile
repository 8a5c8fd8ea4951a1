# The taxi model-registry lab. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The venv is rebuilt whenever the pins change: the stamp is keyed on the pin files' digest.
PIN_DIGEST := $(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.pins-$(PIN_DIGEST)
RUN_DIR := outputs/runs/$(shell date +%Y%m%d-%H%M%S)
PYTEST_ARGS ?=
# pytest-xdist workers of `make test` (tests that share a server stay on one worker: tests/conftest.py GROUPS).
PYTEST_WORKERS ?= 2
PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup
# No usage telemetry leaves the machine; no "View run at" lines that change on every run.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
# Python caches each module it compiles (__pycache__), as it does by default: a shell that sets
# PYTHONDONTWRITEBYTECODE would make every process compile MLflow anew (import mlflow: ~10 s instead of ~3 s).
export PYTHONDONTWRITEBYTECODE :=
# The installer: uv, pinned here and installed into each venv by its pip. It resolves and installs the pinned
# set in seconds where pip takes minutes. It reads PyPI, not pip's configuration: for another index, set
# UV_DEFAULT_INDEX (or UV_INDEX) as uv documents.
UV_VERSION := 0.13.9
# uv into the venv $(2), made --without-pip (ensurepip costs ~5 s): the base interpreter $(1)'s pip installs it
# there (`pip --python`, pip 22.3+); a base Python whose pip cannot (or that has none) seeds the venv's own pip
# first. uv then installs pip itself with the pinned set, so the venv has its pip as any venv does.
define install_uv
	@$(1) -m pip --python $(2)/bin/python install --quiet uv==$(UV_VERSION) 2>/dev/null || \
	  { $(2)/bin/python -m ensurepip >/dev/null && $(2)/bin/python -m pip install --quiet uv==$(UV_VERSION); }
endef

.PHONY: help venv run pipeline server stop status lab test lint bench sample clean reset-registry
.PHONY: classroom classroom-stop classroom-status classroom-progress classroom-reset notebooks-outputs screenshots

## List the targets
help:
	@awk '/^## /{d=substr($$0,4); next} /^[a-zA-Z0-9_-]+:/{if(d){split($$1,t,":"); printf "  make %-14s %s\n", t[1], d}; d=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' || \
	  { echo "error: Python 3.10-3.12 needed, $(PYTHON) is $$($(PYTHON) --version)"; exit 1; }
	@# Pins changed since the last build: start from an empty venv, so no package of the old set stays behind.
	@if ls $(VENV)/.pins-* >/dev/null 2>&1; then echo "pins changed: rebuilding $(VENV)"; rm -rf $(VENV); fi
	@# A venv cut short (no pyvenv.cfg) would install into the base interpreter: make it anew.
	@test -f $(VENV)/pyvenv.cfg || { rm -rf $(VENV); $(PYTHON) -m venv --without-pip $(VENV); }
	$(call install_uv,$(PYTHON),$(VENV))
	$(VENV)/bin/uv pip install --quiet --python $(PY) -c constraints.txt -e '.[lab,dev]' pip
	$(VENV)/bin/uv pip check --quiet --python $(PY)
	@# The bytecode of what the course imports, compiled in the background at the lowest priority: it takes
	@# only the CPU that starting the server and the first kernels leave idle, and whatever it compiled first
	@# no process compiles again (see tools/warm_bytecode.py).
	nice -n 19 $(PY) tools/warm_bytecode.py >/dev/null 2>&1 &
	$(PY) -m ipykernel install --sys-prefix --name taxi-registry-lab --display-name "Python (taxi registry lab)" >/dev/null
	@rm -f $(VENV)/.pins-*
	@touch $@

## Create or refresh .venv from the pinned set (other targets do this for you)
venv: $(STAMP)

## Start the local MLflow server, run the course (notebooks 01-06) and print the registry summary
run: $(STAMP)
	$(PY) -m labhelpers course run --start-server --summary --output-dir build/course

## Train both steps and register the three models from the command line (the pipeline's three steps)
pipeline: $(STAMP)
	$(PY) -m labhelpers server start
	$(PY) ML/train_supervised.py --output-dir $(RUN_DIR)/supervised
	$(PY) ML/train_unsupervised.py --output-dir $(RUN_DIR)/unsupervised
	$(PY) ML/register_models.py --supervised-dir $(RUN_DIR)/supervised --unsupervised-dir $(RUN_DIR)/unsupervised

## Start the local MLflow server (sqlite + artifact folder under .mlflow/, 127.0.0.1 only)
server: $(STAMP)
	$(PY) -m labhelpers server start

## Stop the local MLflow server
stop:
	@if [ -x $(PY) ]; then $(PY) -m labhelpers server stop; else echo "no .venv: nothing to stop"; fi

## Show whether the local MLflow server is running
status: $(STAMP)
	$(PY) -m labhelpers server status

## Open JupyterLab with the project kernel (starts the server if needed)
lab: $(STAMP)
	$(PY) -m labhelpers server start
	$(VENV)/bin/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

## Lint, format check (ruff), the layering contract of labhelpers' subpackages (import-linter), types (mypy), private names
# Private names: ruff's SLF001 and PLC2701, plus the one case PLC2701 exempts (a private name imported between
# labhelpers' own modules), which test_private_names.py checks.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy --num-workers 2  # labhelpers, ML, bench, tests ([tool.mypy]); two processes halve a cold check
	$(PY) tests/unit/project/test_private_names.py

## Lint, then run every test
test: lint
	$(PY) -m pytest $(PARALLEL) $(PYTEST_ARGS)

## Run notebooks 01-06 on a throwaway server and store their sanitized outputs in the committed notebooks
notebooks-outputs: $(STAMP)
	$(PY) -m tools.store_outputs --into build/course-outputs

## Run notebooks 01-03 on a throwaway server and photograph its MLflow UI (the state 03 shows) into notebooks/images/
screenshots: $(STAMP)
	$(PY) -m tools.screenshots --into build/course-screenshots --images notebooks/images

## Benchmarks: training at 10M rows, registration speed, a 30-learner classroom (not part of make test)
bench: $(STAMP)
	$(PY) bench/bench_training.py
	$(PY) bench/bench_registry.py
	$(PY) bench/bench_classroom.py

## Regenerate data/nyc_taxi_sample.csv from the seeded generator
sample: $(STAMP)
	$(PY) -c "from labhelpers.data.sample import write_sample; print(write_sample('data/nyc_taxi_sample.csv'))"

## Stop the server and remove the venvs, caches and outputs; registries (.mlflow/, .classroom/) are kept
clean: stop
	rm -rf $(VENV) .venv-mlflow2 .venv-[0-9]* .cache outputs build .pytest_cache .ruff_cache

## Delete the local server's registry (.mlflow/: models, runs, artifacts) after asking
reset-registry:
	@if [ ! -d .mlflow ]; then echo "no .mlflow/: nothing to reset"; exit 0; fi; \
	  read -r -p "Delete the local registry in .mlflow/ (every model, run and artifact)? Type 'yes': " answer; \
	  if [ "$$answer" = yes ]; then $(MAKE) --no-print-directory stop && rm -rf .mlflow && echo "deleted .mlflow/"; \
	  else echo "nothing deleted"; fi

# The classroom server: ROSTER=FILE (one learner per line) on the first start; HOST=0.0.0.0 to teach over
# the network; PORT (5443) for MLflow over HTTPS.
CLASSROOM_ARGS = $(if $(ROSTER),--roster $(ROSTER)) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

## Start the classroom server (PostgreSQL + MLflow with accounts over TLS): make classroom ROSTER=roster.txt
classroom: $(STAMP)
	$(PY) -m labhelpers classroom start $(CLASSROOM_ARGS)

## Stop the classroom server (its state in .classroom/ is kept)
classroom-stop: $(STAMP)
	$(PY) -m labhelpers classroom stop

## Show whether the classroom server runs and answers
classroom-status: $(STAMP)
	$(PY) -m labhelpers classroom status

## One row per learner: how far each got (also build/classroom/progress.html)
classroom-progress: $(STAMP)
	$(PY) -m labhelpers classroom progress

## Delete the learners' models, runs and artifacts from the classroom registry (lists them, asks first)
classroom-reset: $(STAMP)
	$(PY) -m labhelpers classroom reset

# The MLflow 2 test environment: its own venv, rebuilt when its pin file changes (stamp keyed on its digest).
MLFLOW2_VENV := .venv-mlflow2
MLFLOW2_PINS := .ci/mlflow2-requirements.txt
MLFLOW2_PY := $(MLFLOW2_VENV)/bin/python
MLFLOW2_STAMP := $(MLFLOW2_VENV)/.pins-$(shell cat $(MLFLOW2_PINS) 2>/dev/null | sha256sum | cut -c1-16)

.PHONY: test-mlflow2

$(MLFLOW2_STAMP): $(MLFLOW2_PINS)
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' || \
	  { echo "error: Python 3.10-3.12 needed, $(PYTHON) is $$($(PYTHON) --version)"; exit 1; }
	@test -f $(MLFLOW2_VENV)/pyvenv.cfg || { rm -rf $(MLFLOW2_VENV); $(PYTHON) -m venv --without-pip $(MLFLOW2_VENV); }
	$(call install_uv,$(PYTHON),$(MLFLOW2_VENV))
	$(MLFLOW2_VENV)/bin/uv pip install --quiet --python $(MLFLOW2_PY) -r $(MLFLOW2_PINS)
	$(MLFLOW2_VENV)/bin/uv pip install --quiet --python $(MLFLOW2_PY) --no-deps -e .
	@rm -f $(MLFLOW2_VENV)/.pins-*
	@touch $@

## Run the registry tests under MLflow 2 (client and server) in .venv-mlflow2
# Its environment has no lab extra: the inference server's test is deselected here, never skipped.
test-mlflow2: $(MLFLOW2_STAMP)
	$(MLFLOW2_PY) -m pytest $(PARALLEL) -m "registry and not inference_server and not azure_sdk" $(PYTEST_ARGS)

# Another supported Python: its own venv .venv-VERSION from the same pins and constraints, rebuilt when they
# change. The interpreter is pyenv's (PYENV_VERSION=3.10.13 python3.10) unless PY_PYTHON names another.
PY_VERSION ?=
PY_MINOR := $(word 1,$(subst ., ,$(PY_VERSION))).$(word 2,$(subst ., ,$(PY_VERSION)))
PY_PYTHON ?= PYENV_VERSION=$(PY_VERSION) python$(PY_MINOR)
PY_VENV := .venv-$(PY_VERSION)
PY_STAMP := $(PY_VENV)/.pins-$(PIN_DIGEST)

.PHONY: test-python

$(PY_STAMP): pyproject.toml constraints.txt
	@test -n "$(PY_VERSION)" || { echo "usage: make test-python PY_VERSION=3.10.13 [PY_PYTHON=/path/to/python]"; exit 2; }
	@$(PY_PYTHON) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' || \
	  { echo "error: Python 3.10-3.12 needed, $(PY_PYTHON) is $$($(PY_PYTHON) --version 2>&1)"; exit 1; }
	@test -f $(PY_VENV)/pyvenv.cfg || { rm -rf $(PY_VENV); $(PY_PYTHON) -m venv --without-pip $(PY_VENV); }
	$(call install_uv,$(PY_PYTHON),$(PY_VENV))
	$(PY_VENV)/bin/uv pip install --quiet --python $(PY_VENV)/bin/python -c constraints.txt -e '.[lab,dev]' pip
	$(PY_VENV)/bin/uv pip check --quiet --python $(PY_VENV)/bin/python
	@rm -f $(PY_VENV)/.pins-*
	@touch $@

## Unit tests on another Python (.venv-VERSION, same pins): make test-python PY_VERSION=3.10.13
test-python: $(PY_STAMP)
	@$(PY_VENV)/bin/python -m pytest -m unit $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc = 5 ]; then echo "error: pytest -m unit ran no test on Python $(PY_VERSION)"; fi; exit $$rc; }
