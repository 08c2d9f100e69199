"""Sample running processes with py-spy and say where their time goes, by call out of a package."""

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import find_executable

RATE_HZ = 200
# py-spy's raw format: one line per distinct stack, "frame;frame;...;frame COUNT", root first;
# each frame reads "function (path/to/file.py:line)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")
# With --subprocesses, each stack starts with one 'process PID:"command line"' frame per process
# from the sampled one down; a command line may hold ';' (multiprocessing's spawned workers).
PROCESSES = re.compile(r'^(?:process \d+:"[^"]*"(?:;|$))+')
# A stack of process frames only: a thread that was running no Python code, e.g. one of
# granian's own (Rust) threads.
NATIVE = "(native code, no Python frame)"


class ProfilerUnavailable(RuntimeError):
    """py-spy is missing or may not attach to the process (it needs ptrace rights)."""


@dataclass(frozen=True)
class Profile:
    """Shares of the samples, keyed by 'caller -> callee' where PACKAGE calls out of itself."""

    package: str
    samples: int
    calls: list[tuple[str, float]]  # (label, share of all samples), largest first
    outside: float  # share of samples in which PACKAGE is not on the stack at all
    outside_leaves: list[tuple[str, float]]  # where those samples were, by innermost function


def py_spy() -> str:
    """The py-spy executable beside this Python, or on PATH."""
    found = find_executable("py-spy")
    if not found:
        raise ProfilerUnavailable("py-spy is not installed: make bench installs it")
    return found


def start_recording(pid: int, seconds: int, output: Path) -> subprocess.Popen:
    """Start sampling PID and its child processes for SECONDS into OUTPUT (raw stacks)."""
    args = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
    args += ["--duration", str(seconds), "--rate", str(RATE_HZ), "--format", "raw"]
    args += ["--output", str(output)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish_recording(process: subprocess.Popen, output: Path) -> None:
    """Wait for a recording to end; raise with py-spy's own words if it produced nothing."""
    _, errors = process.communicate(timeout=60)
    if process.returncode != 0 or not output.exists():
        raise ProfilerUnavailable(f"py-spy failed: {errors.strip()[-300:]}")


def _name(frame: str) -> tuple[str, str]:
    """(function, file) of one raw frame."""
    match = FRAME.match(frame)
    return (match["function"], match["file"]) if match else (frame, "")


def summarize(raw: Path, package: str, top: int = 8) -> Profile:
    """Where PACKAGE's samples go: the innermost PACKAGE frame and the call it is making."""
    calls: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        names = [f for f in PROCESSES.sub("", stack).split(";") if f]
        samples, frames = int(count), [_name(frame) for frame in names] or [(NATIVE, "")]
        total += samples
        inside = [i for i, (_, file) in enumerate(frames) if file.startswith(f"{package}/")]
        if not inside:
            leaves[frames[-1][0]] += samples
            continue
        last = inside[-1]
        callee = frames[last + 1][0] if last + 1 < len(frames) else "(its own code)"
        calls[f"{frames[last][0]} -> {callee}"] += samples
    samples, total = total, total or 1  # an empty recording: empty tables, no ZeroDivisionError

    def shares(counter: Counter[str], count: int) -> list[tuple[str, float]]:
        """The COUNT largest entries as shares of all samples."""
        return [(label, n / total) for label, n in counter.most_common(count)]

    outside = sum(leaves.values()) / total
    return Profile(package, samples, shares(calls, top), outside, shares(leaves, 5))
