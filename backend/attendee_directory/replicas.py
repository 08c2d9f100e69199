"""Replica identity for the load-balancing demo: who answered, and how requests were split."""

import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify
from pymongo.errors import PyMongoError

from .db import REPLICAS, get_db

log = logging.getLogger(__name__)
bp = Blueprint("replicas", __name__, url_prefix="/api")

SERVED_BY_HEADER = "X-Served-By"
RETRY_AFTER_FAILURE_SECONDS = 5.0


def local_addresses(hostname: str) -> list[str]:
    """The addresses this host's name resolves to (a container's own IP inside Docker)."""
    try:
        _, _, addresses = socket.gethostbyname_ex(hostname)
    except OSError:
        return []
    return sorted(set(addresses))


class ReplicaCounter:
    """Counts this process's requests and adds them to the replica's total in MongoDB.

    The total is kept with an atomic $inc of the requests counted since the last write,
    at most once per STATS_FLUSH_SECONDS, so that counting never doubles the database load.
    """

    def __init__(self, replica: str, flush_seconds: float):
        self.replica = replica
        self.hostname = socket.gethostname()
        self.addresses = local_addresses(self.hostname)
        self.started_at = datetime.now(UTC)
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.served = 0
        self._pending = 0
        self._last_flush = float("-inf")  # the first request flushes at once

    def count(self) -> None:
        """Count one request, and flush the pending count when it is due."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child starts its own count
                self._pid, self.served, self._pending = os.getpid(), 0, 0
            self.served += 1
            self._pending += 1
            due = time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the pending count to this replica's document; keep it for later if that fails."""
        with self._lock:
            pending, self._pending = self._pending, 0
            self._last_flush = time.monotonic()
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
                # Back off, so that an outage does not add a server-selection wait to every request.
                self._last_flush = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            log.warning("replica count not saved, will retry: %s", exc)


def replica_counter() -> ReplicaCounter:
    """Return the current application's replica counter."""
    return current_app.extensions["replica_counter"]


def _stamp(response: Response) -> Response:
    """Name the replica on every response, and count the request."""
    counter = replica_counter()
    response.headers[SERVED_BY_HEADER] = counter.replica
    counter.count()
    return response


@bp.get("/whoami")
def whoami() -> Response:
    """Which replica answered: name, hostname, addresses, pid, version, start, requests served."""
    from . import __version__

    counter = replica_counter()
    return jsonify(
        replica=counter.replica,
        hostname=counter.hostname,
        addresses=counter.addresses,
        pid=os.getpid(),
        version=__version__,
        started_at=counter.started_at.isoformat().replace("+00:00", "Z"),
        requests_served=counter.served + 1,  # this request is counted after it is answered
    )


@bp.get("/replicas")
def replicas() -> Response:
    """How the counted requests were split across the replicas, busiest first."""
    replica_counter().flush()
    docs = list(get_db()[REPLICAS].find().sort([("requests", -1), ("_id", 1)]))
    total = sum(doc.get("requests", 0) for doc in docs)
    return jsonify(
        total=total,
        replicas=[
            {
                "replica": doc["_id"],
                "hostname": doc.get("hostname", ""),
                "addresses": doc.get("addresses", []),
                "requests": doc.get("requests", 0),
                "share": round(doc.get("requests", 0) / total, 4) if total else 0.0,
                "last_seen": doc["last_seen"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            }
            for doc in docs
        ],
    )


def init_app(app: Flask) -> None:
    """Create the replica counter and stamp every response with the replica's name."""
    settings = app.config["SETTINGS"]
    app.extensions["replica_counter"] = ReplicaCounter(
        settings.replica_name, settings.stats_flush_seconds
    )
    app.after_request(_stamp)
