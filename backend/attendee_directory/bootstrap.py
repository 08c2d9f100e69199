"""Getting a database ready for the application: its indexes, the search key of documents
stored before it existed, and, on first start, the sample attendees. db.py runs it once per
process, the seed command before it seeds."""

import logging

from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

from . import idempotency
from .collection_names import ATTENDEES
from .schemas import SORT_FIELDS
from .search import SEARCH_KEY, search_words
from .seed import seed_once
from .standin import is_standin

log = logging.getLogger(__name__)
BACKFILL_BATCH = 500  # updates per bulk_write while back-filling the search key


def sort_index_name(field: str) -> str:
    """The name of the index that serves sorting by FIELD."""
    return f"sort_{field}"


def prepare(database: Database, seed: bool) -> None:
    """Create the indexes the application relies on, back-fill the search key, and, when asked,
    seed an empty directory."""
    attendees = database[ATTENDEES]
    # The unique index is what makes concurrent creates of one email end with exactly one winner.
    attendees.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    for field in SORT_FIELDS:
        if field != "email":  # email_unique serves that sort already
            _create_sort_index(attendees, field)
    # A multikey index: a prefix of one word is a range of it (see search.py).
    attendees.create_index([(SEARCH_KEY, ASCENDING)], name=SEARCH_KEY)
    backfilled = backfill_search_key(attendees)
    if backfilled:
        log.info("added the search key to %d attendees", backfilled)
    idempotency.prepare(database)
    if seed:
        inserted = seed_once(database)
        if inserted:
            log.info("seeded %d attendees into %s", inserted, database.name)


def _create_sort_index(attendees: Collection, field: str) -> None:
    """An index on (FIELD, _id), the list's order, so a page is read in index order.

    nx-27017 (the offline stand-in, whose server_info has no version) cannot hold `_id` inside
    a compound key (it accepts the index and then fails every insert); there the index on
    FIELD alone is the closest it takes, and its planner orders only the ties.
    """
    if is_standin(attendees.database):
        attendees.create_index([(field, ASCENDING)], name=sort_index_name(field))
    else:
        keys = [(field, ASCENDING), ("_id", ASCENDING)]
        attendees.create_index(keys, name=sort_index_name(field))


def backfill_search_key(attendees: Collection) -> int:
    """Give every attendee stored without the search key its key; return how many changed."""
    fields = {"full_name": 1, "university": 1, "major": 1}
    updates = [
        UpdateOne({"_id": doc["_id"]}, {"$set": {SEARCH_KEY: search_words(doc)}})
        for doc in attendees.find({SEARCH_KEY: {"$exists": False}}, fields)
    ]
    for start in range(0, len(updates), BACKFILL_BATCH):
        attendees.bulk_write(updates[start : start + BACKFILL_BATCH], ordered=False)
    return len(updates)
