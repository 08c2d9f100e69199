"""Idempotency-Key on POST: a key reserved before the write, so a retried create is exact.

A key's record holds a fingerprint of the request body, the id allocated for the attendee
before it is inserted, and, once known, the outcome to replay. Keys are scoped to the user who
sends them. Because the id is chosen when the
key is reserved, a retry after a crash anywhere between the reservation and the recorded outcome
inserts the same _id again: the database's unique _id makes that write happen at most once.
"""

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from flask import request
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from .errors import ApiError

IDEMPOTENCY_KEYS = "idempotency_keys"
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# UUIDs, ULIDs and base64/base64url tokens fit; anything else (spaces, quotes, control
# characters, kilobytes of text) is refused before it reaches the database or a log line.
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:~+/=-]{1,128}")
KEY_RULE = "1 to 128 characters from A-Z a-z 0-9 . _ : ~ + / = -"
# Expired keys are ignored on use; the sweep deletes the rest (and so does a TTL index, on
# servers that honour one), at most this often per process and database (or once per key
# lifetime, if that is shorter) so that it costs next to nothing per request.
SWEEP_INTERVAL_SECONDS = 60.0
RESERVE_ATTEMPTS = 5

_sweep_lock = threading.Lock()
_last_sweep: dict[str, float] = {}  # database name -> time.monotonic() of its last sweep


@dataclass(frozen=True)
class Reservation:
    """A key held for one create: the attendee id it allocated and the outcome, once known."""

    key: str
    attendee_id: ObjectId
    outcome: dict | None


def request_key() -> str | None:
    """The request's Idempotency-Key (a quoted sf-string or a bare token); 400 if malformed."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    value = raw.strip()
    # The IETF draft sends the key as a structured-field string ("..."); Stripe-style clients
    # send it bare. Both name the same key.
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not KEY_PATTERN.fullmatch(value):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"the {HEADER} header must be {KEY_RULE}",
            {HEADER: KEY_RULE},
        )
    return value


def scoped(user_id: str, key: str) -> str:
    """The stored form of a key: each user's keys are their own, so another user's key can be
    neither replayed nor squatted."""
    return f"{user_id}:{key}"


def fingerprint(fields: dict) -> str:
    """A digest of the validated body: the same attendee sent twice gives the same digest."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def prepare(database: Database) -> None:
    """Index the keys by expiry; MongoDB's TTL monitor then deletes expired ones by itself."""
    database[IDEMPOTENCY_KEYS].create_index(
        [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"
    )


def sweep_expired(database: Database, lifetime_seconds: int) -> int:
    """Delete expired keys, unless this process swept this database a short while ago."""
    interval = min(SWEEP_INTERVAL_SECONDS, lifetime_seconds)
    with _sweep_lock:
        last = _last_sweep.get(database.name, float("-inf"))
        if time.monotonic() - last < interval:
            return 0
        _last_sweep[database.name] = time.monotonic()
    now = datetime.now(UTC)
    return database[IDEMPOTENCY_KEYS].delete_many({"expires_at": {"$lte": now}}).deleted_count


def reserve(database: Database, key: str, digest: str, lifetime_seconds: int) -> Reservation:
    """Reserve KEY for this body, or return the reservation that holds it; 409 for another body
    (the key is bound to the first request: a conflict with what the server holds, as a taken
    email is)."""
    keys = database[IDEMPOTENCY_KEYS]
    for _ in range(RESERVE_ATTEMPTS):
        now = datetime.now(UTC)
        # An expired key is no longer a promise: forget it, so this request starts afresh.
        keys.delete_one({"_id": key, "expires_at": {"$lte": now}})
        attendee_id = ObjectId()
        record = {
            "_id": key,
            "fingerprint": digest,
            # A string, which both MongoDB and the stand-in match (standin.py).
            "attendee_id": str(attendee_id),
            "created_at": now,
            "expires_at": now + timedelta(seconds=lifetime_seconds),
        }
        try:
            keys.insert_one(record)
            return Reservation(key, attendee_id, None)
        except DuplicateKeyError:
            held = keys.find_one({"_id": key})
        if held is None or held["expires_at"] <= now:
            continue  # it expired or was swept between our two calls: reserve it again
        if held["fingerprint"] != digest:
            raise ApiError(
                409,
                "idempotency_key_reused",
                f"this {HEADER} was already used with a different body; "
                "send a new key for a different request",
                {HEADER: "already used with a different body"},
            )
        return Reservation(key, ObjectId(held["attendee_id"]), held.get("outcome"))
    raise ApiError(503, "idempotency_key_busy", f"the {HEADER} could not be reserved; retry")


def record_outcome(database: Database, reservation: Reservation, outcome: dict) -> None:
    """Store the create's outcome under its key; the first outcome recorded is the one kept."""
    # Matching the attendee id too means an outcome never lands on a later reservation of
    # the same key (made after this one expired).
    database[IDEMPOTENCY_KEYS].update_one(
        {
            "_id": reservation.key,
            "attendee_id": str(reservation.attendee_id),
            "outcome": {"$exists": False},
        },
        {"$set": {"outcome": outcome}},
    )
