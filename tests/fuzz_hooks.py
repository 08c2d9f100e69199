"""A schemathesis hook for tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The document lets a client choose any Idempotency-Key, and the API answers 422 when one key
comes again with another body: that is the header's contract, not a bug. Hypothesis draws the
same short keys ("0", "00", ...) for many different bodies, so every generated key is made
unique here, keeping its documented form (bare or quoted, at most 128 characters).

Likewise `after` is an opaque cursor: only one that a list response handed out names a place in
the list, so a string drawn for a schema-valid case is swapped for a well-formed cursor of the
case's own sort and order (and `page` left out: a cursor and a page number together are refused).
Negative cases keep what was drawn, so malformed cursors are still fuzzed.
"""

import itertools
import os
from datetime import UTC, datetime

import schemathesis
from bson import ObjectId

from attendee_directory import keyset
from attendee_directory.schemas import ListQuery

HEADER = "Idempotency-Key"
_NUMBERS = itertools.count()


def unique_key(key: str) -> str:
    """KEY with a suffix no other request of this run has, in the same (bare or quoted) form."""
    suffix = f".{os.getpid()}.{next(_NUMBERS)}"
    quoted = len(key) >= 2 and key.startswith('"') and key.endswith('"')
    bare = key[1:-1] if quoted else key
    bare = bare[: 128 - len(suffix)] + suffix
    return f'"{bare}"' if quoted else bare


# A sort value of the right type for each sortable field (a cursor carries one).
CURSOR_VALUES = {"year_of_birth": 2000, "created_at": datetime(2023, 6, 1, tzinfo=UTC)}


def well_formed_cursor(query: dict) -> str:
    """A cursor for the sort and order that QUERY asks for (the API's defaults if it does not)."""
    defaults = ListQuery.model_fields
    sort = str(query.get("sort", defaults["sort"].default))
    order = str(query.get("order", defaults["order"].default))
    return keyset.encode(sort, order, {sort: CURSOR_VALUES.get(sort, "M"), "_id": ObjectId()})


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Give each create a key of its own, unless the key is meant to be malformed; give each
    schema-valid list request with `after` a cursor that the API could have handed out."""
    query = case.query or {}
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and isinstance(query.get("after"), str):
        query["after"] = well_formed_cursor(query)
        query.pop("page", None)
    headers = case.headers or {}
    key = headers.get(HEADER)
    # A key that is not a string, or is malformed on purpose (negative cases), stays as drawn.
    if (
        isinstance(key, str)
        and key.strip('"')
        and all(c.isascii() and (c.isalnum() or c in '._:~+/=-"') for c in key)
    ):
        headers[HEADER] = unique_key(key)
