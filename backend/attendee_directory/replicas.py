"""Replica identity for the load-balancing demo: who answered, and how requests were split."""

import logging
import os
import socket
import threading
import weakref
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify
from pymongo.errors import PyMongoError

from . import background
from ._version import __version__
from .collection_names import REPLICAS
from .db import get_db
from .schemas import ReplicaSplit, ReplicaStats, WhoAmI

log = logging.getLogger(__name__)
bp = Blueprint("replicas", __name__, url_prefix="/api")

SERVED_BY_HEADER = "X-Served-By"


def local_addresses(hostname: str) -> list[str]:
    """The addresses this host's name resolves to (a container's own IP inside Docker)."""
    try:
        _, _, addresses = socket.gethostbyname_ex(hostname)
    except OSError:
        return []
    return sorted(set(addresses))


class ReplicaCounter:
    """Counts this process's requests and adds them to the replica's total in MongoDB.

    The total is kept with an atomic $inc of the requests counted since the last write. A
    background thread writes every STATS_FLUSH_SECONDS, so counting never doubles the database
    load, never delays a request (even while the database is down), and the total lags by at
    most that long. With STATS_FLUSH_SECONDS=0 every request writes its own count.
    """

    def __init__(self, app: Flask, replica: str, flush_seconds: float):
        self.app = app  # the writer thread and exit hooks need its context to reach the database
        self.replica = replica
        self.hostname = socket.gethostname()
        self.addresses = local_addresses(self.hostname)
        self.started_at = datetime.now(UTC)
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._writing = False  # the background writer of this process has been started
        self.served = 0
        self._pending = 0
        self._whoami_head: bytes | None = None  # this process's /api/whoami, all but the count
        _COUNTERS.add(self)

    def forked(self) -> None:
        """In a forked child: its own count, writer and identity (another pid)."""
        self._lock = threading.Lock()
        self.served, self._pending, self._writing, self._whoami_head = 0, 0, False, None

    def whoami(self) -> bytes:
        """The /api/whoami body: the identity, validated and serialised once per process, then
        the count of requests served (this one included: it is counted once answered)."""
        if self._whoami_head is None:
            identity = WhoAmI(
                replica=self.replica,
                hostname=self.hostname,
                addresses=self.addresses,
                pid=os.getpid(),
                version=__version__,
                started_at=self.started_at,
                requests_served=0,
            )
            body = self.app.json.dumps(identity.model_dump(mode="json"))
            # requests_served is the model's last field: everything before its value is fixed.
            self._whoami_head = body[: body.rindex(":") + 1].encode()
        return self._whoami_head + b"%d}" % (self.served + 1)

    def count(self) -> None:
        """Count one request; write it now, or make sure the background writer runs."""
        with self._lock:
            self.served += 1
            self._pending += 1
            start_writer = self.flush_seconds > 0 and not self._writing
            if start_writer:
                self._writing = True
        if self.flush_seconds == 0:
            self._flush_in_context()  # the request path counts outside Flask's contexts
        elif start_writer:
            background.every(self.flush_seconds, self._flush_in_context, name="replica-count")

    def _flush_in_context(self) -> None:
        """Flush inside the app's context (the writer thread and exit hook have none)."""
        with self.app.app_context():
            self.flush()

    def flush(self) -> None:
        """Add the pending count to this replica's document; keep it for later if that fails."""
        with self._lock:
            pending, self._pending = self._pending, 0
        if not pending:
            return
        try:
            get_db()[REPLICAS].update_one(
                {"_id": self.replica},
                {
                    "$inc": {"requests": pending},
                    "$set": {"hostname": self.hostname, "addresses": self.addresses},
                    "$currentDate": {"last_seen": True},
                },
                upsert=True,
            )
        except PyMongoError as exc:
            with self._lock:
                self._pending += pending
            log.warning("replica count not saved, will retry: %s", exc)


_COUNTERS: "weakref.WeakSet[ReplicaCounter]" = weakref.WeakSet()


def _after_fork() -> None:
    """A forked child starts its own counts (granian spawns its workers; a fork is rare)."""
    for counter in list(_COUNTERS):
        counter.forked()


os.register_at_fork(after_in_child=_after_fork)


def replica_counter() -> ReplicaCounter:
    """Return the current application's replica counter."""
    return current_app.extensions["replica_counter"]


@bp.get("/whoami")
def whoami() -> Response:
    """Which replica answered: name, hostname, addresses, pid, version, start, requests served."""
    return Response(replica_counter().whoami(), mimetype="application/json")


@bp.get("/replicas")
def replicas() -> Response:
    """How the counted requests were split across the replicas, busiest first."""
    replica_counter().flush()
    docs = list(get_db()[REPLICAS].find().sort([("requests", -1), ("_id", 1)]))
    total = sum(doc.get("requests", 0) for doc in docs)
    split = ReplicaSplit(
        total=total,
        replicas=[
            ReplicaStats(
                replica=doc["_id"],
                hostname=doc.get("hostname", ""),
                addresses=doc.get("addresses", []),
                requests=doc.get("requests", 0),
                share=round(doc.get("requests", 0) / total, 4) if total else 0.0,
                last_seen=doc["last_seen"].astimezone(UTC),
            )
            for doc in docs
        ],
    )
    return jsonify(split.model_dump(mode="json"))


def init_app(app: Flask) -> None:
    """Create the replica counter; the request path names the replica on every response
    (SERVED_BY_HEADER) and counts the request."""
    settings = app.config["SETTINGS"]
    app.extensions["replica_counter"] = ReplicaCounter(
        app, settings.replica_name, settings.stats_flush_seconds
    )
