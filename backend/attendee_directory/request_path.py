"""The app's own work on every request, in one WSGI wrapper around Flask.

Every answer names the replica (X-Served-By) and is counted for /api/replicas; with METRICS on
it is timed and counted for Prometheus (and /metrics is served here); with ACCESS_LOG on it gets
its access line. One wrapper does all of it, reading the environ, the status line and the headers
as they pass: a Flask hook per task cost a hook dispatch, the request proxy and Werkzeug's
header machinery each, which together came to as much as the tasks themselves
(docs/benchmarks.md compares this path with a one-view Flask app on the same server).

It also makes the request's ids current for every record logged while it runs
(request_log.RequestIds).
"""

import time

from flask import Flask

from .metrics import METRICS_PATH
from .replicas import SERVED_BY_HEADER
from .request_log import RequestIds


class RequestPath:
    """The WSGI app: Flask's, wrapped in what every request gets."""

    def __init__(self, app: Flask) -> None:
        self.wsgi_app = app.wsgi_app
        self.counter = app.extensions["replica_counter"]
        self.metrics = app.extensions.get("metrics")
        self.access_log = app.extensions.get("access_log")
        self.served_by = (SERVED_BY_HEADER, self.counter.replica)

    def __call__(self, environ: dict, start_response):
        """Serve one request and account for it, whatever the app answered."""
        method = environ.get("REQUEST_METHOD", "")
        if self.metrics is not None and environ.get("PATH_INFO") == METRICS_PATH:
            if method in ("GET", "HEAD"):
                return self.metrics.serve(environ, start_response)
        ids = RequestIds.begin(environ)
        try:
            return self.serve(environ, start_response, method)
        finally:
            RequestIds.end(ids)

    def serve(self, environ: dict, start_response, method: str):
        """Run the app for one request and account for it."""
        answer = ["500", ""]  # the status code and the Content-Length, once answered

        def respond(status: str, headers: list, exc_info=None):
            headers.append(self.served_by)
            answer[0] = status[:3]
            for name, value in headers:
                if name == "Content-Length":
                    answer[1] = value
            return start_response(status, headers, exc_info)

        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.begin()
        try:
            return self.wsgi_app(environ, respond)
        finally:
            seconds = time.perf_counter() - started
            self.counter.count()
            if self.metrics is not None:
                self.metrics.end(environ, method, answer[0], seconds)
            if self.access_log is not None:
                self.access_log.write(environ, int(answer[0]), answer[1], seconds * 1000)


def init_app(app: Flask) -> None:
    """Wrap the app, after every part it accounts for is set up (metrics, log, replicas)."""
    # Flask's documented way to wrap the WSGI app; mypy sees it as replacing a method.
    app.wsgi_app = RequestPath(app)  # type: ignore[method-assign]
