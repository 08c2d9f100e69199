"""Drive one compose project for the container benchmark: up, health, memory, the database, down.

Every call has a timeout. Traffic goes only to the published port on 127.0.0.1; the database is
reached with `docker exec` inside its own container (it publishes no port).
"""

import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from attendee_directory.config import Settings, default

from .setups import REPO

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
OFFLINE_FILES = ("compose.yaml", "compose.offline.yaml")
# The stand-in's own interpreter (on its PATH), with pymongo; MONGO_DB as compose.yaml sets it.
MONGO_DB = default(Settings, "mongo_db")
DB_URI = "mongodb://127.0.0.1:27017/"
UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9}


def run(args: list[str], timeout: float, env: dict | None = None, stdin: str | None = None):
    """Run a command in the checkout; raise with the end of its output if it fails."""
    done = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def docker(*args: str, timeout: float = 60, stdin: str | None = None):
    """Run `docker ARGS`."""
    return run(["docker", *args], timeout, stdin=stdin)


def engine_problem() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no Docker engine ({exc}); scripts/start-docker.sh starts one"
    return None


def to_bytes(text: str) -> float:
    """'12.5MiB' (docker stats' unit style) as bytes."""
    match = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    return float(number) * UNITS[unit.lower()]


@dataclass
class Stack:
    """One compose project: its files, a unique name, a free port on 127.0.0.1, extra env."""

    files: list[Path]
    http_port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"vdt_bench_{secrets.token_hex(4)}")

    @property
    def url(self) -> str:
        """The published port: the only address the benchmark loads."""
        return f"http://127.0.0.1:{self.http_port}"

    def compose(self, *args: str, timeout: float = 300):
        """Run compose v2 for this project."""
        files = [arg for path in self.files for arg in ("-f", str(path))]
        env = {**os.environ, "HTTP_BIND": "127.0.0.1", "HTTP_PORT": str(self.http_port)}
        return run(
            ["docker", "compose", "-p", self.name, *files, *args],
            timeout,
            {**env, **self.extra_env},
        )

    def containers(self, service: str | None = None) -> list[dict]:
        """`docker inspect` of the project's containers, or of one service's."""
        filters = ["--filter", f"label={PROJECT_LABEL}={self.name}"]
        if service:
            filters += ["--filter", f"label={SERVICE_LABEL}={service}"]
        ids = docker("ps", "-q", *filters).stdout.split()
        return json.loads(docker("inspect", *ids).stdout) if ids else []

    def all_healthy(self, expected: dict[str, int]) -> bool:
        """True when each service runs EXPECTED[service] containers, all healthy or unchecked."""
        # Unchecked: the practice's backend and nginx images have no healthcheck.
        counts: dict[str, int] = {}
        for container in self.containers():
            state = container["State"]
            if state["Status"] != "running" or state.get("Health", {}).get("Status") not in (
                None,
                "healthy",
            ):
                return False
            service = container["Config"]["Labels"][SERVICE_LABEL]
            counts[service] = counts.get(service, 0) + 1
        return counts == expected

    def up(self, replicas: int, timeout: float = 180) -> tuple[float, float]:
        """`up -d` with REPLICAS backends; seconds until nginx serves, and until all are healthy."""
        # The images are built before (prepare), so no build time is counted.
        started = time.monotonic()
        self.compose("up", "-d", "--no-build", "--scale", f"backend={replicas}", timeout=timeout)
        expected = {"webserver": 1, "backend": replicas, "database": 1}
        serving = healthy = None
        deadline = started + timeout
        while (serving is None or healthy is None) and time.monotonic() < deadline:
            if serving is None and answers(self.url + "/api/whoami"):
                serving = time.monotonic() - started
            if healthy is None and self.all_healthy(expected):
                healthy = time.monotonic() - started
            time.sleep(0.25)
        if serving is None or healthy is None:
            logs = self.compose("logs", "--tail", "20", timeout=60).stdout[-4000:]
            raise TimeoutError(f"{self.name} not serving and healthy in {timeout} s\n{logs}")
        return serving, healthy

    def scale_to_traffic(self, replicas: int, timeout: float) -> float | None:
        """Scale to REPLICAS; seconds until a new replica answers through nginx (None: never)."""
        before = {c["Config"]["Hostname"] for c in self.containers("backend")}
        started = time.monotonic()
        self.compose("up", "-d", "--no-build", "--no-recreate", "--scale", f"backend={replicas}")
        new = {c["Config"]["Hostname"] for c in self.containers("backend")} - before
        while time.monotonic() - started < timeout:
            body = answers(self.url + "/api/whoami")
            if body and any(host in body for host in new):
                return time.monotonic() - started
            time.sleep(0.05)
        return None

    def memory(self) -> dict[str, float]:
        """MiB in use per container, named service-N, as docker stats reports it."""
        # docker stats: the cgroup's memory usage less its page cache.
        names = {c["Name"].lstrip("/"): c["Config"]["Labels"] for c in self.containers()}
        out = docker("stats", "--no-stream", "--format", "{{json .}}", *names).stdout
        usage = {}
        for line in out.splitlines():
            row = json.loads(line)
            labels = names[row["Name"]]
            key = f"{labels[SERVICE_LABEL]}-{labels['com.docker.compose.container-number']}"
            usage[key] = to_bytes(row["MemUsage"].split("/")[0]) / 2**20
        return dict(sorted(usage.items()))

    def database_python(self, code: str, stdin: str = "") -> str:
        """Run Python CODE (with pymongo) in the database container; return its output."""
        # The database publishes no port: seeding and cleaning go through `docker exec`.
        (database,) = self.containers("database")
        return docker("exec", "-i", database["Id"], "python3", "-c", code, stdin=stdin).stdout

    def insert(self, documents: list[dict]) -> None:
        """Insert DOCUMENTS into the attendees collection."""
        code = (
            "import json, sys; from pymongo import MongoClient; "
            f"MongoClient({DB_URI!r})[{MONGO_DB!r}].attendees.insert_many(json.load(sys.stdin))"
        )
        self.database_python(code, json.dumps(documents))

    def remove_created(self, email_pattern: str) -> int:
        """Delete the attendees whose email matches EMAIL_PATTERN (the create runs' own)."""
        code = (
            "from pymongo import MongoClient; "
            f"print(MongoClient({DB_URI!r})[{MONGO_DB!r}].attendees"
            f".delete_many({{'email': {{'$regex': {email_pattern!r}}}}}).deleted_count)"
        )
        return int(self.database_python(code).strip())

    def down(self) -> None:
        """Remove the project's containers, networks and volumes."""
        # 5 s to stop: the practice's development server (PID 1, no handler) ignores SIGTERM.
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", timeout=180)


def answers(url: str) -> str | None:
    """The body of a 200 answer to GET URL within 2 s, else None."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (127.0.0.1 only)
            return response.read().decode() if response.status == 200 else None
    except OSError:
        return None
