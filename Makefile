# The project's commands. `make run` starts the whole stack locally; `make test` runs every test
# this machine can run. Both create .venv and install the pinned dependencies first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REPLICAS ?= 2
CANARY ?=
PORT ?= 8080

.PHONY: run test lint bench lock clean fault-figures

$(VENV)/.installed: requirements-dev.lock backend/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e backend
	touch $@

run: $(VENV)/.installed
	$(PY) -m local_stack --replicas $(REPLICAS) --port $(PORT) $(if $(CANARY),--canary)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

# The fault suite's figures (from the last `make test`) into README.md's "What it survives".
fault-figures:
	$(PYTHON) scripts/readme_fault_figures.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lock:
	uv pip compile backend/pyproject.toml --universal --python-version 3.11 -o backend/requirements.lock
	uv pip compile requirements-dev.in --universal --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .local-stack test-artifacts

# `make bench`: every part of the benchmark in one run (about 20 minutes on 2 cores); writes
# docs/benchmarks.md and its chart. `make bench ARGS=--quick`: a smaller run (about 2 minutes);
# `ARGS="--parts growth"` chooses parts. Needs nginx and wrk (apt-get install nginx-light wrk).
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) -m bench.run $(ARGS)
