"""Where a replica's worker processes keep their Prometheus metrics, and its housekeeping.

prometheus-client's multiprocess mode: each granian worker writes its values to files of its
own (named after its pid) in PROMETHEUS_MULTIPROC_DIR, and /metrics adds the files of every
worker up. The server's main process prepares the directory before any worker starts; the
workers inherit the variable. This module imports nothing from prometheus-client at import
time: the client picks its file-backed values when it is first imported, which must happen
only after the variable is set.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A live gauge's file: gauge_livesum_1234.db (the "live" modes count only running workers).
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def prepare_metrics_dir() -> Path | None:
    """In the main process: an empty metrics directory in the environment; None if one is made.

    With PROMETHEUS_MULTIPROC_DIR set (the image points it at its tmpfs), that directory is
    emptied: the files of a previous run would be counted again. Without it, a fresh
    directory is made under the temporary directory (each local replica gets its own), and
    returned so that the caller can remove it when the server stops.
    """
    configured = os.environ.get(MULTIPROC_VARIABLE)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="attendee-directory-metrics-"))
    os.environ[MULTIPROC_VARIABLE] = str(made)
    return made


def remove_metrics_dir(directory: Path | None) -> None:
    """Remove a directory that prepare_metrics_dir made; nothing for a configured one."""
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _running(pid: int) -> bool:
    """True while PID exists and has not exited (a zombie has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def mark_dead_workers(directory: str) -> list[int]:
    """Drop the live gauges of workers that have exited (killed, respawned); return their pids.

    A worker killed by a signal runs no exit hook, so its in-flight gauge would otherwise stay
    in the sum forever. Its counters and histograms stay: what it served was served.
    """
    from prometheus_client import multiprocess

    dead = set()
    for name in os.listdir(directory):
        match = _LIVE_GAUGE_FILE.match(name)
        if match and not _running(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    return sorted(dead)
