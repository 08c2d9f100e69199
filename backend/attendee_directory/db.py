"""The MongoDB connection: one MongoClient per process, created on first use after fork."""

import logging
import os
import threading

from flask import Flask, current_app
from pymongo import ASCENDING, MongoClient
from pymongo.database import Database

from . import idempotency
from .config import Settings

log = logging.getLogger(__name__)

ATTENDEES = "attendees"
REPLICAS = "replicas"
META = "meta"


class Mongo:
    """Owns this process's MongoClient; a forked child builds its own instead of inheriting one."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._client: MongoClient | None = None
        self._pid: int | None = None
        self._prepared = False

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
                        serverSelectionTimeoutMS=timeout,
                        connectTimeoutMS=timeout,
                        socketTimeoutMS=timeout * 5,
                        appname=f"attendee-directory/{self.settings.replica_name}",
                    )
                    self._pid = os.getpid()
                    self._prepared = False
        return self._client

    def database(self) -> Database:
        """Return the configured database, preparing it (indexes, first-start seed) once."""
        database = self.client()[self.settings.mongo_db]
        if not self._prepared:
            with self._lock:
                if not self._prepared:
                    prepare(database, seed=self.settings.seed_on_start)
                    self._prepared = True
        return database

    def close(self) -> None:
        """Close this process's client, if it has one."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


def prepare(database: Database, seed: bool) -> None:
    """Create the indexes the application relies on and, when asked, seed an empty directory."""
    attendees = database[ATTENDEES]
    # The unique index is what makes concurrent creates of one email end with exactly one winner.
    attendees.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    attendees.create_index([("full_name", ASCENDING)], name="full_name")
    idempotency.prepare(database)
    if seed:
        from .seed import seed_once

        inserted = seed_once(database)
        if inserted:
            log.info("seeded %d attendees into %s", inserted, database.name)


def get_mongo() -> Mongo:
    """Return the Mongo holder of the current application."""
    return current_app.extensions["mongo"]


def get_db() -> Database:
    """Return the configured database for the current application."""
    return get_mongo().database()


def init_app(app: Flask) -> None:
    """Attach a (not yet connected) Mongo holder to the application."""
    app.extensions["mongo"] = Mongo(app.config["SETTINGS"])
