"""Small helpers to start child processes on free 127.0.0.1 ports and wait for them."""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from attendee_directory.worker_process import set_parent_death_signal


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, process=None) -> None:
    """Poll CHECK until it is true; fail with WHAT if TIMEOUT passes or PROCESS exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with code {process.returncode}")
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:PORT."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def find_executable(name: str) -> str | None:
    """The program NAME installed beside this Python (its virtualenv), else on PATH, else None."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def http_ok(url: str, timeout: float = 2, headers: dict[str, str] | None = None) -> bool:
    """True when URL answers 2xx within TIMEOUT seconds (the request sending HEADERS)."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError, http.client.HTTPException):
        # A server killed mid-answer can also leave a truncated or empty status line.
        return False


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the parent dies, so nothing is left behind."""
    set_parent_death_signal(signal.SIGTERM)


def start(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start ARGS in its own process group, with stdout and stderr appended to LOG_PATH.

    Its own group lets Ctrl-C reach only the runner, which then stops children in order.
    A child started from the main thread gets SIGTERM if the runner dies without stopping it.
    Not one started from another thread (a supervisor in the background): Linux sends the
    parent-death signal when the *thread* that started the child ends, not the process.
    """
    die_with_parent = (
        _die_with_parent if threading.current_thread() is threading.main_thread() else None
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process group: SIGTERM, then SIGKILL if it has not exited within TIMEOUT.

    A group whose leader already exited may still hold its children: they are killed.
    """
    if process.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass
