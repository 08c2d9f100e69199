"""The revocations part of `make bench`: what users revoking credentials cost another client.

A reader sends sequential GETs of one attendee through nginx, first alone, then while
REVOKERS viewers each create and revoke API tokens in a loop, every one from a loopback
address of its own (so each has the shipped write limit to itself, as separate users would).
A revocation holds a worker thread while it waits for every replica to let go of the old
credential; the figures show what that leaves the reader.
"""

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devtools.processes import free_port
from devtools.signin import ADMIN, api_token, browser_session, session_from, token_session
from nginx_config import FrontDoor

from .format import ms, table
from .setups import ServerConfig, ServerStack

REVOKERS = 4
# The shipped write limit for the revokers; reads raised for the one sequential reader.
DOOR = FrontDoor(read_rate="10000r/s", read_burst=10000, conn_limit=1000)
SHIPPED = ServerConfig("granian", workers=1, threads=4)
PASSWORD = "a long enough password"  # noqa: S105 (the bench users' own, in a throwaway stack)


@dataclass
class ReaderFigures:
    """The reader's GETs in one phase."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float


@dataclass
class RevocationResults:
    """The reader alone and during revocations; what the revokers got."""

    seconds: float
    replicas: int
    quiet: ReaderFigures | None = None
    revoking: ReaderFigures | None = None
    revoked: int = 0  # 204s
    busy: int = 0  # 429 revocation_busy: refused at once, nothing changed
    limited: int = 0  # 429 from nginx's write limit
    statuses: dict[int, int] = field(default_factory=dict)


def _figures(latencies: list[float]) -> ReaderFigures:
    """Percentiles of LATENCIES (seconds) in milliseconds."""
    cuts = statistics.quantiles(latencies, n=100)
    return ReaderFigures(len(latencies), cuts[49] * 1000, cuts[89] * 1000, cuts[98] * 1000)


def _read(url: str, token: str, seconds: float) -> list[float]:
    """Sequential GETs of URL for SECONDS; the latency of each 200."""
    latencies = []
    with token_session(token) as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            answer = session.get(url, timeout=10)
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - began)
    return latencies


def _revoke(base: str, browser: requests.Session, stop: threading.Event, seen: list) -> None:
    """Create and revoke tokens until STOP; the status of each revocation (and refused
    creation) into SEEN."""
    while not stop.is_set():
        made = browser.post(f"{base}/api/tokens", json={"name": "bench"}, timeout=10)
        if made.status_code != 201:
            seen.append((made.status_code, "create"))
            time.sleep(0.05)
            continue
        answer = browser.delete(f"{base}/api/tokens/{made.json()['id']}", timeout=10)
        error = answer.json().get("error", "") if answer.status_code == 429 else ""
        seen.append((answer.status_code, error))


def measure(args) -> RevocationResults:
    """The reader alone, then during revocations, on a stack as `make run` starts it."""
    seconds = max(3, args.stack_seconds)
    results = RevocationResults(seconds, args.replicas)
    state: Path = args.state_dir / "revocations"
    with ServerStack(
        state_dir=state,
        replicas=args.replicas,
        port=free_port(),
        config=SHIPPED,
        front_door=DOOR,
    ) as stack:
        base = stack.url
        admin = token_session(api_token(base, ADMIN, stack.admin_password(), name="bench"))
        for name in ["reader", *(f"revoker{n}" for n in range(REVOKERS))]:
            admin.post(
                f"{base}/api/users",
                json={"username": name, "password": PASSWORD, "role": "viewer"},
                timeout=10,
            ).raise_for_status()
        some = admin.get(f"{base}/api/attendees?per_page=1", timeout=10).json()["items"][0]
        url = f"{base}/api/attendees/{some['id']}"
        reader = api_token(base, "reader", PASSWORD, name="bench")
        print("  the reader alone ...", flush=True)
        _read(url, reader, 1)  # warm-up
        results.quiet = _figures(_read(url, reader, seconds))
        print(f"  the reader while {REVOKERS} viewers revoke ...", flush=True)
        browsers = []
        for n in range(REVOKERS):
            browser = browser_session(base, f"revoker{n}", PASSWORD)
            from_address = session_from(f"127.0.9.{n + 2}")
            from_address.cookies.update(browser.cookies)
            from_address.headers.update(browser.headers)
            browsers.append(from_address)
        stop = threading.Event()
        seen: list[tuple[int, str]] = []
        threads = [threading.Thread(target=_revoke, args=(base, b, stop, seen)) for b in browsers]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            results.revoking = _figures(_read(url, reader, seconds))
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
    for status, error in seen:
        results.statuses[status] = results.statuses.get(status, 0) + 1
        if error == "create":
            continue
        if status == 204:
            results.revoked += 1
        elif error == "revocation_busy":
            results.busy += 1
        elif status == 429:
            results.limited += 1
    return results


def render(results: RevocationResults, _report_dir: Path) -> str:
    """The section of docs/benchmarks.md."""
    rows = []
    for phase, figures in (("alone", results.quiet), ("while revocations run", results.revoking)):
        if figures is None:
            continue
        rows.append(
            [
                phase,
                f"{figures.count:,}",
                ms(figures.p50_ms),
                ms(figures.p90_ms),
                ms(figures.p99_ms),
            ]
        )
    rate = results.revoked / results.seconds
    lines = [
        "## What a revocation costs other clients",
        "",
        f"One reader sends sequential GETs of an attendee through nginx ({results.replicas} "
        f"replicas, granian 1x4 each), {results.seconds:.0f} s alone and {results.seconds:.0f} s "
        f"while {REVOKERS} viewers, each from an address of its own under the shipped write "
        "limit, create and revoke API tokens in a loop. A revocation answers once no replica "
        "trusts the old credential (0.1 s after it is stored); only one such wait per replica "
        "process at a time, another one gets 429 `revocation_busy` at once "
        "([api.md](api.md#accounts)). Before this design each revocation slept 0.5 s in a "
        "worker thread: the security review that reported it measured the reader's p90 going "
        "from 11 ms to 401 ms with 4 viewers revoking.",
        "",
        *table(["the reader", "GETs", "p50 ms", "p90 ms", "p99 ms"], rows),
        "",
        f"The revokers: {results.revoked:,} revocations done ({rate:.1f}/s), "
        f"{results.busy:,} refused at once as `revocation_busy`, {results.limited:,} held by "
        "nginx's write limit.",
        "",
    ]
    return "\n".join(lines)
