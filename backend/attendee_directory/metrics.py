"""Prometheus metrics of one replica, added up over its worker processes, served at /metrics.

Prometheus scrapes each replica directly (compose: DNS discovery of the service "backend");
nginx proxies only /api/ and /readyz, so the front door answers /metrics with 404.

Latency buckets, in seconds: most answers of this service take 1-10 ms (one indexed MongoDB
call, or none); 1 s is the MongoDB timeout (the JSON 503 path) and 2 s nginx's read timeout,
after which nginx has already given up and tried another replica. The buckets are dense below
10 ms, where the service lives, mark both timeouts, and stop at 5 s, beyond which every answer
is equally too late. The p99 alert's threshold (0.5 s) is a bucket bound, so it is exact.
"""

import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from pymongo import monitoring
from pymongo.errors import PyMongoError

from ._version import __version__
from .backup import last_success
from .db import get_db, get_mongo
from .metrics_dir import MULTIPROC_VARIABLE, mark_dead_workers

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
# One MongoDB command: sub-millisecond on a warm connection; 1 s is the server-selection and
# connect timeout, 5 s the socket timeout (db.py).
MONGO_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request no route matched (404 and the like): one label value, whatever the path, so that
# scanners cannot grow the number of series.
UNMATCHED = "unmatched"
_ROUTE = "attendee_directory.route"

REQUESTS = Counter(
    "attendee_directory_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "attendee_directory_http_request_duration_seconds",
    "Time from the request reaching the app to its response being ready.",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
)
IN_FLIGHT = Gauge(
    "attendee_directory_http_requests_in_flight",
    "Requests being handled now, over the replica's running workers.",
    multiprocess_mode="livesum",
)
MONGO_LATENCY = Histogram(
    "attendee_directory_mongodb_command_duration_seconds",
    "MongoDB commands by name, successful or not, as pymongo's command monitoring timed them.",
    ["command"],
    buckets=MONGO_BUCKETS,
)
MONGO_ERRORS = Counter(
    "attendee_directory_mongodb_command_errors",
    "MongoDB commands that failed (server error, timeout, connection lost), by name.",
    ["command"],
)
SIGNINS = Counter(
    "attendee_directory_signins",
    "Sign-in attempts by outcome: success, failure (wrong username or password), locked "
    "(refused by the sign-in throttle before any password was checked).",
    ["outcome"],
)
DATABASE_READY = Gauge(
    "attendee_directory_database_ready",
    "1 if the replica's MongoDB ping succeeded at the last scrape, else 0.",
    multiprocess_mode="livemostrecent",
)
# The client's Info type has no multiprocess mode: a gauge fixed at 1 carries the labels.
BUILD_INFO = Gauge(
    "attendee_directory_build_info",
    "Always 1: the replica's name and the versions it runs.",
    ["replica", "version", "python", "granian"],
    multiprocess_mode="max",
)

METRICS_PATH = "/metrics"
BACKUP_METRIC = "attendee_directory_backup_last_success_timestamp_seconds"


class CommandMetrics(monitoring.CommandListener):
    """Times every MongoDB command this process sends and counts the ones that fail."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Nothing to do: the finished events carry the duration."""

    def __init__(self) -> None:
        # Each command name's histogram, looked up once (labels() takes the metric's lock).
        self._latency: dict[str, Histogram] = {}

    def _observe(self, command: str, micros: int) -> None:
        """Record one command's duration."""
        latency = self._latency.get(command)
        if latency is None:
            latency = self._latency.setdefault(command, MONGO_LATENCY.labels(command))
        latency.observe(micros / 1e6)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Record a command's duration."""
        self._observe(event.command_name, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Record a failed command's duration and count the failure."""
        self._observe(event.command_name, event.duration_micros)
        MONGO_ERRORS.labels(event.command_name).inc()


_listener_registered = False


def _register_command_listener() -> None:
    """Register the listener once per process, for every MongoClient created after this."""
    global _listener_registered
    if not _listener_registered:
        monitoring.register(CommandMetrics())
        _listener_registered = True


class RequestMetrics:
    """Records in-flight, latency and the count of every request, errors included, for the
    request path (request_path.py), and serves /metrics.

    /metrics is answered outside Flask's routes: it is the operator's page, not part of the
    public API that the OpenAPI document describes.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        # Each (route, method, status)'s two series, looked up once: labels() takes the
        # metric's lock on every call. A route's labels are bounded (templates, METHODS).
        self._series: dict[tuple[str, str, str], tuple] = {}

    @staticmethod
    def begin() -> None:
        """A request has come in."""
        IN_FLIGHT.inc()

    def end(self, environ: dict, method: str, status: str, seconds: float) -> None:
        """The request (METHOD, answered STATUS after SECONDS) is done: record it."""
        IN_FLIGHT.dec()
        method = method if method in METHODS else "other"
        route = environ.get(_ROUTE, UNMATCHED)
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = self._series.setdefault(
                key, (LATENCY.labels(route, method), REQUESTS.labels(route, method, status))
            )
        latency, requests = series
        latency.observe(seconds)
        requests.inc()

    def serve(self, environ: dict, start_response) -> list[bytes]:
        """Answer GET or HEAD /metrics, recorded like any other request."""
        environ[_ROUTE] = METRICS_PATH
        method = environ["REQUEST_METHOD"]
        started = time.perf_counter()
        self.begin()
        try:
            return self.exposition(method, start_response)
        finally:
            self.end(environ, method, "200", time.perf_counter() - started)

    def exposition(self, method: str, start_response) -> list[bytes]:
        """Every metric of this replica, summed over its workers, in Prometheus' text format."""
        with self.app.app_context():
            DATABASE_READY.set(_database_ready())
            last_backup = _backup_exposition()
        directory = os.environ.get(MULTIPROC_VARIABLE)
        if directory:
            mark_dead_workers(directory)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
        else:  # one process (the test client, a plain WSGI server): the default registry
            registry = REGISTRY
        body = generate_latest(registry) + last_backup
        headers = [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]


def _remember_route() -> None:
    """Note the matched route's template (/api/attendees/<id>), not the path, for the labels."""
    rule = request.url_rule
    request.environ[_ROUTE] = rule.rule if rule is not None else UNMATCHED


def _database_ready() -> int:
    """Ping MongoDB as /readyz does (failing fast while the database is known down): 1 if it
    answers, else 0."""
    try:
        get_mongo().ping()
    except PyMongoError:
        return 0
    return 1


class _LastBackup:
    """The time of the last successful backup, read from the database at each scrape (the
    backup job records it there), so that every replica reports it in every mode without a
    scrape target of its own; no series at all where no backup has succeeded yet."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def collect(self) -> list[GaugeMetricFamily]:
        """The one gauge, if there is a value."""
        if self.seconds is None:
            return []
        gauge = GaugeMetricFamily(
            BACKUP_METRIC, "Unix time of the last successful backup of the database."
        )
        gauge.add_metric([], self.seconds)
        return [gauge]


def _backup_exposition() -> bytes:
    """The last backup's gauge in the text format; nothing if unknown or unreadable now."""
    try:
        when = last_success(get_db())
    except PyMongoError:
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LastBackup(when.timestamp() if when else None))
    return generate_latest(registry)


def _granian_version() -> str:
    """granian's version, or 'none' where the app runs without it."""
    try:
        return version("granian")
    except PackageNotFoundError:
        return "none"


def init_app(app: Flask) -> None:
    """Count, time and serve: the recorder (the request path calls it), the route hook, the
    command listener."""
    settings = app.config["SETTINGS"]
    _register_command_listener()
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:  # a new worker: a predecessor killed by a signal leaves live gauges behind
        mark_dead_workers(directory)
    BUILD_INFO.labels(
        settings.replica_name, __version__, platform.python_version(), _granian_version()
    ).set(1)
    app.before_request(_remember_route)
    app.extensions["metrics"] = RequestMetrics(app)
