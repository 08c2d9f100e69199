"""Getting a database ready for the application: its indexes and, on first start, the sample
attendees and the first admin. db.py runs it once per process, the commands before they work."""

import logging

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from . import accounts, audit_log, idempotency, standin
from .collection_names import ATTENDEES
from .schemas import SORT_FIELDS
from .search import SEARCH_KEY
from .seed import seed_once

log = logging.getLogger(__name__)


def sort_index_name(field: str) -> str:
    """The name of the index that serves sorting by FIELD."""
    return f"sort_{field}"


def prepare(database: Database, seed: bool, admin: tuple[str, str] | None = None) -> None:
    """Create the indexes the application relies on and, when asked, seed an empty directory
    and create the first admin (ADMIN = (username, password)) unless that user exists."""
    attendees = database[ATTENDEES]
    # The unique index is what makes concurrent creates of one email end with exactly one winner.
    attendees.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    for field in SORT_FIELDS:
        if field != "email":  # email_unique serves that sort already
            _create_sort_index(attendees, field)
    # A multikey index: a prefix of one word is a range of it (see search.py).
    attendees.create_index([(SEARCH_KEY, ASCENDING)], name=SEARCH_KEY)
    idempotency.prepare(database)
    accounts.prepare(database)
    audit_log.prepare(database)
    if admin is not None:
        accounts.ensure_first_admin(database, *admin)
    if seed:
        inserted = seed_once(database)
        if inserted:
            log.info("seeded %d attendees into %s", inserted, database.name)


def _create_sort_index(attendees: Collection, field: str) -> None:
    """An index on (FIELD, _id), the list's order, so a page is read in index order."""
    keys = [(field, ASCENDING), ("_id", ASCENDING)]
    if standin.serves(attendees.database):
        keys = standin.sort_index_keys(keys)
    attendees.create_index(keys, name=sort_index_name(field))
