"""The database's own ceiling: the list endpoint's queries in a direct pymongo loop, no web tier."""

import threading
import time
from collections.abc import Callable

from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection

from .servers_results import DatabaseRates

Document = dict[str, object]  # a MongoDB document as pymongo returns it

BENCH_EMAIL = r"@bench\.example\.org$"  # what devtools/devtools/bench/wrk.lua's creates end with


def _first_page(attendees: Collection) -> list:
    """The list endpoint's page query: first 20 by name, then id."""
    order = [("full_name", ASCENDING), ("_id", ASCENDING)]
    return list(attendees.find({}).sort(order).limit(20))


def queries(attendees: Collection, some_id) -> dict[str, Callable[[], object]]:
    """The queries behind the endpoints, by DatabaseRates field, each ready to call."""
    return {
        "list_exact_count": lambda: (attendees.count_documents({}), _first_page(attendees)),
        "list_stored_count": lambda: (
            attendees.estimated_document_count(),
            _first_page(attendees),
        ),
        "exact_count": lambda: attendees.count_documents({}),
        "stored_count": attendees.estimated_document_count,
        "first_page": lambda: _first_page(attendees),
        "get_by_id": lambda: attendees.find_one({"_id": some_id}),
    }


def rate(call: Callable[[], object], seconds: float, threads: int) -> float:
    """Calls per second that THREADS threads complete in SECONDS of calling CALL in a loop."""
    deadline = time.monotonic() + seconds
    counts = [0] * threads

    def loop(slot: int) -> None:
        """Call until the deadline, counting."""
        while time.monotonic() < deadline:
            call()
            counts[slot] += 1

    workers = [threading.Thread(target=loop, args=(slot,)) for slot in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


def query_rates(uri: str, db_name: str, seconds: float, threads: list[int]) -> DatabaseRates:
    """Queries/s of each query the endpoints make, straight from pymongo, the best over THREADS.

    One client process: its threads share one GIL, so more threads are not always faster.
    """
    client: MongoClient[Document] = MongoClient(uri, maxPoolSize=max(threads))
    with client:
        attendees = client[db_name]["attendees"]
        first = attendees.find_one({}, {"_id": 1})
        assert first is not None, "the stack seeds the database before its rates are taken"
        some_id = first["_id"]
        rates = {
            name: max(rate(call, seconds, count) for count in threads)
            for name, call in queries(attendees, some_id).items()
        }
        return DatabaseRates(threads=tuple(threads), **rates)


def remove_bench_attendees(uri: str, db_name: str) -> int:
    """Delete the attendees that the create runs added, so every run sees the same data."""
    client: MongoClient[Document] = MongoClient(uri)
    with client:
        return (
            client[db_name]["attendees"]
            .delete_many({"email": {"$regex": BENCH_EMAIL}})
            .deleted_count
        )


def count_attendees(uri: str, db_name: str) -> int:
    """How many attendees the database holds."""
    client: MongoClient[Document] = MongoClient(uri)
    with client:
        return client[db_name]["attendees"].count_documents({})
