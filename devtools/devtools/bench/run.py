"""`python -m bench.run`: measure the chosen parts of the benchmark, write docs/benchmarks.md.

A part is one entry of PARTS: a name, a function that measures it (args -> results) and one
that renders its section of the report (results -> Markdown), typed so that both agree on the
part's results. The results of every part go to results.json in the state directory as well.
"""

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from devtools.local_stack.nginx import NginxMissing, find_nginx

from ..compose import engine_problem
from ..paths import DOCS, STATE_DIR
from . import (
    containers,
    containers_report,
    containers_results,
    growth,
    growth_report,
    machine,
    revocations,
    servers,
    servers_report,
)
from .format import share, table
from .servers_results import ServersResults
from .wrk import WrkMissing, wrk_binary

ResultsT = TypeVar("ResultsT")


@dataclass(frozen=True)
class Measured:
    """A part's results, and its section of the report drawn from them."""

    results: object  # a dataclass, for results.json
    render: Callable[[Path], str]  # the report's directory -> Markdown


class Measurable(Protocol):
    """Anything in PARTS: measures itself, keeping its results and their renderer together."""

    def run(self, args: argparse.Namespace) -> Measured:
        """Measure the part; its results and how to render them."""
        ...


@dataclass(frozen=True)
class Part(Generic[ResultsT]):
    """One part of the benchmark: how to measure it and how to report it."""

    measure: Callable[[argparse.Namespace], ResultsT]
    render: Callable[[ResultsT, Path], str]  # (results, the report's directory) -> Markdown

    def run(self, args: argparse.Namespace) -> Measured:
        """Measure the part; its results bound to its own renderer."""
        results = self.measure(args)
        return Measured(results, lambda report_dir: self.render(results, report_dir))


def measure_containers(args: argparse.Namespace) -> containers_results.Results:
    """The containers part, with its own run length: its four stacks take turns."""
    return containers.measure(argparse.Namespace(**{**vars(args), "seconds": args.stack_seconds}))


def render_containers(results: containers_results.Results, _report_dir: Path) -> str:
    """The containers part's section (it writes no files next to the report)."""
    return containers_report.render(results)


PARTS: dict[str, Measurable] = {
    "servers": Part(servers.measure, servers_report.render),
    "growth": Part(growth.measure, growth_report.render),
    "containers": Part(measure_containers, render_containers),
    "revocations": Part(revocations.measure, revocations.render),
}
QUICK_PARTS = ["growth", "containers"]
# Parts that need a Docker engine: left out, with the reason printed, when none answers and the
# part was not asked for by name.
NEEDS_DOCKER = {"containers"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: parts, durations, repeats, connections, replicas and where to write."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", help=f"comma-separated, of: {', '.join(PARTS)} (default all)")
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    parser.add_argument("--growth-seconds", type=int, default=3, help="the same, growth part")
    parser.add_argument("--stack-seconds", type=int, default=3, help="the same, containers part")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median kept)")
    parser.add_argument("--growth-repeats", type=int, default=1, help="the same, growth part")
    parser.add_argument("--connections", default="16,64", help="comma-separated")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {', '.join(QUICK_PARTS)} only unless --parts says otherwise, "
        f"growth at {', '.join(f'{n:,}' for n in growth.QUICK_SIZES)} only, 1 s x 1 run",
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        help="growth part: the directory sizes (default 48,10000,100000; quick: 48,10000)",
    )
    parser.add_argument(
        "--backend",
        type=Path,
        help="growth part: serve the backend package from this directory (e.g. an older "
        "checkout's backend/) to measure it before a change",
    )
    parser.add_argument("--output", type=Path, default=DOCS / "benchmarks.md")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR / "bench")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = args.growth_seconds = args.stack_seconds = 1
        args.repeats = args.growth_repeats = 1
    args.connections = [int(n) for n in args.connections.split(",")]
    default = QUICK_PARTS if args.quick else list(PARTS)
    if not args.parts and (problem := engine_problem()):
        print(f"bench: leaving out {', '.join(sorted(NEEDS_DOCKER))}: {problem}", flush=True)
        default = [name for name in default if name not in NEEDS_DOCKER]
    args.parts = args.parts.split(",") if args.parts else default
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    return args


def header(
    args: argparse.Namespace,
    started_at: str,
    wall_seconds: float,
    facts: dict[str, str],
    cpu: dict[str, float],
) -> str:
    """The report's title, provenance and the machine it ran on."""
    when = datetime.fromisoformat(started_at).strftime("%Y-%m-%d %H:%M UTC")
    rows = [[name, str(value)] for name, value in facts.items()]
    rows.append(["CPU used by the benchmark's processes", share(cpu["bench"])])
    rows.append(["CPU used by other processes during the run", share(cpu["others"])])
    command = "make bench" + (" ARGS=--quick" if args.quick else "")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` (`python -m bench.run`, parts: {', '.join(args.parts)}) "
        f"from measurements taken on {when} in {wall_seconds / 60:.1f} minutes. Every number "
        "below is written by that script from that run; rerun it to refresh this file.",
        "",
        "## Machine",
        "",
        *table(["what", "value"], rows),
        "",
        "The load generator (wrk) runs on the same cores as nginx, the backend processes and "
        "the database, so every figure is what the whole machine achieves with all of them "
        "competing for the CPU. CPU shares are of the machine's capacity over the whole run.",
    ]
    return "\n".join(lines) + "\n"


def _plain(value: object) -> object:
    """JSON for the dataclasses in the results."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    """Measure each chosen part in turn, then write the report and results.json."""
    args = parse_args(argv)
    try:
        wrk_binary()
        find_nginx()
    except (WrkMissing, NginxMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    shutil.rmtree(args.state_dir, ignore_errors=True)
    args.state_dir.mkdir(parents=True)
    usage = machine.CpuUsage()
    load_before = machine.load_average()
    measured = {name: PARTS[name].run(args) for name in args.parts}
    facts = machine.describe(_database_kind(measured))
    facts["load average (1/5/15 min), before"] = load_before
    facts["load average (1/5/15 min), after"] = machine.load_average()
    wall = time.monotonic() - started
    parts = {name: part.results for name, part in measured.items()}
    saved = {"started_at": started_at, "wall_seconds": wall, "parts": parts}
    (args.state_dir / "results.json").write_text(json.dumps(saved, indent=1, default=_plain))
    sections = [header(args, started_at, wall, facts, usage.finish())]
    sections += [part.render(args.output.parent) for part in measured.values()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(sections))
    print(f"bench: wrote {args.output} in {wall:.0f} s", flush=True)
    return 0


def _database_kind(measured: dict[str, Measured]) -> str:
    """Which database server the parts ran against (each part starts its own)."""
    for name in ("growth", "servers"):
        results = measured[name].results if name in measured else None
        if isinstance(results, growth.GrowthResults | ServersResults):
            return results.database
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
