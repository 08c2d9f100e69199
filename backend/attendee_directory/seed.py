"""Seed the directory with the fictional sample attendees shipped in data/attendees.json."""

import json
from datetime import UTC, datetime
from importlib.resources import files

from pymongo.database import Database

from .collection_names import ATTENDEES, META
from .documents import new_attendee
from .schemas import AttendeeIn

SEED_MARKER = "seed"


def sample_attendees() -> list[dict]:
    """The shipped sample attendees, each checked against the same schema as the API's input."""
    raw = json.loads(files(__package__).joinpath("data/attendees.json").read_text("utf-8"))
    return [AttendeeIn.model_validate(item).model_dump() for item in raw]


def seed(database: Database) -> int:
    """Insert every sample attendee whose email is not there yet; return how many were added.

    Upserts keyed on the unique email make a rerun (or two replicas seeding at once) add nothing.
    """
    now = datetime.now(UTC)
    added = 0
    for attendee in sample_attendees():
        result = database[ATTENDEES].update_one(
            {"email": attendee["email"]},
            {"$setOnInsert": new_attendee(attendee, now)},
            upsert=True,
        )
        added += result.upserted_id is not None
    database[META].update_one({"_id": SEED_MARKER}, {"$set": {"seeded_at": now}}, upsert=True)
    return added


def seed_once(database: Database) -> int:
    """Seed on first start only: once the marker exists, deleted samples stay deleted."""
    if database[META].find_one({"_id": SEED_MARKER}) is not None:
        return 0
    return seed(database)
