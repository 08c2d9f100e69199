"""The MongoDB connection: one MongoClient per process, created on first use after fork."""

import logging
import os
import threading
import time

from flask import Flask, Response, current_app
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from .bootstrap import prepare
from .config import Settings
from .errors import error_response, unavailable
from .request_log import one_line, request_target

log = logging.getLogger(__name__)

# After a server selection failed, requests answer 503 at once for this long instead of each
# waiting MONGO_TIMEOUT_MS for a server: with every worker thread in that wait, even /healthz and
# /api/whoami queued behind them (a median 0.5 s, up to 3.8 s, at 24 clients). It matches the
# Retry-After: 1 of the 503, and bounds how long a replica keeps failing after the database is
# back (one probe a second).
FAIL_FAST_SECONDS = 1.0


class DatabaseUnavailable(ConnectionFailure):
    """The database was unreachable moments ago; this request did not wait to find out again."""


class FailFast:
    """A circuit breaker: open for FAIL_FAST_SECONDS after a failed server selection.

    When the interval is over, one request (the probe) tries the database while the others
    keep failing fast; the probe's success closes the breaker, its failure opens it again.
    """

    def __init__(self, seconds: float = FAIL_FAST_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._probing = False

    def enter(self) -> bool:
        """Raise DatabaseUnavailable while open; True if this caller is the probe."""
        with self._lock:
            if self._open_until is None:
                return False
            if self._probing or time.monotonic() < self._open_until:
                raise DatabaseUnavailable("the database was unreachable moments ago")
            self._probing = True
            return True

    def trip(self) -> None:
        """Open the breaker: a server selection just failed."""
        with self._lock:
            self._open_until = time.monotonic() + self.seconds
            self._probing = False

    def close(self) -> None:
        """Close the breaker: the database answered."""
        with self._lock:
            self._open_until = None
            self._probing = False


class Mongo:
    """Owns this process's MongoClient; a forked child builds its own instead of inheriting one."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._client: MongoClient | None = None
        self._pid: int | None = None
        self._prepared = False
        self.breaker = FailFast()

    def client(self) -> MongoClient:
        """Return this process's client, creating it on first use (and again after a fork)."""
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    timeout = self.settings.mongo_timeout_ms
                    self._client = MongoClient(
                        self.settings.mongo_uri,
                        tz_aware=True,
                        connect=False,
                        # The client-side bound of every operation, server selection and
                        # reply included: a frozen server (connections open, nothing answers)
                        # costs a request MONGO_TIMEOUT_MS, then a 503, not a hung thread.
                        timeoutMS=timeout,
                        serverSelectionTimeoutMS=timeout,
                        connectTimeoutMS=timeout,
                        appname=f"attendee-directory/{self.settings.replica_name}",
                    )
                    self._pid = os.getpid()
                    self._prepared = False
        return self._client

    def available(self) -> bool:
        """Fail fast (DatabaseUnavailable) while the breaker is open; the probe pings first.

        True when this call was the probe, and so has just pinged the server.
        """
        if not self.breaker.enter():
            return False
        try:
            self.client().admin.command("ping")
        except BaseException:
            self.breaker.trip()  # whatever went wrong, the next probe gets its turn later
            raise
        self.breaker.close()
        return True

    def ping(self) -> None:
        """Ping the server (readiness), failing fast while the breaker is open."""
        if self.available():
            return  # the breaker's probe was this ping
        try:
            self.client().admin.command("ping")
        except PyMongoError as exc:
            self.failed(exc)
            raise

    def failed(self, exc: PyMongoError) -> None:
        """Note a failed operation: a failed server selection, or a server that let the
        operation's time run out on an open connection (frozen), opens the breaker."""
        if isinstance(exc, ServerSelectionTimeoutError) or (
            isinstance(exc, ConnectionFailure) and exc.timeout
        ):
            self.breaker.trip()

    def database(self) -> Database:
        """Return the configured database, preparing it (indexes, first-start seed) once."""
        self.available()
        database = self.client()[self.settings.mongo_db]
        if not self._prepared:
            with self._lock:
                if not self._prepared:
                    prepare(database, self.settings.seed_on_start, self.settings.first_admin())
                    self._prepared = True
        return database

    def close(self) -> None:
        """Close this process's client, if it has one."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


def get_mongo() -> Mongo:
    """Return the Mongo holder of the current application."""
    return current_app.extensions["mongo"]


def get_db() -> Database:
    """Return the configured database for the current application."""
    return get_mongo().database()


def _database_error(exc: PyMongoError) -> Response:
    """Map a lost or unreachable database to 503, so that clients retry instead of failing."""
    get_mongo().failed(exc)  # a failed server selection opens the fail-fast breaker
    # exc.timeout: MONGO_TIMEOUT_MS ran out, also where the server itself reported it
    # (ExecutionTimeout, an OperationFailure): the database is too slow to answer now.
    if isinstance(exc, ConnectionFailure) or exc.timeout:
        # The path comes from the client: escaped, so that it cannot forge a log line.
        log.warning("database unavailable on %s: %s", request_target(), one_line(str(exc)))
        return unavailable("the database cannot be reached; retry shortly")
    log.exception("database error on %s", request_target())
    return error_response(500, "database_error", "the database rejected the operation")


def init_app(app: Flask) -> None:
    """Attach a (not yet connected) Mongo holder to the application, and answer every database
    error that reaches Flask in the shared JSON shape."""
    app.extensions["mongo"] = Mongo(app.config["SETTINGS"])
    app.register_error_handler(PyMongoError, _database_error)
