"""A real granian replica for the process tests: started as the image starts it, and its
worker processes read from /proc."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import free_port, http_ok, start, stop, wait_until


@dataclass(frozen=True)
class Replica:
    """A started replica: its granian main process and its port on 127.0.0.1."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        """The replica's base URL."""
        return f"http://127.0.0.1:{self.port}"


def start_replica(mongo_uri: str, mongo_db: str, log_path: Path, **env: str) -> Replica:
    """Run `python -m attendee_directory.serve` on a free 127.0.0.1 port against MONGO_DB at
    MONGO_URI, with ENV added (WEB_CONCURRENCY 1 and no seed unless ENV says otherwise); wait
    until /healthz answers."""
    port = free_port()
    environment = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "MONGO_URI": mongo_uri,
        "MONGO_DB": mongo_db,
        "SEED_ON_START": "false",
        **env,
    }
    replica = Replica(
        start([sys.executable, "-m", "attendee_directory.serve"], log_path, environment), port
    )
    try:
        wait_until(
            lambda: http_ok(f"{replica.url}/healthz"),
            timeout=30,
            what="replica",
            process=replica.process,
        )
    except BaseException:
        stop(replica.process)
        raise
    return replica


def worker_pids(main_pid: int) -> list[int]:
    """The pids of the workers that granian's main process MAIN_PID spawned.

    multiprocessing also starts a resource tracker beside them; the workers run spawn_main.
    """
    children = []
    for task in Path(f"/proc/{main_pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return [child for child in children if b"spawn_main" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    """PID's command line; empty for a process that has exited since it was listed."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""
