"""Keyset ("after") pagination: the next page starts after the last attendee of this one.

A cursor names the last attendee's sort value and id, plus the sort and order it belongs to,
as base64url of extended JSON: opaque to clients, checked on the way back in. A keyset page
costs the same at any depth (two index ranges on (field, _id)), while `page` skips every
attendee before it.
"""

import base64
import binascii
from datetime import UTC, datetime

from bson import ObjectId, json_util
from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection

from . import standin
from .errors import ApiError

MAX_CURSOR_LENGTH = 512
# What every cursor looks like (base64url without padding): the document declares it, so a
# string outside it is refused as a malformed parameter (400), while one in it that is no
# cursor of this list names no page of it (404).
CURSOR_PATTERN = f"^[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH}}}$"
# The Python type of each sortable field's values, to refuse a cursor forged with another.
VALUE_TYPES = {"year_of_birth": int, "created_at": datetime}


def encode(sort: str, order: str, doc: dict) -> str:
    """The cursor that continues after DOC in the list sorted by SORT in ORDER."""
    raw = json_util.dumps([sort, order, doc[sort], doc["_id"]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sort: str, order: str) -> tuple[object, ObjectId]:
    """The sort value and id that CURSOR continues after; 404 naming `after` if it is not one
    of ours for this SORT and ORDER (it names no page of this list)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, cursor_order, value, oid = json_util.loads(raw)
        if not isinstance(oid, ObjectId):
            oid = ObjectId(oid)
    except (ValueError, TypeError, KeyError, OverflowError, binascii.Error, BSONError):
        raise _invalid("not a cursor from this list; use next_after from a list response") from None
    if (cursor_sort, cursor_order) != (sort, order):
        raise _invalid(f"the cursor continues sort={cursor_sort}&order={cursor_order}")
    if not isinstance(value, VALUE_TYPES.get(sort, str)) or isinstance(value, bool):
        raise _invalid("not a cursor from this list; use next_after from a list response")
    if isinstance(value, datetime) and value.tzinfo is None:
        # json_util reads a date as naive UTC; the stored ones come back aware.
        value = value.replace(tzinfo=UTC)
    return value, oid


def _invalid(reason: str) -> ApiError:
    """The 404 for an `after` that names no page of this list."""
    return ApiError(404, "cursor_not_found", "after names no page of this list", {"after": reason})


def page_after(
    collection: Collection, criteria: dict, sort: str, order: str, after: str, size: int
) -> list[dict]:
    """The SIZE attendees matching CRITERIA that follow the cursor AFTER in (SORT, _id) order.

    Two ranges instead of one `$or`: the ties of the cursor's value after its id, then the
    values past it; each is one range of the index on (SORT, _id).
    """
    value, oid = decode(after, sort, order)
    if standin.serves(collection.database):
        return standin.page_after(collection, criteria, sort, order, (value, oid), size)
    direction = ASCENDING if order == "asc" else DESCENDING
    past = "$gt" if order == "asc" else "$lt"
    order_by = [(sort, direction), ("_id", direction)]
    found: list[dict] = []
    for bound in ({sort: value, "_id": {past: oid}}, {sort: {past: value}}):
        if len(found) < size:
            matching = {"$and": [criteria, bound]} if criteria else bound
            found += collection.find(matching).sort(order_by).limit(size - len(found))
    return found
