"""The app's log on stdout: one access line per request, and the package's own messages.

The access line is written here rather than by the WSGI server so that it can carry the
X-Request-ID that nginx sets (granian's access log has no request headers), and so that it is
the same under any server:

    127.0.0.1 "GET /api/whoami HTTP/1.1" 200 236 0.8ms request_id=5f0c... forwarded_for=10.0.0.7

LOG_FORMAT=json writes every line as one JSON object instead, the access line's fields as keys
(request_id among them, the same X-Request-ID as nginx's json line), for log collectors.
"""

import atexit
import json
import logging
import queue
import re
import sys
import time
from logging.handlers import QueueHandler, QueueListener
from urllib.parse import quote

from flask import Flask, Response, request

PACKAGE_LOGGER = "attendee_directory"
access_log = logging.getLogger(f"{PACKAGE_LOGGER}.access")

# Everything a URL or a header may hold that cannot break a log line (no spaces, quotes or
# control characters): the rest is %-escaped.
_SAFE = "/:@!$&'()*+,;=-._~?%"
_UNSAFE = re.compile(f"[^A-Za-z0-9{re.escape(_SAFE)}]")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and an access line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (json.dumps escapes anything that could break it)."""
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "access", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send the package's log to stdout, once per process (tests create many apps).

    A request thread only formats its line and queues it (QueueHandler); one listener thread
    writes the lines (QueueListener), so no request thread waits on a write or on the stream's
    lock. With a plain StreamHandler (a lock and a write per line from every request thread)
    one replica answered /api/whoami about 3x slower with its access log on than off. A
    process that exits normally writes what is queued first.
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    package.setLevel(level.upper())
    if any(isinstance(handler, QueueHandler) for handler in package.handlers):
        return
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    # The queue handler formats (in the request thread, as the record is made); the listener's
    # handler writes the formatted message as it is.
    queued = QueueHandler(lines)
    if log_format == "json":
        queued.setFormatter(JsonFormatter())
    else:
        queued.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    listener = QueueListener(lines, logging.StreamHandler(sys.stdout))
    listener.start()
    atexit.register(listener.stop)
    package.addHandler(queued)


def clean(value: str | None) -> str:
    """A value as one log token: '-' when absent, escaped so it cannot forge a log line."""
    if not value:
        return "-"
    value = value[:256]
    if not _UNSAFE.search(value):
        return value
    # WSGI strings carry the raw bytes as latin-1 (PEP 3333): escape the bytes that were sent.
    return quote(value.encode("latin-1", "backslashreplace"), safe=_SAFE)


# Characters that end or fake a line in a log viewer: C0 and C1 controls, line and paragraph
# separators.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Free text (an exception's message) as part of one log line: line breakers escaped."""
    return _LINE_BREAKING.sub(lambda match: f"\\x{{{ord(match.group()):x}}}", text)


def request_target() -> str:
    """The current request's method and path, escaped for a log line (both come from the client)."""
    environ = request.environ
    return f"{clean(environ.get('REQUEST_METHOD'))} {clean(environ.get('PATH_INFO'))}"


_STARTED = "attendee_directory.started"


def _start_clock() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _log_request(response: Response) -> Response:
    """Write the request's access line, from the WSGI environ (the fastest place to read)."""
    environ = request.environ
    took_ms = (time.perf_counter() - environ.get(_STARTED, time.perf_counter())) * 1000
    target = environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        target = f"{target}?{environ['QUERY_STRING']}"
    length = response.content_length
    fields = {
        "remote_addr": environ.get("REMOTE_ADDR") or "-",
        "method": clean(environ.get("REQUEST_METHOD")),
        "target": clean(target),
        "protocol": environ.get("SERVER_PROTOCOL", "-"),
        "status": response.status_code,
        "bytes": "-" if length is None else length,
        "duration_ms": round(took_ms, 1),
        "request_id": clean(environ.get("HTTP_X_REQUEST_ID")),
        "forwarded_for": clean(environ.get("HTTP_X_FORWARDED_FOR")),
    }
    access_log.info(
        '%s "%s %s %s" %s %s %.1fms request_id=%s forwarded_for=%s',
        fields["remote_addr"],
        fields["method"],
        fields["target"],
        fields["protocol"],
        fields["status"],
        fields["bytes"],
        took_ms,
        fields["request_id"],
        fields["forwarded_for"],
        extra={"access": fields},
    )
    return response


def init_app(app: Flask) -> None:
    """Configure the log and, unless ACCESS_LOG is off, write an access line per request."""
    settings = app.config["SETTINGS"]
    configure_logging(settings.log_level, settings.log_format)
    if settings.access_log:
        app.before_request(_start_clock)
        app.after_request(_log_request)
