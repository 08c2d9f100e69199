"""Work that a process does off the request path: every few seconds, and once more at exit."""

import atexit
import threading
import time
from collections.abc import Callable


def every(seconds: float, action: Callable[[], None], name: str) -> None:
    """Run ACTION every SECONDS in a daemon thread NAME, and once more when the process exits.

    The last run at exit (a worker that stops normally) saves what the thread had not yet
    written; a killed process loses at most SECONDS of it.
    """

    def forever() -> None:
        while True:
            time.sleep(seconds)
            action()

    threading.Thread(target=forever, name=name, daemon=True).start()
    atexit.register(action)
