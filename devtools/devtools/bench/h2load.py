"""Run h2load (nghttp2's load generator: HTTP/2 over TLS, which wrk does not speak) against one
URL, and take the median of repeated runs. h2load reports no percentiles: its mean time per
request stands beside wrk's p50 and p99."""

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from .credentials import headers_for
from .wrk import THREADS

INSTALL_HINT = "apt-get install -y nghttp2-client"


@dataclass(frozen=True)
class H2Run:
    """One h2load run: throughput, the mean time per request, and failed requests."""

    rps: float
    mean_ms: float
    errors: int


def h2load_binary() -> str | None:
    """The h2load executable, or None (the report then says how to install it)."""
    return shutil.which("h2load")


def _milliseconds(value: str) -> float:
    """h2load's '251us', '16.78ms' or '1.2s' in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_h2load(url: str, connections: int, seconds: int) -> H2Run:
    """Load URL over HTTP/2 for SECONDS with CONNECTIONS connections, one stream at a time each
    (as wrk's keep-alive connections send one request at a time), with its origin's credential."""
    binary = h2load_binary()
    assert binary is not None, INSTALL_HINT
    args = [binary, f"-D{seconds}", f"-c{connections}", f"-t{min(THREADS, connections)}", "-m1"]
    for name, value in headers_for(url).items():
        args += ["-H", f"{name}: {value}"]
    completed = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    output = completed.stdout
    found = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", output)
    statuses = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output)
    failed = re.search(r"requests: .* (\d+) failed, (\d+) errored, (\d+) timeout", output)
    request = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if not (found and statuses and failed and request):
        print(output, file=sys.stderr)
        raise RuntimeError(f"h2load printed nothing this benchmark can read for {url}")
    errors = sum(int(n) for n in statuses.groups()[2:]) + int(failed[2]) + int(failed[3])
    return H2Run(float(found[1]), _milliseconds(request[3]), errors)


def median_h2(runs: list[H2Run]) -> H2Run:
    """The run with the median req/s, with the errors of all runs added up."""
    middle = sorted(runs, key=lambda run: run.rps)[len(runs) // 2]
    return H2Run(middle.rps, middle.mean_ms, sum(run.errors for run in runs))
