"""Failed sign-ins, counted per account and per client address, with growing delays.

Each key (the case-folded username tried, whether or not such a user exists, and the client's
address) has a count of failures. Once a key has failed its allowance, every further failure
locks it for SIGNIN_DELAY_SECONDS, doubling with each failure up to SIGNIN_MAX_DELAY_SECONDS;
while a key is locked, sign-in answers 429 with Retry-After without looking at the password.
A success clears the account's count (and takes its attempt off the address's). The counts live
in MongoDB, so every replica sees the same ones.

The attempt is counted before the password is checked: attempts sent in parallel each get
their own count, so no more than the allowance (plus those already in flight when a lock was
set) are ever checked. Times are stored as numbers (seconds since the epoch): a datetime written
with `$set` comes back from the stand-in as a string (standin.py).
"""

import math
import time
from dataclasses import dataclass

from pymongo import ReturnDocument
from pymongo.database import Database

from .collection_names import SIGNIN_THROTTLE
from .config import Settings

# A key whose last failure is older than this starts again from nothing.
FORGET_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Key:
    """One throttled thing: an account or an address, with its allowance of failures."""

    id: str
    allowance: int


def keys_for(settings: Settings, username_key: str, address: str) -> list[Key]:
    """The account's key and the address's key of one attempt."""
    return [
        Key(f"account:{username_key}", settings.signin_account_attempts),
        Key(f"address:{address}", settings.signin_address_attempts),
    ]


def delay_after(failures: int, allowance: int, settings: Settings) -> float:
    """How long a key is locked after its FAILURES-th failure: 0 within the allowance."""
    if failures < allowance:
        return 0.0
    doubling = min(failures - allowance, 60)  # 2**60 seconds is past any maximum
    return min(settings.signin_delay_seconds * 2**doubling, settings.signin_max_delay_seconds)


def locked_for(database: Database, keys: list[Key]) -> float:
    """The seconds until every one of KEYS may try again (0: none is locked)."""
    now = time.time()
    found = database[SIGNIN_THROTTLE].find({"_id": {"$in": [key.id for key in keys]}})
    return max((doc.get("locked_until", 0) - now for doc in found), default=0.0)


def count_attempt(database: Database, keys: list[Key], settings: Settings) -> None:
    """Count one attempt as a failure of every key, locking those past their allowance.

    A success then clears the account's count (succeeded), so only failures remain counted.
    """
    throttle = database[SIGNIN_THROTTLE]
    now = time.time()
    for key in keys:
        doc = throttle.find_one_and_update(
            {"_id": key.id},
            {"$inc": {"failures": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # upserted
        failures = doc["failures"]
        if now - doc.get("last_failure", now) > FORGET_AFTER_SECONDS:
            failures = 1
        delay = delay_after(failures, key.allowance, settings)
        update = {"failures": failures, "last_failure": now}
        if delay:
            update["locked_until"] = now + delay
        throttle.update_one({"_id": key.id}, {"$set": update})


def succeeded(database: Database, keys: list[Key]) -> None:
    """The account signed in: its failures are forgotten, and this attempt is no failure of
    the address (whose earlier failures stay counted)."""
    throttle = database[SIGNIN_THROTTLE]
    throttle.delete_one({"_id": keys[0].id})
    for key in keys[1:]:
        throttle.update_one({"_id": key.id, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}})


def retry_after(seconds: float) -> str:
    """The Retry-After value for a lock of SECONDS: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
