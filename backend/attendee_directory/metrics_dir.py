"""Where a replica's worker processes keep their Prometheus metrics, and its housekeeping.

With several granian workers, prometheus-client's multiprocess mode: each worker writes its
values to files of its own (named after its pid) in PROMETHEUS_MULTIPROC_DIR, and /metrics adds
the files of every worker up. The server's main process prepares the directory before any
worker starts; the workers inherit the variable. With one worker (the image's default) there is
nothing to add up, and the file-backed values cost more than the rest of a request's metrics:
each write takes one process-wide lock and asks for the pid. That worker keeps in-process
values instead; when granian respawns it, its counters start again from zero, a counter reset
that Prometheus' rate() and increase() account for. This module imports nothing from
prometheus-client at import time: the client picks its file-backed values when it is first
imported, which must happen only after the variable is set.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A live gauge's file: gauge_livesum_1234.db (the "live" modes count only running workers).
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def prepare_metrics_dir(workers: int) -> Path | None:
    """In the main process: where WORKERS workers keep their metrics; the directory it made.

    One worker: none, and PROMETHEUS_MULTIPROC_DIR is removed from the environment, so that
    the worker keeps in-process values. Several: with PROMETHEUS_MULTIPROC_DIR set, that
    directory is emptied (the files of a previous run would be counted again); without it, a
    fresh directory is made under the temporary directory (each local replica gets its own),
    and returned so that the caller can remove it when the server stops.
    """
    if workers == 1:
        os.environ.pop(MULTIPROC_VARIABLE, None)
        return None
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
