"""Seed the directory with the fictional sample attendees shipped in data/attendees.json."""

import json
import logging
import sys
from datetime import UTC, datetime
from importlib.resources import files

from pymongo import MongoClient
from pymongo.database import Database

from .config import ConfigError, Settings
from .db import ATTENDEES, META, prepare
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
            {"$setOnInsert": {**attendee, "version": 1, "created_at": now, "updated_at": now}},
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


def main() -> int:
    """Command line: seed the database named by MONGO_URI / MONGO_DB (safe to rerun)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with MongoClient(
        settings.mongo_uri, serverSelectionTimeoutMS=settings.mongo_timeout_ms
    ) as client:
        database = client[settings.mongo_db]
        prepare(database, seed=False)
        added = seed(database)
    kept = len(sample_attendees()) - added
    print(f"seeded {settings.mongo_db}: {added} attendees added, {kept} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
