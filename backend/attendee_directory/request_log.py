"""The app's log on stdout: one access line per request, and the package's own messages.

The access line is written here rather than by the WSGI server so that it can carry the
X-Request-ID that nginx sets (granian's access log has no request headers), and so that it is
the same under any server:

    127.0.0.1 "GET /api/whoami HTTP/1.1" 200 236 0.8ms request_id=5f0c... client_request_id=-
    forwarded_for=10.0.0.7

request_id is the X-Request-ID that nginx generates for every request; client_request_id is
the id a client sent itself, which nginx passes beside it as X-Client-Request-ID (never in its
place, so no client chooses the id that the audit trail and the logs file a request under).
Every record the package logs while a request runs (a warning, a traceback) carries the same
two ids: the request path puts them in context variables (RequestIds), and a logging filter
(RequestIdFilter) copies them onto each record; nothing passes them by hand.

LOG_FORMAT=json writes every line as one JSON object instead, the access line's fields as keys
(request_id among them, the same X-Request-ID as nginx's json line), for log collectors.

The package's own messages (a few, warnings mostly) are logging records: the request thread
formats and queues them (QueueHandler) and one listener thread writes them (QueueListener). The
access line, one per request, is not a record: a LogRecord (a stack walk to find the caller,
the pid, the thread's and the process's names) and the formatter's timestamp cost as much as
Flask's own work per request. It is built as a string in the request thread and queued, and a
writer thread (background.every) writes the queued lines in one call every
WRITE_EVERY_SECONDS, and once more at exit; a replica killed outright loses at most that long
of lines. Both paths give the same line shape, field for field.
"""

import atexit
import contextvars
import json
import logging
import queue
import re
import string
import sys
import threading
import time
from collections.abc import Callable
from logging.handlers import QueueHandler, QueueListener
from typing import TextIO
from urllib.parse import quote

from flask import Flask, request

from . import background

PACKAGE_LOGGER = "attendee_directory"
ACCESS_LOGGER = f"{PACKAGE_LOGGER}.access"
TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s: %(message)s "
    "request_id=%(request_id)s client_request_id=%(client_request_id)s"
)
WRITE_EVERY_SECONDS = 0.1

# Everything a URL or a header may hold that cannot break a log line (no spaces, quotes or
# control characters): the rest is %-escaped.
_SAFE = "/:@!$&'()*+,;=-._~?%"
_SAFE_CHARACTERS = frozenset(string.ascii_letters + string.digits + _SAFE)


# The ids of the request this thread is serving ("-" outside a request: start-up, the CLI).
_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_CLIENT_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar(
    "client_request_id", default="-"
)


class RequestIds:
    """The current request's ids, set by the request path for as long as the request runs."""

    @staticmethod
    def begin(environ: dict) -> tuple[contextvars.Token, contextvars.Token]:
        """Make ENVIRON's X-Request-ID and X-Client-Request-ID (escaped) the current ids."""
        return (
            _REQUEST_ID.set(clean(environ.get("HTTP_X_REQUEST_ID"))),
            _CLIENT_REQUEST_ID.set(clean(environ.get("HTTP_X_CLIENT_REQUEST_ID"))),
        )

    @staticmethod
    def end(tokens: tuple[contextvars.Token, contextvars.Token]) -> None:
        """Forget the ids begin() set, so that a pooled thread's next record is not tied to them."""
        _REQUEST_ID.reset(tokens[0])
        _CLIENT_REQUEST_ID.reset(tokens[1])

    @staticmethod
    def current() -> tuple[str, str]:
        """(request_id, client_request_id) of the request being served; "-" for none."""
        return _REQUEST_ID.get(), _CLIENT_REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Puts the current request's ids on every record (a handler's filter: it sees the records
    of every logger below the package's, which a logger's filter would not)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add request_id and client_request_id to RECORD; never drops one."""
        record.request_id, record.client_request_id = RequestIds.current()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger and message (json_line gives an access
    line the same keys, and its fields)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (json.dumps escapes anything that could break it)."""
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "client_request_id": getattr(record, "client_request_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send the package's records to stdout, once per process (tests create many apps).

    The thread that logs only formats its record and queues it (QueueHandler); one listener
    thread writes them (QueueListener), so no request thread waits on a write or on the
    stream's lock. A process that exits normally writes what is queued first. (Access lines
    take their own path: AccessLines.)
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    package.setLevel(level.upper())
    if any(isinstance(handler, QueueHandler) for handler in package.handlers):
        return
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    # The queue handler formats (in the request thread, as the record is made); the listener's
    # handler writes the formatted message as it is.
    queued = QueueHandler(lines)
    queued.addFilter(RequestIdFilter())
    if log_format == "json":
        queued.setFormatter(JsonFormatter())
    else:
        queued.setFormatter(logging.Formatter(TEXT_FORMAT))
    listener = QueueListener(lines, logging.StreamHandler(sys.stdout))
    listener.start()
    atexit.register(listener.stop)
    package.addHandler(queued)


def clean(value: str | None) -> str:
    """A value as one log token: '-' when absent, escaped so it cannot forge a log line."""
    if not value:
        return "-"
    value = value[:256]
    if _SAFE_CHARACTERS.issuperset(value):  # the usual case: no pattern to run
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


class AccessLines:
    """This process's access lines: queued by the request threads, written in batches.

    One per process (tests create many apps); the writer thread starts with the first line.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._writing = False
        self._second = -1  # the second that _stamp holds the text of
        self._stamp = ""

    def add(self, line: str) -> None:
        """Queue one line; it is written within WRITE_EVERY_SECONDS."""
        self._lines.put(line)
        if not self._writing:
            with self._start:
                if not self._writing:
                    background.every(WRITE_EVERY_SECONDS, self.write_pending, name="access-log")
                    self._writing = True

    def write_pending(self) -> None:
        """Write every queued line now, in one call."""
        lines = []
        try:
            while True:
                lines.append(self._lines.get_nowait())
        except queue.Empty:
            pass
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def timestamp(self, now: float) -> str:
        """NOW as logging's default asctime (2026-12-03 06:18:56,697): the date and time are
        formatted once a second, the milliseconds every time."""
        second = int(now)
        if second != self._second:
            # Two threads may both format a new second: each writes the same text.
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return f"{self._stamp},{int((now - second) * 1000):03d}"


ACCESS_LINES = AccessLines(sys.stdout)


def _access_fields(environ: dict, status: int, length: str, took_ms: float) -> dict:
    """The access line's fields, from the WSGI environ and the answer's status line."""
    target = environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        target = f"{target}?{environ['QUERY_STRING']}"
    return {
        "remote_addr": environ.get("REMOTE_ADDR") or "-",
        "method": clean(environ.get("REQUEST_METHOD")),
        "target": clean(target),
        "protocol": environ.get("SERVER_PROTOCOL", "-"),
        "status": status,
        "bytes": int(length) if length.isdigit() else "-",
        "duration_ms": round(took_ms, 1),
        "request_id": clean(environ.get("HTTP_X_REQUEST_ID")),
        "client_request_id": clean(environ.get("HTTP_X_CLIENT_REQUEST_ID")),
        "forwarded_for": clean(environ.get("HTTP_X_FORWARDED_FOR")),
    }


def access_message(fields: dict) -> str:
    """The access line's text: what follows the logger's name in the text format."""
    return (
        f'{fields["remote_addr"]} "{fields["method"]} {fields["target"]} {fields["protocol"]}" '
        f"{fields['status']} {fields['bytes']} {fields['duration_ms']:.1f}ms "
        f"request_id={fields['request_id']} client_request_id={fields['client_request_id']} "
        f"forwarded_for={fields['forwarded_for']}"
    )


def text_line(fields: dict) -> str:
    """The access line in the text format, as the package's formatter writes its records."""
    stamp = ACCESS_LINES.timestamp(time.time())
    return f"{stamp} INFO {ACCESS_LOGGER}: {access_message(fields)}"


def json_line(fields: dict) -> str:
    """The access line as one JSON object, with the keys JsonFormatter gives a record."""
    line = {
        "time": ACCESS_LINES.timestamp(time.time()),
        "level": "INFO",
        "logger": ACCESS_LOGGER,
        "message": access_message(fields),
        **fields,
    }
    return json.dumps(line, ensure_ascii=False)


class AccessLog:
    """Writes a request's access line (text or JSON), for the request path."""

    def __init__(self, line: Callable[[dict], str]) -> None:
        self.line = line

    def write(self, environ: dict, status: int, length: str, took_ms: float) -> None:
        """Queue the access line of one answered request (LENGTH: its Content-Length, or "")."""
        ACCESS_LINES.add(self.line(_access_fields(environ, status, length, took_ms)))


def init_app(app: Flask) -> None:
    """Configure the log and, unless ACCESS_LOG is off (or the level is above info), give the
    request path its access log."""
    settings = app.config["SETTINGS"]
    configure_logging(settings.log_level, settings.log_format)
    if settings.access_log and logging.getLevelName(settings.log_level.upper()) <= logging.INFO:
        line = json_line if settings.log_format == "json" else text_line
        app.extensions["access_log"] = AccessLog(line)
