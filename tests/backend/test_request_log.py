"""The app writes one access line per request, with the request id nginx sets, unforgeable."""

import io
import json
import logging

import pytest

from attendee_directory import request_log
from attendee_directory.request_log import ACCESS_LINES, ACCESS_LOGGER


@pytest.fixture
def written(monkeypatch):
    """What the process's access log writes from now on: a function that flushes the queued
    lines and returns every line written since."""
    ACCESS_LINES.write_pending()  # earlier tests' lines go where they were bound
    stream = io.StringIO()
    monkeypatch.setattr(ACCESS_LINES, "stream", stream)

    def lines() -> list[str]:
        ACCESS_LINES.write_pending()
        return stream.getvalue().splitlines()

    return lines


def access_lines(read) -> list[str]:
    """The messages of the access lines written so far (what follows the logger's name)."""
    return [line.split(f" INFO {ACCESS_LOGGER}: ", 1)[1] for line in read()]


def test_access_line_names_request_status_and_ids(client, written):
    """Method, path with query, status, size, request id and forwarded address are logged."""
    response = client.get(
        "/api/attendees?per_page=3",
        headers={"X-Request-ID": "req-42", "X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.status_code == 200
    [line] = access_lines(written)
    assert line.startswith('127.0.0.1 "GET /api/attendees?per_page=3 HTTP/1.1" 200 ')
    assert f" {len(response.data)} " in line
    assert line.endswith("request_id=req-42 client_request_id=- forwarded_for=203.0.113.9")


def test_errors_are_logged_with_their_status(client, written):
    """A 404 is logged like any other answer, and absent headers show as '-'."""
    assert client.get("/api/attendees/not-an-id").status_code == 404
    [line] = access_lines(written)
    assert '"GET /api/attendees/not-an-id HTTP/1.1" 404 ' in line
    assert line.endswith("request_id=- client_request_id=- forwarded_for=-")


@pytest.mark.parametrize("hostile", ['x" 200 0 request_id=forged', "a\nFAKE LINE", "b c"])
def test_header_values_cannot_forge_a_log_line(client, written, hostile):
    """Spaces, quotes and newlines from a client are escaped, so one request is one line."""
    client.get("/api/whoami", headers={"X-Request-ID": hostile.replace("\n", "%0A")})
    client.get("/api/attendees/%0AFAKE%20LINE")
    for line in access_lines(written):
        assert "\n" not in line
        assert line.count('"') == 2
        tokens = line.split(" ")
        assert [t for t in tokens if t.startswith("request_id=")] == [tokens[-3]]


def test_access_log_can_be_turned_off(make_app, written):
    """ACCESS_LOG=false: no access line at all."""
    quiet = make_app(access_log=False)
    assert quiet.test_client().get("/api/whoami").status_code == 200
    assert access_lines(written) == []


FORGED = "zz%0a2026-01-01%2000:00:00,000%20CRITICAL%20x:%20FORGED"  # %0a: a newline


def test_no_log_line_of_any_logger_can_be_forged(make_app, caplog):
    """With the database unreachable, the outage warning names the path: escaped, like every
    other line that carries what a client sent, so each record is one line."""
    app = make_app(mongo_uri="mongodb://127.0.0.1:9/", mongo_timeout_ms=100)
    caplog.set_level(logging.INFO, logger="attendee_directory")
    # A well-formed token is looked up in the database first: the outage is met there.
    token = {"Authorization": "Bearer vdt_" + "a" * 43}
    response = app.test_client().get(f"/api/attendees/{FORGED}", headers=token)
    assert response.status_code == 503
    messages = [record.getMessage() for record in caplog.records]
    warnings = [m for m in messages if m.startswith("database unavailable on")]
    assert warnings, messages
    assert "%0A2026-01-01" in warnings[0]
    for message in messages:
        assert "\n" not in message and "\r" not in message, message


def test_json_access_lines_have_the_records_keys_and_the_fields(make_app, written):
    """LOG_FORMAT=json: one object per line, with time, level, logger, message (the text
    line) and every field of the access line."""
    app = make_app(log_format="json")
    app.test_client().get("/api/whoami?x=1", headers={"X-Request-ID": "json-1"})
    [line] = [json.loads(text) for text in written()]
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert (line["level"], line["logger"]) == ("INFO", ACCESS_LOGGER)
    assert (line["method"], line["target"], line["status"]) == ("GET", "/api/whoami?x=1", 200)
    assert line["request_id"] == "json-1" and line["forwarded_for"] == "-"
    assert line["message"].endswith("request_id=json-1 client_request_id=- forwarded_for=-")


def test_a_traceback_and_a_warning_carry_the_ids_of_their_request(make_app, caplog):
    """Records logged while a request runs (the traceback of an unexpected error, the
    database-down warning) get its request_id and client_request_id from the request's context,
    in the text and the JSON format alike; a record outside any request gets "-"."""
    app = make_app(mongo_uri="mongodb://127.0.0.1:9/", mongo_timeout_ms=100)

    def boom():
        raise RuntimeError("unexpected")

    app.add_url_rule("/boom", view_func=boom)
    caplog.set_level(logging.INFO, logger="attendee_directory")
    ids = {"X-Request-ID": "nginx-1", "X-Client-Request-ID": "mine-1"}
    assert app.test_client().get("/boom", headers=ids).status_code == 500
    token = {"Authorization": "Bearer vdt_" + "a" * 43, "X-Request-ID": "nginx-2"}
    assert app.test_client().get("/api/attendees", headers=token).status_code == 503
    logging.getLogger("attendee_directory.test").warning("outside any request")
    records = {record.getMessage().split(" on ")[0]: record for record in caplog.records}
    traceback = records["unhandled error"]
    warning = records["database unavailable"]
    outside = records["outside any request"]
    assert (traceback.request_id, traceback.client_request_id) == ("nginx-1", "mine-1")
    assert (warning.request_id, warning.client_request_id) == ("nginx-2", "-")
    assert (outside.request_id, outside.client_request_id) == ("-", "-")
    text = logging.Formatter(request_log.TEXT_FORMAT).format(traceback)
    assert text.splitlines()[0].endswith("request_id=nginx-1 client_request_id=mine-1")
    line = json.loads(request_log.JsonFormatter().format(traceback))
    assert (line["request_id"], line["client_request_id"]) == ("nginx-1", "mine-1")
    assert "RuntimeError: unexpected" in line["exception"]
