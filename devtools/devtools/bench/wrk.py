"""Run wrk against one URL and read back its numbers; take the median of repeated runs."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .credentials import headers_for

SCRIPT = Path(__file__).with_name("wrk.lua")
THREADS = 2  # one load-generator thread per core; wrk shares the 2 cores with the servers
TIMEOUT_S = 10  # slower answers count as errors (wrk's default of 2 s would hide a slow tail)
WARMUP_S = 1  # before each figure's runs, each target gets one unrecorded run this long


class WrkMissing(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True)
class Run:
    """One wrk run: throughput, latency percentiles and errors (HTTP >= 400 and socket errors)."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Result:
    """The median run of several, with the errors of all of them added up."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    runs: int
    rps_low: float  # the slowest and fastest of the runs: how much the repeats differed
    rps_high: float

    @property
    def spread(self) -> float:
        """(fastest - slowest run) / median: this figure's noise."""
        return (self.rps_high - self.rps_low) / self.rps if self.rps else 0.0


def wrk_binary() -> str:
    """The wrk executable, or a clear error saying how to install it."""
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is not installed: sudo apt-get install -y wrk")
    return found


def wrk_version() -> str:
    """wrk's own version line, e.g. 'debian/4.1.0-3+b2'."""
    output = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, check=False)
    return output.stdout.split()[1] if output.stdout else "unknown"


def run_wrk(url: str, connections: int, seconds: int, create_tag: str | None = None) -> Run:
    """Load URL for SECONDS with CONNECTIONS keep-alive connections; POST creates if CREATE_TAG."""
    env = {**os.environ, **({"BENCH_CREATE_TAG": create_tag} if create_tag else {})}
    headers = headers_for(url)
    if headers:
        env["BENCH_HEADERS"] = "\n".join(f"{name}: {value}" for name, value in headers.items())
    args = [wrk_binary(), f"-t{min(THREADS, connections)}", f"-c{connections}"]
    args += [f"-d{seconds}s", f"--timeout={TIMEOUT_S}s", "-s", str(SCRIPT), url]
    completed = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=seconds + 30, check=True
    )
    numbers = json.loads(completed.stdout.strip().splitlines()[-1])
    return Run(
        rps=numbers["requests"] / (numbers["duration_us"] / 1e6),
        p50_ms=numbers["p50_us"] / 1000,
        p99_ms=numbers["p99_us"] / 1000,
        errors=numbers["status_errors"] + numbers["socket_errors"],
    )


def median(runs: list[Run]) -> Result:
    """The run with the median requests/s (its own latencies), and the errors of all runs."""
    middle = sorted(runs, key=lambda run: run.rps)[(len(runs) - 1) // 2]
    errors = sum(run.errors for run in runs)
    rates = [run.rps for run in runs]
    return Result(
        middle.rps, middle.p50_ms, middle.p99_ms, errors, len(runs), min(rates), max(rates)
    )
