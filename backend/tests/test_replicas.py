"""Replica identity: the header on every response, /api/whoami and /api/replicas."""

import os
import socket

from attendee_directory import __version__
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


def test_counts_are_batched_but_never_lost(make_app):
    """With a flush interval, counts wait in memory and arrive in one $inc when due."""
    app = make_app(replica_name="batched", stats_flush_seconds=3600)
    client = app.test_client()
    for _ in range(4):
        client.get("/healthz")  # the first request flushes (nothing was flushed before)
    with app.app_context():
        from attendee_directory.db import REPLICAS, get_db
        from attendee_directory.replicas import replica_counter

        assert get_db()[REPLICAS].find_one({"_id": "batched"})["requests"] == 1
        replica_counter().flush()
        assert get_db()[REPLICAS].find_one({"_id": "batched"})["requests"] == 4
