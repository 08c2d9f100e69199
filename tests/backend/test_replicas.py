"""Replica identity: the header on every response, /api/whoami and /api/replicas."""

import os
import socket
import time

from attendee_directory import __version__
from attendee_directory.collection_names import REPLICAS
from attendee_directory.db import get_db
from attendee_directory.replicas import replica_counter
from attendee_directory.schemas import ReplicaSplit, WhoAmI


def test_every_response_names_the_replica(client):
    """Successes and errors alike carry X-Served-By."""
    for path in ("/healthz", "/api/attendees", "/api/attendees/nope", "/api/whoami"):
        assert client.get(path).headers["X-Served-By"] == "test-replica"


def test_whoami_describes_this_replica(client):
    """whoami gives the name, hostname, addresses, pid, version, start time and a rising count."""
    first = client.get("/api/whoami").get_json()
    WhoAmI.model_validate(first)
    assert first["replica"] == "test-replica"
    assert first["hostname"] == socket.gethostname()
    assert first["pid"] == os.getpid()
    assert first["version"] == __version__
    second = client.get("/api/whoami").get_json()
    assert second["requests_served"] == first["requests_served"] + 1


def test_replicas_reports_the_split_kept_in_mongodb(make_app):
    """Two replicas on one database: /api/replicas counts each one's requests."""
    one = make_app(replica_name="replica-one").test_client()
    two = make_app(replica_name="replica-two").test_client()
    for _ in range(3):
        one.get("/api/whoami")
    for _ in range(5):
        two.get("/api/whoami")
    split = one.get("/api/replicas").get_json()
    ReplicaSplit.model_validate(split)
    counts = {r["replica"]: r["requests"] for r in split["replicas"]}
    # The /api/replicas request itself is counted after it is answered.
    assert counts == {"replica-one": 3, "replica-two": 5}
    assert split["total"] == 8
    assert [r["replica"] for r in split["replicas"]] == ["replica-two", "replica-one"]
    assert abs(sum(r["share"] for r in split["replicas"]) - 1) < 1e-3


def _stored_count(app, replica: str) -> int | None:
    """The request count that MongoDB holds for REPLICA, or None if it has none."""
    with app.app_context():
        doc = get_db()[REPLICAS].find_one({"_id": replica})
    return None if doc is None else doc["requests"]


def test_counts_wait_in_memory_until_flushed(make_app):
    """With a long flush interval, requests write nothing until the count is flushed."""
    app = make_app(replica_name="batched", stats_flush_seconds=3600)
    client = app.test_client()
    for _ in range(4):
        client.get("/healthz")
    assert _stored_count(app, "batched") is None
    with app.app_context():
        replica_counter().flush()
    assert _stored_count(app, "batched") == 4


def test_background_writer_saves_counts_without_more_requests(make_app):
    """With a short interval, the writer thread stores the count though no request follows."""
    app = make_app(replica_name="writer", stats_flush_seconds=0.2)
    client = app.test_client()
    for _ in range(3):
        client.get("/healthz")
    deadline = time.monotonic() + 5
    while _stored_count(app, "writer") != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_count(app, "writer") == 3
