"""The app's own work on every request, in one WSGI wrapper around Flask.

Every answer names the replica (X-Served-By) and is counted for /api/replicas; with METRICS on
it is timed and counted for Prometheus (and /metrics is served here); with ACCESS_LOG on it gets
its access line. One wrapper does all of it, reading the environ, the status line and the headers
as they pass: a Flask hook per task cost a hook dispatch, the request proxy and Werkzeug's
header machinery each, which together came to as much as the tasks themselves
(docs/benchmarks.md compares this path with a one-view Flask app on the same server).

It also makes the request's ids current for every record logged while it runs
(request_log.RequestIds), and, with FRONT_DOOR_SECRET set, refuses whoever is not nginx: the
secret in X-Front-Door-Secret, or for /metrics (Prometheus' `authorization` setting) as
`Authorization: Bearer <secret>`.
"""

import hmac
import json
import time

from flask import Flask

from .metrics import METRICS_PATH
from .replicas import SERVED_BY_HEADER
from .request_log import RequestIds

FRONT_DOOR_HEADER = "X-Front-Door-Secret"
_FRONT_DOOR_ENVIRON = "HTTP_" + FRONT_DOOR_HEADER.upper().replace("-", "_")
_REFUSED = json.dumps(
    {
        "error": "front_door_required",
        "message": "this replica answers only requests that come through nginx",
    }
).encode()


class RequestPath:
    """The WSGI app: Flask's, wrapped in what every request gets."""

    def __init__(self, app: Flask) -> None:
        self.wsgi_app = app.wsgi_app
        self.counter = app.extensions["replica_counter"]
        self.metrics = app.extensions.get("metrics")
        self.access_log = app.extensions.get("access_log")
        self.served_by = (SERVED_BY_HEADER, self.counter.replica)
        secret = app.config["SETTINGS"].front_door_secret
        self.secret = secret.get_secret_value().encode() if secret is not None else None

    def from_front_door(self, environ: dict, metrics: bool) -> bool:
        """Whether the request carries the front door's secret (always true without one); for
        /metrics, a bearer credential of the secret counts too."""
        if self.secret is None:
            return True
        sent = environ.get(_FRONT_DOOR_ENVIRON, "")
        if metrics and not sent:
            scheme, _, sent = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            sent = sent.strip() if scheme.lower() == "bearer" else ""
        # latin-1: WSGI's header strings carry the bytes as sent (PEP 3333).
        return hmac.compare_digest(sent.encode("latin-1", "replace"), self.secret)

    def __call__(self, environ: dict, start_response):
        """Serve one request and account for it, whatever the app answered."""
        method = environ.get("REQUEST_METHOD", "")
        metrics = self.metrics if environ.get("PATH_INFO") == METRICS_PATH else None
        if not self.from_front_door(environ, metrics is not None):
            return self.refuse(environ, start_response)
        if metrics is not None and method in ("GET", "HEAD"):
            return metrics.serve(environ, start_response)
        ids = RequestIds.begin(environ)
        try:
            return self.serve(environ, start_response, method)
        finally:
            RequestIds.end(ids)

    def refuse(self, environ: dict, start_response) -> list[bytes]:
        """The 403 for a request that did not come through nginx, logged as any other answer;
        nothing of the app runs (its ids are not the front door's, so they are not made current)."""
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/json"), ("Content-Length", str(len(_REFUSED)))],
        )
        if self.access_log is not None:
            self.access_log.write(environ, 403, str(len(_REFUSED)), 0.0)
        return [_REFUSED]

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
