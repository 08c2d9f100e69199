"""Health probes and database outages: 503 while MongoDB is down, recovery without restart."""

import logging
import time

import pytest

from attendee_directory.config import Settings
from devtools.local_stack.mongo_server import start_mongo
from tests.backend.signed_in import build_app


def test_healthz_needs_no_database(make_app):
    """/healthz answers 200 even when the database URI points at nothing."""
    app = make_app(mongo_uri="mongodb://127.0.0.1:9/", mongo_timeout_ms=200)
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_readyz_pings_the_database(client):
    """/readyz is 200 and says only that it is ready when MongoDB answers."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readyz_says_only_not_ready_and_logs_the_reason(make_app, caplog):
    """The public 503 names no address and no driver text; the log line has the reason."""
    app = make_app(mongo_uri="mongodb://127.0.0.1:9/", mongo_timeout_ms=100)
    caplog.set_level(logging.WARNING, logger="attendee_directory")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"error": "database_unavailable", "message": "not ready"}
    assert response.headers["Retry-After"] == "1"
    reasons = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not ready:")]
    assert reasons and "127.0.0.1:9" in reasons[0], [r.getMessage() for r in caplog.records]


@pytest.fixture
def own_server(tmp_path):
    """A database server of this test's own, so that it can be stopped."""
    server = start_mongo(tmp_path / "db")
    yield server
    server.stop()


def test_outage_gives_503_then_recovers_without_restart(own_server, attendee_body):
    """Stop the database: JSON 503s and no crash; start it again: the same app serves again."""
    app = build_app(
        Settings(
            mongo_uri=own_server.uri,
            replica_name="outage",
            seed_on_start=False,
            mongo_timeout_ms=500,
            stats_flush_seconds=0,
        )
    )
    client = app.test_client()
    created = client.post("/api/attendees", json=attendee_body())
    assert created.status_code == 201
    path = created.headers["Location"]

    own_server.stop()
    for method, url, body in (
        ("GET", "/api/attendees", None),
        ("GET", path, None),
        ("POST", "/api/attendees", attendee_body(email="new@example.edu")),
        ("GET", "/readyz", None),
    ):
        response = client.open(url, method=method, json=body)
        assert response.status_code == 503, (url, response.data)
        assert response.get_json()["error"] == "database_unavailable"
        assert response.headers["Retry-After"] == "1"
    assert client.get("/healthz").status_code == 200

    own_server.restart()
    deadline = time.monotonic() + 15
    while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get(path).status_code == 200
    assert client.get("/api/attendees").get_json()["total"] == 1
    app.extensions["mongo"].close()
