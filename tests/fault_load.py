"""Load for the fault suite: readers and writers through nginx that record every answer, and
the checks that every answer was a documented one.

Writers create attendees with an email and an Idempotency-Key of their own, and retry a create
that got no 2xx with the same key until it is acknowledged, so that afterwards "acknowledged"
and "stored" can be compared exactly.
"""

import collections
import itertools
import re
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

# What the API may answer under faults, besides 2xx: the database is down (503), nginx found no
# replica that could answer (502) or none answered in time (504). Anything else is a failure.
DOCUMENTED_FAULT_STATUSES = {502, 503, 504}


@dataclass
class Answer:
    """One request's outcome: status 0 means no HTTP answer at all (connection error)."""

    kind: str
    status: int
    seconds: float
    json_error: bool  # the body is the API's error shape {"error": ..., "message": ...}


def is_error_shape(response: requests.Response) -> bool:
    """True when RESPONSE's body is the API's JSON error shape."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("message"), str)
    )


@dataclass
class Recorder:
    """Every answer of a run, from many threads."""

    # Sent with every request: the credentials of the user the load acts as.
    auth: dict = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, session: requests.Session, kind: str, method: str, url: str, **kwargs):
        """Send one request and record its answer; return the response (None: no answer)."""
        started = time.monotonic()
        headers = {**self.auth, **kwargs.pop("headers", {})}
        try:
            response = session.request(method, url, timeout=15, headers=headers, **kwargs)
        except requests.RequestException:
            response = None
        answer = Answer(
            kind,
            0 if response is None else response.status_code,
            time.monotonic() - started,
            response is not None and response.status_code >= 400 and is_error_shape(response),
        )
        with self.lock:
            self.answers.append(answer)
        return response

    def statuses(self) -> dict[int, int]:
        """How many answers had each status."""
        return dict(sorted(collections.Counter(a.status for a in self.answers).items()))

    def undocumented(self) -> list[Answer]:
        """Answers that are neither 2xx nor a documented fault status in the JSON error shape."""
        return [
            a
            for a in self.answers
            if not 200 <= a.status < 300
            and not (a.status in DOCUMENTED_FAULT_STATUSES and a.json_error)
        ]

    def latency(self) -> dict:
        """p50, p99 and max of the answers' latencies, in seconds."""
        seconds = sorted(a.seconds for a in self.answers)
        return {
            "p50_s": round(statistics.median(seconds), 4),
            "p99_s": round(seconds[int(len(seconds) * 0.99)], 4),
            "max_s": round(seconds[-1], 4),
        }


def attendee(email: str) -> dict:
    """A valid attendee body with EMAIL."""
    return {
        "full_name": "Fault Tester",
        "email": email,
        "year_of_birth": 1999,
        "gender": "other",
        "university": "Chaos University",
        "major": "Reliability",
    }


@dataclass
class Writes:
    """Creates with one Idempotency-Key each; a create stays pending until acknowledged."""

    base_url: str
    recorder: Recorder
    tag: str = field(default_factory=lambda: f"fault-{uuid.uuid4().hex[:10]}")
    acknowledged: dict = field(default_factory=dict)  # key -> attendee id
    pending: dict = field(default_factory=dict)  # key -> body
    lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: itertools.count = field(default_factory=itertools.count)

    @property
    def email_domain(self) -> str:
        """The domain of every email this run creates, to find its attendees afterwards."""
        return f"{self.tag}.example.org"

    def new(self) -> tuple[str, dict]:
        """A new create: its key and its body."""
        number = next(self._numbers)
        key = f"{self.tag}-{number}"
        body = attendee(f"w{number}@{self.email_domain}")
        with self.lock:
            self.pending[key] = body
        return key, body

    def send(self, session: requests.Session, key: str, body: dict) -> bool:
        """POST one create with its key; True once it is acknowledged (201)."""
        response = self.recorder.call(
            session,
            "create",
            "POST",
            f"{self.base_url}/api/attendees",
            json=body,
            headers={"Idempotency-Key": key},
        )
        if response is not None and response.status_code == 201:
            with self.lock:
                self.pending.pop(key, None)
                self.acknowledged[key] = response.json()["id"]
            return True
        return False

    def writer(self, until: threading.Event) -> None:
        """Create attendees until UNTIL is set, retrying each unacknowledged one a few times."""
        with requests.Session() as session:
            while not until.is_set():
                key, body = self.new()
                for _ in range(3):
                    if self.send(session, key, body) or until.is_set():
                        break
                    time.sleep(0.2)
                time.sleep(0.02)

    def settle(self, timeout: float = 60) -> None:
        """After the faults: retry every pending create with its key until acknowledged."""
        deadline = time.monotonic() + timeout
        with requests.Session() as session:
            while self.pending and time.monotonic() < deadline:
                for key, body in list(self.pending.items()):
                    self.send(session, key, body)
                time.sleep(0.5)


def reader(base_url: str, recorder: Recorder, until: threading.Event) -> None:
    """Read the list and the replica identity until UNTIL is set."""
    with requests.Session() as session:
        for number in itertools.count():
            if until.is_set():
                return
            path = "/api/attendees?per_page=5" if number % 2 else "/api/whoami"
            recorder.call(session, "read", "GET", f"{base_url}{path}")
            time.sleep(0.01)


def run_threads(targets: list, seconds: float, during=None) -> None:
    """Run each target(until) in a thread for SECONDS; DURING(until), if given, runs meanwhile
    in this thread (the faults). Every thread is joined before returning."""
    until = threading.Event()
    threads = [threading.Thread(target=target, args=(until,), daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + seconds
        if during is not None:
            during(deadline)
        while time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        until.set()
        for thread in threads:
            thread.join(60)


def run_hey(url: str, connections: int, seconds: int, headers: dict | None = None) -> dict:
    """Load URL with hey for SECONDS over CONNECTIONS; per-request figures, from its summary.

    hey, not wrk: wrk corrects its latencies for coordinated omission (a request stuck for 2 s
    also counts for the requests its connection did not send meanwhile), which measures a
    different thing than the per-request p99 that the targets name.
    """
    binary = shutil.which("hey")
    if binary is None:
        raise FileNotFoundError("hey is not installed: sudo apt-get install -y hey")
    args = [binary, "-z", f"{seconds}s", "-c", str(connections), "-t", "15"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    args.append(url)
    summary = subprocess.run(
        args, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    statuses = {
        int(code): int(count)
        for code, count in re.findall(r"^\s+\[(\d+)\]\s+(\d+) responses$", summary, re.M)
    }
    errors_part = (
        summary.split("Error distribution:")[1] if "Error distribution:" in summary else ""
    )
    return {
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "errors": sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]", errors_part, re.M)),
        "req_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", summary)[1])),
        "p50_s": float(re.search(r"50%+ in ([\d.]+) secs", summary)[1]),
        "p99_s": float(re.search(r"99%+ in ([\d.]+) secs", summary)[1]),
        "max_s": float(re.search(r"Slowest:\s+([\d.]+) secs", summary)[1]),
    }
