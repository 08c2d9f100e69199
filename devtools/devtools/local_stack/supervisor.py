"""`make run`'s supervisor: it restarts a replica that died or hangs, and a database that died.

Checked every INTERVAL seconds:
- a replica whose process exited is restarted on its port, after its whole process group is
  killed (no orphan of the old one may keep serving there);
- a replica that is alive but whose liveness probe (/healthz, no database call) has not answered
  within PROBE_TIMEOUT for FAILURES_TO_RESTART probes in a row is stuck (a deadlock, a frozen
  process): it is killed and restarted the same way. nginx has already routed around it;
- a database that this stack started and that exited is reaped and restarted on the same port
  and data; the replicas reconnect by themselves (pymongo retries server selection);
- with a reloader (make dev, RELOAD=1), a change to the backend's code restarts the replicas one
  by one, each waited for; that is counted in `reloads`, never as a failure in `restarts`.
"""

import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nginx_config import FAILOVER

from ..processes import http_ok, stop, wait_until
from .reload import CodeWatcher
from .stack import LocalStack, Replica

INTERVAL = 1.0
PROBE_TIMEOUT = 1.0
FAILURES_TO_RESTART = 3
# A replica that was just started gets this long to answer its first probe.
STARTUP_GRACE = 30.0
# How long nginx leaves a replica it failed to reach out of its pool (FAILOVER's fail_timeout).
FAIL_TIMEOUT_SECONDS = float(re.search(r"fail_timeout=(\d+)s", FAILOVER).group(1))  # type: ignore[union-attr]


@dataclass
class Supervisor:
    """Watches a started LocalStack and repairs it; `restarts` counts what it did, by reason."""

    stack: LocalStack
    say: Callable[[str], None] = print
    restarts: dict = field(default_factory=dict)
    reloader: CodeWatcher | None = None
    reloads: int = 0  # rolling restarts for changed code (not failures)
    reload_seconds: float = 0.0  # how long the last one took
    _failures: dict = field(default_factory=dict)
    _starting: set = field(default_factory=set)  # restarted here, not answered yet
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """Look at every replica and the database once, restarting what needs it.

        False when nginx exited: then the stack is not serving and the run should end.
        """
        nginx = self.stack.nginx_process
        if nginx is None or nginx.poll() is not None:
            self.say("nginx exited; stopping.")
            return False
        # The database first: every replica needs it, and a replica's probe may take a second.
        database = self.stack.database
        if database is not None and database.process is not None:
            if database.process.poll() is not None:
                self.say(
                    f"database exited with code {database.process.returncode}; restarting it "
                    "on the same data"
                )
                database.restart()
                self._count("database exited")
        if self.reloader is not None and (changed := self.reloader.changed()):
            self._reload(changed)
        for replica in self.stack.backends:
            self._check_replica(replica)
        return True

    def _reload(self, changed: list) -> None:
        """Restart the replicas one at a time on the changed code, each ready (/readyz)
        before the next goes, so nginx always has one; a replica that does not come up
        stops the round and keeps the others on the code they run."""
        names = ", ".join(path.name for path in changed[:3]) + (" ..." if len(changed) > 3 else "")
        self.say(f"backend code changed ({names}): restarting the replicas one by one")
        began = time.monotonic()
        for number, replica in enumerate(self.stack.backends):
            if number:
                # nginx keeps a replica it could not reach out of the pool for fail_timeout
                # after its last failed try, which may come just before it was ready again:
                # the next one goes only once the last is surely back, or none would be left.
                time.sleep(FAIL_TIMEOUT_SECONDS)
            stop(replica.running())  # SIGTERM: the requests it is serving finish first
            self.stack.start_replica(replica)
            self._failures[replica.name] = 0
            try:
                wait_until(
                    functools.partial(
                        http_ok,
                        f"http://127.0.0.1:{replica.port}/readyz",
                        headers=self.stack.replica_headers,
                    ),
                    timeout=STARTUP_GRACE,
                    what=f"replica {replica.name} on the changed code",
                    process=replica.process,
                )
            except (TimeoutError, RuntimeError) as exc:
                self.say(
                    f"reload stopped: {exc} (log: {self.stack.logs / replica.name}.log); "
                    "fix the code and save again"
                )
                self._starting.add(replica.name)
                return
        self.reloads += 1
        self.reload_seconds = time.monotonic() - began
        self.say(
            f"reloaded: {len(self.stack.backends)} replicas run the changed code "
            f"({self.reload_seconds:.1f} s)"
        )

    def _check_replica(self, replica: Replica) -> None:
        """Restart REPLICA if its process exited or its liveness probe keeps failing."""
        if replica.running().poll() is not None:
            self.say(f"replica {replica.name} exited; nginx routes around it. Restarting it.")
            self._restart(replica, "replica exited")
            return
        probe = f"http://127.0.0.1:{replica.port}/healthz"
        if http_ok(probe, timeout=PROBE_TIMEOUT, headers=self.stack.replica_headers):
            self._starting.discard(replica.name)
            self._failures[replica.name] = 0
            return
        if replica.name in self._starting and self.stack.age(replica) < STARTUP_GRACE:
            return  # restarted here and still starting (the stack waited for the first start)
        failures = self._failures.get(replica.name, 0) + 1
        self._failures[replica.name] = failures
        if failures >= FAILURES_TO_RESTART:
            self.say(
                f"replica {replica.name} is stuck: /healthz failed {failures} times in a row; "
                "killing and restarting it"
            )
            self._restart(replica, "replica stuck")

    def _restart(self, replica: Replica, reason: str) -> None:
        """Kill REPLICA's process group and start it again."""
        self.stack.restart_replica(replica)
        self._failures[replica.name] = 0
        self._starting.add(replica.name)
        self._count(reason)

    def _count(self, reason: str) -> None:
        """Count one restart for REASON."""
        self.restarts[reason] = self.restarts.get(reason, 0) + 1

    def run(self, until: threading.Event) -> None:
        """Check every INTERVAL seconds until UNTIL is set."""
        while not until.wait(INTERVAL):
            started = time.monotonic()
            reloads = self.reloads
            try:
                if not self.check_once():
                    return
            except Exception as exc:  # noqa: BLE001 (the supervisor must outlive any one round)
                # e.g. the database died again while it was being restarted: try next round.
                self.say(f"supervisor: a round failed ({exc!r}); trying again")
            # A reload waits for each replica by design: not a slow round.
            if self.reloads == reloads and time.monotonic() - started > 10 * INTERVAL:
                self.say("supervisor: a round of checks took over 10 s")

    def start(self) -> "Supervisor":
        """Run in a background thread (tests); stop() ends it."""
        self._thread = threading.Thread(target=self.run, args=(self._stopping,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the background thread, waiting for its current round."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(60)
