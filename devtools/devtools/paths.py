"""Where things are in the checkout: the harness is installed editable, so its files sit in it."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
# What the suites print and save (figures, logs, screenshots of failures); git-ignored.
ARTIFACTS = REPO / "test-artifacts"
# make run's database, logs and generated configs; git-ignored.
STATE_DIR = REPO / ".local-stack"
