"""Getting a database ready for the application: its indexes and, on first start, the sample
attendees. db.py runs it once per process, the seed command before it seeds."""

import logging

from pymongo import ASCENDING
from pymongo.database import Database

from . import idempotency
from .collection_names import ATTENDEES
from .seed import seed_once

log = logging.getLogger(__name__)


def prepare(database: Database, seed: bool) -> None:
    """Create the indexes the application relies on and, when asked, seed an empty directory."""
    attendees = database[ATTENDEES]
    # The unique index is what makes concurrent creates of one email end with exactly one winner.
    attendees.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    attendees.create_index([("full_name", ASCENDING)], name="full_name")
    idempotency.prepare(database)
    if seed:
        inserted = seed_once(database)
        if inserted:
            log.info("seeded %d attendees into %s", inserted, database.name)
