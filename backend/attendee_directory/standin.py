"""nx-27017, the offline MongoDB stand-in: everything the package does differently for it.

The rest of the package is MongoDB code. Where nx-27017 cannot answer a query shape, the caller
asks `serves(database)` and hands over to the function here that gets the same answer from the
stand-in; docs/query-shapes.md says what each costs on both servers. Those are the only paths
CI runs against the stand-in alone (no MongoDB server can be installed on the CI machines):
the MongoDB side of each branch below is exercised wherever real MongoDB runs.

Some forms elsewhere are chosen because both servers answer them the same, so no branch is
needed; they are the MongoDB code as written:
- search.py: `$elemMatch` with `$regex` as a string (nx-27017 cannot bind a BSON regular
  expression, and matches a bare `$regex` against no array element);
- attendees.py: `update_one` rather than `find_one_and_update` (nx-27017 reports no duplicate key
  for the latter), and `$currentDate` for `updated_at` (a datetime sent with `$set` comes back from
  nx-27017 as a string);
- idempotency.py: the reserved attendee id is stored as a string (nx-27017 matches no ObjectId
  in a field other than `_id`);
- accounts.py, auth.py: ids of users are stored as strings in sessions and tokens (the same
  reason); a user's `disabled` flag is read as a truth value (a boolean written with `$set`
  comes back from nx-27017 as 0 or 1);
- signin_throttle.py: its times are numbers, not datetimes (the `$set` of a datetime above).
"""

import operator
import weakref
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

# Each client's answer, asked once: it cannot change while the client talks to the same server.
_STANDIN_CLIENTS: weakref.WeakKeyDictionary[MongoClient, bool] = weakref.WeakKeyDictionary()


def serves(database: Database) -> bool:
    """Whether DATABASE is served by nx-27017, which reports no server version."""
    client = database.client
    if client not in _STANDIN_CLIENTS:
        _STANDIN_CLIENTS[client] = "version" not in client.server_info()
    return _STANDIN_CLIENTS[client]


def sort_index_keys(keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """KEYS without `_id`: nx-27017 accepts an index with `_id` inside a compound key and then
    fails every insert. The field alone is the closest it takes; its planner orders the ties."""
    return [key for key in keys if key[0] != "_id"]


def page_after(
    collection: Collection,
    criteria: dict,
    sort: str,
    order: str,
    key: tuple[Any, ObjectId],
    size: int,
) -> list[dict]:
    """The SIZE attendees matching CRITERIA after KEY (a sort value and an id) in (SORT, _id)
    order, as keyset.page_after finds them on MongoDB with two index ranges."""
    value, oid = key
    direction = ASCENDING if order == "asc" else DESCENDING
    order_by = [(sort, direction), ("_id", direction)]
    beyond = operator.gt if order == "asc" else operator.lt
    if isinstance(value, datetime):
        # A date bound combined with a sort matches nothing, or every document: read the list
        # in order and compare here (one pass; slower than the other sorts' pages).
        found = []
        for doc in collection.find(criteria).sort(order_by):
            if beyond((doc[sort], doc["_id"]), key):
                found.append(doc)
                if len(found) == size:
                    break
        return found
    # A range on _id is evaluated in Python over every document (100 ms at 10,000 attendees,
    # 1 s at 100,000), while one value's ties come from the index in about 1 ms: read the ties
    # whole and keep those after the cursor's id, then the values past it.
    ties = {"$and": [criteria, {sort: value}]} if criteria else {sort: value}
    found = [doc for doc in collection.find(ties).sort(order_by) if beyond(doc["_id"], oid)]
    if len(found) < size:
        past = {sort: {"$gt" if order == "asc" else "$lt": value}}
        matching = {"$and": [criteria, past]} if criteria else past
        found += collection.find(matching).sort(order_by).limit(size - len(found))
    return found[:size]
