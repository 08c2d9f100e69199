"""LOG_FORMAT=json: a real replica writes one JSON object per line, with the X-Request-ID."""

import json
import signal
import urllib.request

import pytest

from attendee_directory.config import ConfigError, Settings
from tests.backend.granian_replica import start_replica


def test_an_unknown_log_format_is_refused(monkeypatch):
    """LOG_FORMAT names text or json; anything else stops the start with a message."""
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:1/")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env()


def test_json_access_lines_carry_the_request_id(settings, tmp_path):
    """Each access line parses as JSON; the one for our request has its id, route and status."""
    log = tmp_path / "replica.log"
    replica = start_replica(settings.mongo_uri, settings.mongo_db, log, LOG_FORMAT="json")
    process, base = replica.process, replica.url
    request_id = "c0ffee00c0ffee00c0ffee00c0ffee00"
    try:
        call = urllib.request.Request(  # noqa: S310
            f"{base}/api/whoami?x=%22quoted%22", headers={"X-Request-ID": request_id}
        )
        with urllib.request.urlopen(call, timeout=5) as response:  # noqa: S310
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    lines = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{")  # granian's own lines are its format, not the app's
    ]
    access = [line for line in lines if line["logger"] == "attendee_directory.access"]
    assert access, log.read_text()
    (ours,) = [line for line in access if line["request_id"] == request_id]
    assert (ours["method"], ours["status"], ours["level"]) == ("GET", 200, "INFO")
    assert ours["target"].startswith("/api/whoami?x=")
    assert ours["duration_ms"] >= 0
