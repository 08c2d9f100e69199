"""A server worker dies with the server's main process, so that no orphan keeps its port.

granian's workers are child processes of its main process. If the main process is killed
(`kill -9`, the OOM killer), Linux does not stop the children: an orphaned worker would keep
accepting connections on the replica's port beside the replica started in its place, serving
code and settings that nothing supervises. The parent-death signal makes the kernel kill the
worker the moment its parent exits.
"""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
# serve.py records the main process here; its workers inherit the environment.
SERVER_PID_VARIABLE = "ATTENDEE_DIRECTORY_SERVER_PID"


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send SIG to this process when its parent exits; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: the supervisor's group kill still applies
        return False


def mark_server_process() -> None:
    """In the main process: let the workers it starts know who their parent must be."""
    os.environ[SERVER_PID_VARIABLE] = str(os.getpid())


def die_with_server() -> None:
    """In a worker: be killed when the main process dies, and exit now if it already has."""
    server_pid = os.environ.get(SERVER_PID_VARIABLE)
    if not server_pid or int(server_pid) == os.getpid():
        return  # not started by serve.py (tests, another server): nothing to follow
    set_parent_death_signal(signal.SIGKILL)
    # The parent may have died before the signal was set: then this worker is already an orphan.
    if os.getppid() != int(server_pid):
        os._exit(1)
