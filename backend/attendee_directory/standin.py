"""Whether the database is nx-27017, the offline MongoDB stand-in, whose gaps a few queries
work around (see docs/query-shapes.md)."""

import weakref

from pymongo import MongoClient
from pymongo.database import Database

# Each client's answer, asked once: it cannot change while the client talks to the same server.
_STANDIN_CLIENTS: weakref.WeakKeyDictionary[MongoClient, bool] = weakref.WeakKeyDictionary()


def is_standin(database: Database) -> bool:
    """Whether DATABASE is served by nx-27017, which reports no server version."""
    client = database.client
    if client not in _STANDIN_CLIENTS:
        _STANDIN_CLIENTS[client] = "version" not in client.server_info()
    return _STANDIN_CLIENTS[client]
