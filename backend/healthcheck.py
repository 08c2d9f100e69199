"""The backend container's healthcheck, run by Docker every few seconds (backend/Dockerfile).

Healthy means ready: /readyz answers 200 (the app runs and reaches MongoDB).

Liveness is a separate question, because compose never restarts an unhealthy container: when
/healthz (which touches no database) times out LIVENESS_STRIKES probes in a row, the replica is
stuck (hung or stopped workers, not a database outage), and this probe ends it: it kills the
server's other processes and sends PID 1 SIGCONT then SIGTERM. PID 1 exits, and
`restart: unless-stopped` starts a fresh container. A refused connection is no strike: that is
a replica still starting, or one whose server has exited (Docker restarts that one anyway).

It acts from inside the container, so it needs no Docker socket (a watcher service with the
socket would be root on the host). What it cannot handle: a cgroup-frozen container
(`docker pause`) runs no probe; nginx sends reads to the other replicas meanwhile.
"""

import os
import signal
import sys
import urllib.request
from pathlib import Path

PORT = os.environ.get("PORT", "5000")
PROBE_TIMEOUT_S = 2.0
LIVENESS_STRIKES = 3
# On the container's /tmp tmpfs: survives between probes, not across a restart.
STRIKES_FILE = Path(os.environ.get("TMPDIR", "/tmp")) / "liveness-strikes"  # noqa: S108


def probe(path: str) -> str:
    """'ok' for a 200 from PATH, 'timeout' when it does not answer in time, else 'error'."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=PROBE_TIMEOUT_S):
            return "ok"
    except TimeoutError:
        return "timeout"
    except OSError as exc:  # URLError wraps a connect timeout; HTTPError is a non-2xx answer
        return "timeout" if isinstance(getattr(exc, "reason", None), TimeoutError) else "error"


def record_strike(timed_out: bool) -> int:
    """Count consecutive liveness timeouts (reset by anything else); return the count."""
    strikes = 0
    if timed_out:
        try:
            strikes = int(STRIKES_FILE.read_text() or 0)
        except (OSError, ValueError):
            strikes = 0
        strikes += 1
    STRIKES_FILE.write_text(str(strikes))
    return strikes


def end_the_container() -> None:
    """Kill the server's processes except PID 1, then wake PID 1 and ask it to exit."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in (1, os.getpid()):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue  # already gone, or not ours
    # PID 1 receives only signals it handles (the server handles SIGTERM); SIGCONT wakes it if
    # it was stopped, so that it can.
    os.kill(1, signal.SIGCONT)
    os.kill(1, signal.SIGTERM)


def main() -> int:
    """Exit 0 when ready; 1 otherwise, ending the container after LIVENESS_STRIKES timeouts."""
    liveness = probe("/healthz")
    strikes = record_strike(liveness == "timeout")
    if strikes >= LIVENESS_STRIKES:
        print(f"healthcheck: /healthz timed out {strikes} times in a row; ending this replica")
        end_the_container()
        return 1
    if liveness != "ok":
        print(f"healthcheck: /healthz: {liveness} ({strikes} of {LIVENESS_STRIKES})")
        return 1
    readiness = probe("/readyz")
    if readiness != "ok":
        print(f"healthcheck: /readyz: {readiness}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
