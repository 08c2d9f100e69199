"""Copy the fault suite's last figures (test-artifacts/*.json) into README.md's "What it
survives" section, between its markers. Run by `make fault-figures` after `make test`; the
test run itself never rewrites a tracked file."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SOURCES = [ROOT / "test-artifacts" / f"{name}.json" for name in ("faults", "fuzz", "swarm")]
START = "<!-- fault-figures:start (make fault-figures writes this block) -->"
END = "<!-- fault-figures:end -->"


def cell(value) -> str:
    """One figure as table text: dicts as `k: v` pairs, seconds with their unit."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {cell(inner)}" for key, inner in value.items()) or "none"
    return str(value)


def table(figures: dict) -> str:
    """A markdown table: one row per measured fault, its figures in the second column."""
    lines = ["| fault | figures |", "| --- | --- |"]
    for name, values in figures.items():
        parts = [f"{key.replace('_', ' ')}: {cell(value)}" for key, value in values.items()]
        lines.append(f"| {name} | {'; '.join(parts)} |")
    return "\n".join(lines)


def main() -> int:
    """Rewrite the README block from the figures files that exist."""
    figures: dict = {}
    for source in SOURCES:
        if source.exists():
            figures.update(json.loads(source.read_text()))
    if not figures:
        print("no figures: run `make test` (the fault suite) first", file=sys.stderr)
        return 1
    text = README.read_text()
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        print(f"README.md has no {START} ... {END} block", file=sys.stderr)
        return 1
    README.write_text(f"{before}{START}\n{table(figures)}\n{END}{after}")
    print(f"README.md: {len(figures)} rows of fault figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
