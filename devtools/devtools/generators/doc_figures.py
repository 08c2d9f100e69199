"""Copy the suites' last figures (test-artifacts/*.json) into the documents that show them,
between each block's markers: the fault suite's into docs/operations.md's "What it survives", the
monitoring suites' into docs/monitoring.md. Run by `make figures` after `make test`; the test
run itself never rewrites a tracked file."""

import json
import sys
from pathlib import Path
from typing import NamedTuple

from ..paths import ARTIFACTS, DOCS, REPO


class Block(NamedTuple):
    """One generated table: where it goes, its marker name and the figures files it shows."""

    document: Path
    name: str
    sources: tuple[str, ...]
    first_column: str


BLOCKS = [
    Block(DOCS / "operations.md", "fault-figures", ("faults", "fuzz", "swarm"), "fault"),
    Block(
        DOCS / "monitoring.md",
        "monitoring-figures",
        ("monitoring", "monitoring-local"),
        "measurement",
    ),
    Block(
        DOCS / "monitoring.md",
        "alert-figures",
        ("alerting-database", "alerting-replica", "alerting-dashboard"),
        "measurement",
    ),
]


def cell(value) -> str:
    """One figure as table text: dicts as `k: v` pairs, seconds with their unit."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {cell(inner)}" for key, inner in value.items()) or "none"
    return str(value)


def table(figures: dict, first_column: str) -> str:
    """A markdown table: one row per measurement, its figures in the second column."""
    lines = [f"| {first_column} | figures |", "| --- | --- |"]
    for name, values in figures.items():
        parts = [f"{key.replace('_', ' ')}: {cell(value)}" for key, value in values.items()]
        lines.append(f"| {name} | {'; '.join(parts)} |")
    return "\n".join(lines)


def fill(block: Block) -> str | None:
    """Rewrite BLOCK from the figures files that exist; a problem as text, None when written."""
    figures: dict = {}
    for source in block.sources:
        path = ARTIFACTS / f"{source}.json"
        if path.exists():
            figures.update(json.loads(path.read_text()))
    if not figures:
        return f"no figures for {block.name}: run `make test` first"
    start = f"<!-- {block.name}:start (make figures writes this block) -->"
    end = f"<!-- {block.name}:end -->"
    text = block.document.read_text()
    before, found_start, rest = text.partition(start)
    _, found_end, after = rest.partition(end)
    if not found_start or not found_end:
        return f"{block.document.name} has no {start} ... {end} block"
    generated = table(figures, block.first_column)
    block.document.write_text(f"{before}{start}\n{generated}\n{end}{after}")
    print(f"{block.document.relative_to(REPO)}: {len(figures)} rows of {block.name}")
    return None


def main() -> int:
    """Fill every block; fail if one could not be filled."""
    problems = [problem for block in BLOCKS if (problem := fill(block))]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
