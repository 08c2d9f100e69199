"""The app's log on stdout: one access line per request, and the package's own messages.

The access line is written here rather than by the WSGI server so that it can carry the
X-Request-ID that nginx sets (granian's access log has no request headers), and so that it is
the same under any server:

    127.0.0.1 "GET /api/whoami HTTP/1.1" 200 236 0.8ms request_id=5f0c... forwarded_for=10.0.0.7
"""

import logging
import sys
import time
from urllib.parse import quote

from flask import Flask, Response, g, request

PACKAGE_LOGGER = "attendee_directory"
access_log = logging.getLogger(f"{PACKAGE_LOGGER}.access")

# Everything a URL or a header may hold that cannot break a log line (no spaces, quotes or
# control characters): the rest is %-escaped.
_SAFE = "/:@!$&'()*+,;=-._~?%"


def configure_logging(level: str) -> None:
    """Send the package's log to stdout, once per process (tests create many apps)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    package.setLevel(level.upper())
    if not any(getattr(handler, "is_stdout_log", False) for handler in package.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.is_stdout_log = True
        package.addHandler(handler)


def _clean(value: str | None) -> str:
    """A value as one log token: '-' when absent, escaped so it cannot forge a log line."""
    return quote(value[:256], safe=_SAFE) if value else "-"


def _start_clock() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    """Write the request's access line."""
    took_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    query = request.query_string.decode("latin-1")
    target = f"{request.path}?{query}" if query else request.path
    access_log.info(
        '%s "%s %s %s" %s %s %.1fms request_id=%s forwarded_for=%s',
        request.remote_addr or "-",
        request.method,
        _clean(target),
        request.environ.get("SERVER_PROTOCOL", "-"),
        response.status_code,
        response.content_length if response.content_length is not None else "-",
        took_ms,
        _clean(request.headers.get("X-Request-ID")),
        _clean(request.headers.get("X-Forwarded-For")),
    )
    return response


def init_app(app: Flask) -> None:
    """Configure the log and, unless ACCESS_LOG is off, write an access line per request."""
    settings = app.config["SETTINGS"]
    configure_logging(settings.log_level)
    if settings.access_log:
        app.before_request(_start_clock)
        app.after_request(_log_request)
