"""The audit trail: who changed what, when, and in which request (admins read it: audit.py).

Every attendee write and every change to a user appends one entry after the change itself has
landed (an entry is never written for a write that failed). Entries are never changed or
deleted by the application.
"""

from datetime import UTC, datetime

from pymongo import DESCENDING
from pymongo.database import Database

from .collection_names import AUDIT
from .documents import iso
from .request_log import RequestIds

# Entries that record who signed in or held a credential, not a change to the directory's data.
SECURITY_ACTIONS = (
    "signin.success",
    "signin.failure",
    "signin.locked",
    "token.create",
    "token.revoke",
)
# The newest entries an attendee's history shows (the detail view's list).
HISTORY_LENGTH = 50


def prepare(database: Database) -> None:
    """Index the trail by time, and by target then time (one attendee's history)."""
    entries = database[AUDIT]
    entries.create_index([("at", DESCENDING)], name="at")
    entries.create_index(
        [("target_type", 1), ("target_id", 1), ("at", DESCENDING)], name="target_at"
    )


def changes_between(before: dict | None, after: dict | None, fields: tuple[str, ...]) -> dict:
    """{field: {"from": old, "to": new}} for each of FIELDS whose value differs (None: absent)."""
    changed = {}
    for field in fields:
        old = (before or {}).get(field)
        new = (after or {}).get(field)
        if old != new:
            changed[field] = {
                **({"from": old} if before is not None else {}),
                **({"to": new} if after is not None else {}),
            }
    return changed


def record(
    database: Database,
    actor: str,
    via: str,
    action: str,
    target: tuple[str, str],
    changes: dict,
) -> None:
    """Append one entry: ACTOR (a username) did ACTION to TARGET (type, id) VIA session, token
    or the command line, changing CHANGES. The request's id (nginx's X-Request-ID) ties it to
    the logs; an id the client sent itself is kept beside it, as client_request_id."""
    request_id, client_request_id = RequestIds.current()
    database[AUDIT].insert_one(
        {
            "at": datetime.now(UTC),
            "actor": actor,
            "via": via,
            "action": action,
            "target_type": target[0],
            "target_id": target[1],
            "changes": changes,
            "request_id": request_id,
            "client_request_id": None if client_request_id == "-" else client_request_id,
        }
    )


def to_json(entry: dict) -> dict:
    """An entry as the API returns it."""
    return {
        "id": str(entry["_id"]),
        "at": iso(entry["at"]),
        "actor": entry["actor"],
        "via": entry["via"],
        "action": entry["action"],
        "target": {"type": entry["target_type"], "id": entry["target_id"]},
        "changes": entry["changes"],
        "request_id": entry["request_id"],
        # Entries written before the field existed have none.
        "client_request_id": entry.get("client_request_id"),
    }


def history(database: Database, target_type: str, target_id: str) -> list[dict]:
    """The newest HISTORY_LENGTH entries about one target, newest first."""
    found = (
        database[AUDIT]
        .find({"target_type": target_type, "target_id": target_id})
        .sort([("at", DESCENDING)])
        .limit(HISTORY_LENGTH)
    )
    return [to_json(entry) for entry in found]
