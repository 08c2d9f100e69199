# The project's commands. `make run` starts the whole stack locally; `make test` runs every test
# this machine can run. Both create .venv and install the pinned dependencies first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CANARY ?=

.PHONY: run dev check test lint bench lock clean figures screenshots image-report \
	kubernetes-monitoring backup restore backup-figures

# uv, pinned by version and hash in backend/build-tools.txt (as the backend image installs it),
# in a venv of its own: Debian's python3 is externally managed (PEP 668), so no
# `pip install --user`; the venv needs nothing but python3 (python3-venv on Debian).
UV := .uv/bin/uv
# uv uses this machine's python3 and never downloads an interpreter.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

$(UV): backend/build-tools.txt
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
	  -r backend/build-tools.txt

# .venv exactly as uv.lock says: the workspace's members (editable) and the dev group.
$(VENV)/.installed: uv.lock pyproject.toml backend/pyproject.toml webserver/pyproject.toml \
		devtools/pyproject.toml | $(UV)
	$(UV) sync --locked --quiet
	touch $@

# `make run REPLICAS=3 HTTPS_PORT=9443`: make passes command-line variables on in the environment,
# where devtools.local_stack reads them (its defaults live there, not here).
run: $(VENV)/.installed
	$(PY) -m devtools.local_stack $(if $(CANARY),--canary)

# `make run` with RELOAD=1: replicas restart one by one when the backend's code changes; nginx
# serves the UI from webserver/ui (or UI_ROOT) as it is on disk.
dev: $(VENV)/.installed
	RELOAD=1 $(PY) -m devtools.local_stack $(if $(CANARY),--canary)

# Against the running `make run` stack: `make backup` writes backups/attendee-directory-*.backup
# and prints its path; `make restore FILE=...` restores one into an empty database (REPLACE=1:
# replace what it holds; WITH_TOKENS=1: API tokens too). STATE_DIR/BACKUP_DIR: for the tests.
backup: $(VENV)/.installed
	$(PY) -m devtools.local_stack.backup $(if $(STATE_DIR),--state-dir "$(STATE_DIR)") \
	  $(if $(BACKUP_DIR),--dir "$(BACKUP_DIR)") backup

restore: $(VENV)/.installed
	$(PY) -m devtools.local_stack.backup $(if $(STATE_DIR),--state-dir "$(STATE_DIR)") restore \
	  "$(FILE)" $(if $(REPLACE),--replace) $(if $(WITH_TOKENS),--with-tokens)

test: lint
	$(PY) -m pytest

# The fast loop (about 2 minutes): lint, types, and every suite but the container, browser and
# fault ones (markers in pyproject.toml). `make test` is the full run that CI calls.
check: lint
	$(PY) -m pytest -m "not containers and not browser and not faults"

# Generators of tracked files (never run by `make test`, which rewrites nothing tracked):
# docs/screenshot.png and docs/prometheus-targets.png from a local stack in headless Chromium
# (needs nginx, chromium + chromium-driver, prometheus), and docs/images.md from the images
# built in the container suite's mode (needs a Docker engine; several minutes).
screenshots: $(VENV)/.installed
	$(PY) -m devtools.generators.screenshots

image-report: $(VENV)/.installed
	$(PY) -m devtools.generators.image_report

# The suites' figures (from the last `make test`) into README.md and docs/monitoring.md.
figures: $(VENV)/.installed
	$(PY) -m devtools.generators.doc_figures

# kubernetes/monitoring/'s PrometheusRule and Alertmanager config, from monitoring/ (one source).
kubernetes-monitoring: $(VENV)/.installed
	$(PY) -m devtools.generators.kubernetes_monitoring

# docs/operations.md's backup and restore times at 100,000 attendees (a few minutes).
backup-figures: $(VENV)/.installed
	$(PY) -m devtools.generators.backup_figures

# mypy checks the files that pyproject.toml's [tool.mypy] names; ansible-lint the Ansible
# deployment with its production profile; pre-commit runs the same.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/ansible-lint --offline --profile production ansible/
	$(VENV)/bin/ansible-playbook --syntax-check -i ansible/inventory/hosts.yml ansible/site.yml

# uv.lock from the pyproject.toml files; the stand-in image's pins are exported from it.
lock: | $(UV)
	$(UV) lock
	$(UV) export --locked --quiet --only-group standin --no-hashes --no-emit-project \
	  --no-annotate -o database/standin/requirements.txt

clean:
	rm -rf $(VENV) .uv .local-stack test-artifacts

# `make bench`: every part of the benchmark in one run (about 30 minutes on 2 cores, with Docker
# for the containers part); writes docs/benchmarks.md and its chart. `make bench ARGS=--quick`:
# a smaller run (under 3 minutes); `ARGS="--parts growth"` chooses parts. Needs nginx and wrk
# (apt-get install nginx-light wrk).
$(VENV)/.bench-installed: $(VENV)/.installed
	$(UV) sync --locked --quiet --group bench
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) -m devtools.bench.run $(ARGS)
