"""Failed sign-ins, counted per account and address, per address, and per account, with
growing delays.

Three keys count one attempt: the account tried from this address (its owner elsewhere is not
locked by a stranger's failures), the address (against spraying many accounts), and the account
from every address that has never signed in to it (against guessing from many addresses; an
address that signed in successfully within KNOWN_ADDRESS_DAYS skips this key, so the owner gets
in while the account is under attack). A key that has failed its allowance is locked for
SIGNIN_DELAY_SECONDS, doubling with each further failure up to SIGNIN_MAX_DELAY_SECONDS; while
any key of an attempt is locked, sign-in answers 429 with Retry-After without looking at the
password. The counts live in MongoDB, so every replica sees the same ones.

Each attempt takes its number with one atomic increment before any password is checked, and
one past the allowance goes on only if it wins the key's lock (a conditional update that one
attempt alone can win): of attempts sent in parallel, no more than the allowance are checked.
Times are stored as numbers (seconds since the epoch): a datetime written with `$set` comes back
from the stand-in as a string (standin.py).
"""

import math
import time
from dataclasses import dataclass

from pymongo import ReturnDocument
from pymongo.database import Database

from .collection_names import SIGNIN_THROTTLE
from .config import Settings

# A key whose last attempt is older than this starts again from nothing.
FORGET_AFTER_SECONDS = 24 * 3600
# An address that signed in to an account is trusted by that account's all-addresses key this
# long after its last success.
KNOWN_ADDRESS_DAYS = 30


@dataclass(frozen=True)
class Key:
    """One throttled thing, with its allowance of failures."""

    id: str
    allowance: int


@dataclass(frozen=True)
class Attempt:
    """The keys one sign-in attempt counted against, and the lock it met (0: none)."""

    keys: list[Key]
    wait: float
    locked_now: list[str]  # keys this attempt found past their allowance and locked


def _known_id(username_key: str, address: str) -> str:
    """The document that says ADDRESS signed in to the account before."""
    return f"known:{username_key}|{address}"


def keys_for(database: Database, settings: Settings, username_key: str, address: str) -> list[Key]:
    """The keys one attempt on USERNAME_KEY from ADDRESS counts against."""
    keys = [
        Key(f"pair:{username_key}|{address}", settings.signin_account_attempts),
        Key(f"address:{address}", settings.signin_address_attempts),
    ]
    known = database[SIGNIN_THROTTLE].find_one({"_id": _known_id(username_key, address)})
    if known is None or time.time() - known["at"] > KNOWN_ADDRESS_DAYS * 86400:
        keys.append(Key(f"account:{username_key}", settings.signin_unknown_address_attempts))
    return keys


def delay_after(failures: int, allowance: int, settings: Settings) -> float:
    """How long a key is locked after its FAILURES-th failure: 0 within the allowance."""
    if failures < allowance:
        return 0.0
    doubling = min(failures - allowance, 60)  # 2**60 seconds is past any maximum
    return min(settings.signin_delay_seconds * 2**doubling, settings.signin_max_delay_seconds)


def _take_number(database: Database, key: Key, now: float) -> dict:
    """Count one attempt on KEY (forgetting a count older than FORGET_AFTER_SECONDS)."""
    throttle = database[SIGNIN_THROTTLE]
    throttle.delete_one({"_id": key.id, "last_attempt": {"$lt": now - FORGET_AFTER_SECONDS}})
    doc = throttle.find_one_and_update(
        {"_id": key.id},
        {"$inc": {"failures": 1}, "$set": {"last_attempt": now}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None  # upserted
    return doc


def _win_lock(database: Database, key: Key, failures: int, settings: Settings, now: float) -> bool:
    """An attempt past KEY's allowance goes on only if its lock has run out, and only one such
    attempt per lock: it sets the next lock in the same conditional update."""
    won = database[SIGNIN_THROTTLE].update_one(
        {"_id": key.id, "locked_until": {"$lte": now}},
        {"$set": {"locked_until": now + delay_after(failures, key.allowance, settings)}},
    )
    return won.modified_count == 1


def begin(database: Database, keys: list[Key], settings: Settings) -> Attempt:
    """Count this attempt against every key; its wait is > 0 if any key refuses it (and then
    none of its counts stays)."""
    throttle = database[SIGNIN_THROTTLE]
    now = time.time()
    counted: list[Key] = []
    locked_now: list[str] = []
    wait = 0.0
    for key in keys:
        doc = _take_number(database, key, now)
        counted.append(key)
        if doc["failures"] <= key.allowance:
            continue
        if "locked_until" not in doc:
            # Past the allowance before any attempt of the allowance has failed (a burst):
            # locked at once, for the first delay.
            throttle.update_one(
                {"_id": key.id, "locked_until": {"$exists": False}},
                {"$set": {"locked_until": now + settings.signin_delay_seconds}},
            )
            locked_now.append(key.id)
        elif _win_lock(database, key, doc["failures"], settings, now):
            continue
        found = throttle.find_one({"_id": key.id}) or {}
        wait = max(wait, found.get("locked_until", now + 1) - now, 1.0)
        break
    if wait > 0:
        for key in counted:  # a refused attempt is no failure: it checked no password
            throttle.update_one({"_id": key.id, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}})
    return Attempt(keys, wait, locked_now)


def failed(database: Database, attempt: Attempt, settings: Settings) -> list[str]:
    """The password was wrong: lock each key this failure takes past its allowance; the ids of
    the keys that this failure locked."""
    throttle = database[SIGNIN_THROTTLE]
    now = time.time()
    locked = []
    for key in attempt.keys:
        doc = throttle.find_one({"_id": key.id})
        if doc is None or doc["failures"] < key.allowance:
            continue
        until = now + delay_after(doc["failures"], key.allowance, settings)
        if doc.get("locked_until", 0) < until:
            throttle.update_one({"_id": key.id}, {"$set": {"locked_until": until}})
            locked.append(key.id)
    return locked


def succeeded(database: Database, attempt: Attempt, username_key: str, address: str) -> None:
    """The account signed in: its counts are forgotten, the address is known to it from now on,
    and this attempt is no failure of the address (whose earlier failures stay counted)."""
    throttle = database[SIGNIN_THROTTLE]
    for key in attempt.keys:
        if not key.id.startswith("address:"):
            throttle.delete_one({"_id": key.id})
        else:
            throttle.update_one({"_id": key.id, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}})
    throttle.update_one(
        {"_id": _known_id(username_key, address)}, {"$set": {"at": time.time()}}, upsert=True
    )


def retry_after(seconds: float) -> str:
    """The Retry-After value for a lock of SECONDS: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
