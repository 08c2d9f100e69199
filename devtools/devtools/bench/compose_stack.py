"""One compose project for the container benchmark: up, health, memory, the database, down.

The shared driver (devtools.compose) runs compose; this adds what the benchmark measures. Every
call has a timeout. Traffic goes only to the published port on 127.0.0.1; the database is
reached with `docker exec` inside its own container (it publishes no port).
"""

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from attendee_directory.config import Settings, default

from ..compose import SERVICE_LABEL, ComposeProject, docker
from . import credentials
from .credentials import open_url

# The stand-in's own interpreter (on its PATH), with pymongo; MONGO_DB as compose.yaml sets it.
MONGO_DB = default(Settings, "mongo_db")
DB_URI = "mongodb://127.0.0.1:27017/"
UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9}


def to_bytes(text: str) -> float:
    """'12.5MiB' (docker stats' unit style) as bytes."""
    match = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    return float(number) * UNITS[unit.lower()]


@dataclass
class Stack(ComposeProject):
    """A compose project as the benchmark runs it: built before, timed up, measured, down."""

    name: str = field(default_factory=lambda: f"vdt_bench_{secrets.token_hex(4)}")
    # Both stacks serve the app on plain HTTP: ours with the benchmark's TLS=off config.
    tls: bool = False

    def all_healthy(self, expected: dict[str, int]) -> bool:
        """True when each service runs EXPECTED[service] containers, all healthy or unchecked."""
        # Unchecked: the practice's backend and nginx images have no healthcheck.
        return self.health(expected, unchecked=True)[0]

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
        password = Path(self.env().get("SECRETS_DIR", "")) / "admin_password"
        ours = any(Path(name).name == "compose.yaml" for name in self.files)  # not the practice's
        if ours and password.is_file():
            credentials.sign_in([self.url], password.read_text().strip())
        return serving, healthy

    def scale_to_traffic(self, replicas: int, timeout: float) -> float | None:
        """Scale to REPLICAS; seconds until a new replica answers through nginx (None: never)."""
        before = {c["Config"]["Hostname"] for c in self.containers("backend", running=True)}
        started = time.monotonic()
        self.compose("up", "-d", "--no-build", "--no-recreate", "--scale", f"backend={replicas}")
        new = {c["Config"]["Hostname"] for c in self.containers("backend", running=True)} - before
        while time.monotonic() - started < timeout:
            body = answers(self.url + "/api/whoami")
            if body and any(host in body for host in new):
                return time.monotonic() - started
            time.sleep(0.05)
        return None

    def memory(self) -> dict[str, float]:
        """MiB in use per container, named service-N, as docker stats reports it."""
        # docker stats: the cgroup's memory usage less its page cache.
        running = self.containers(running=True)
        names = {c["Name"].lstrip("/"): c["Config"]["Labels"] for c in running}
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
        (database,) = self.containers("database", running=True)
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

    def down(self, stop_timeout: int = 5) -> None:
        """Remove the project's containers, networks and volumes."""
        # 5 s to stop: the practice's development server (PID 1, no handler) ignores SIGTERM.
        super().down(stop_timeout)


def answers(url: str) -> str | None:
    """The body of a 200 answer to GET URL within 2 s, else None."""
    try:
        with open_url(url, timeout=2) as response:
            return response.read().decode() if response.status == 200 else None
    except OSError:
        return None
