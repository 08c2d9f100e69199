"""The growth part of `make bench`: each endpoint at 48, 10,000 and 100,000 attendees.

For every size: a fresh database, the generated attendees bulk-inserted (people.py),
the stack as `make run` starts it (nginx -> replicas), wrk on each endpoint through nginx, and
the same queries from pymongo straight to the database, so that the database's own growth can
be told apart from the growth of our query shapes.
"""

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection

from attendee_directory import keyset, search
from attendee_directory.collection_names import ATTENDEES, META
from attendee_directory.config import Settings, default
from attendee_directory.schemas import MAX_SKIP, SORT_FIELDS
from attendee_directory.seed import SEED_MARKER
from devtools.local_stack.mongo_server import start_mongo
from devtools.processes import free_port

from .credentials import open_url
from .database import Document, remove_bench_attendees
from .people import bulk_insert
from .setups import ServerConfig, ServerStack
from .wrk import Result, median, run_wrk

MONGO_DB = default(Settings, "mongo_db")
SIZES = (48, 10_000, 100_000)
QUICK_SIZES = (48, 10_000)
PER_PAGE = 20
DEEP_PAGE_AT_100K = 500  # the deep page; smaller sizes go as deep in proportion
COMMON_TERM = "Nguyễn"  # 38% of the generated family names
RARE_TERM = "Khổng"  # 0.05% of them
CONNECTIONS = 16
DRAIN_TIMEOUT_S = 900  # the slowest backlog seen: 16 searches of several seconds each, twice
DEEP = "deep page (page=500 at 100,000)"
DEEP_AFTER = "deep page by after= cursor"
SHIPPED = ServerConfig("granian", workers=1, threads=4)


@dataclass(frozen=True)
class Direct:
    """The same query from one pymongo client thread in a loop: its median latency and rate."""

    p50_ms: float
    rps: float


@dataclass
class Point:
    """One endpoint at one size: through the stack (wrk) and straight to the database."""

    endpoint: str
    size: int
    stack: Result | None
    direct: Direct | None


@dataclass
class GrowthResults:
    """Every point of the growth part, and how it was measured."""

    sizes: list[int]
    seconds: int
    repeats: int
    connections: int
    backend: str  # which backend package served the stack ("this checkout" or a path)
    database: str  # the database server's kind, e.g. nx-27017
    insert_seconds: dict[int, float] = field(default_factory=dict)
    points: list[Point] = field(default_factory=list)

    def point(self, endpoint: str, size: int) -> Point | None:
        """The point of ENDPOINT at SIZE, if measured."""
        return next((p for p in self.points if (p.endpoint, p.size) == (endpoint, size)), None)

    def endpoints(self) -> list[str]:
        """Every measured endpoint, in the order of measurement."""
        return list(dict.fromkeys(p.endpoint for p in self.points))

    @classmethod
    def from_json(cls, data: dict) -> "GrowthResults":
        """Rebuild the results from their JSON form (results.json)."""
        points = [
            Point(
                p["endpoint"],
                p["size"],
                Result(**p["stack"]) if p["stack"] else None,
                Direct(**p["direct"]) if p["direct"] else None,
            )
            for p in data.pop("points")
        ]
        insert = {int(k): v for k, v in data.pop("insert_seconds").items()}
        return cls(**data, insert_seconds=insert, points=points)


def deep_page(size: int) -> int:
    """The page as deep into SIZE attendees as page 500 is into 100,000 (at least page 1)."""
    return max(1, round(DEEP_PAGE_AT_100K * size / 100_000))


def list_paths(size: int) -> dict[str, str]:
    """The list requests to measure at SIZE, by name (the keyset one is added when known)."""
    quote = urllib.parse.quote
    paths = {
        "first page": f"/api/attendees?per_page={PER_PAGE}",
        DEEP: (f"/api/attendees?per_page={PER_PAGE}&page={deep_page(size)}"),
        "search, common term": f"/api/attendees?per_page={PER_PAGE}&q={quote(COMMON_TERM)}",
        "search, rare term": f"/api/attendees?per_page={PER_PAGE}&q={quote(RARE_TERM)}",
    }
    for sort in SORT_FIELDS:
        for order in ("asc", "desc"):
            paths[f"sort {sort} {order}"] = (
                f"/api/attendees?per_page={PER_PAGE}&sort={sort}&order={order}"
            )
    return paths


def fetch_json(url: str) -> dict:
    """GET URL (loopback only) and decode its JSON."""
    with open_url(url, timeout=600) as response:
        return json.load(response)


def drain(url: str) -> None:
    """Wait until the requests that wrk left in flight are answered: the next run starts idle.

    A slow query's backlog outlives the wrk run that caused it; the database answers in
    turn, so one more list request comes back only after the backlog.
    """
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        try:
            fetch_json(f"{url}/api/attendees?per_page=1")
            return
        except OSError:  # nginx's 504 (urllib's HTTPError is an OSError) or a reset
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def deep_cursor(url: str, size: int) -> str | None:
    """The `after` cursor that starts where the deep page starts; None if the backend has none."""
    page = deep_page(size)
    if page == 1:
        return "" if "next_after" in fetch_json(f"{url}/api/attendees?per_page=1") else None
    previous = fetch_json(f"{url}/api/attendees?per_page={PER_PAGE}&page={page - 1}")
    return previous.get("next_after")


def direct_queries(attendees: Collection, size: int, some_id) -> dict[str, Callable[[], object]]:
    """The queries the list, get and create endpoints make, as this backend makes them."""

    def page(criteria: dict, sort="full_name", order="asc", skip=0) -> Callable[[], object]:
        """A count (as the list counts) and one page of 20."""
        direction = ASCENDING if order == "asc" else DESCENDING
        order_by = [(sort, direction), ("_id", direction)]

        def run() -> object:
            if criteria:
                count = len(list(attendees.find(criteria, {"_id": 1}).limit(search.COUNT_CAP + 1)))
            else:
                count = attendees.estimated_document_count()
            return count, list(attendees.find(criteria).sort(order_by).skip(skip).limit(PER_PAGE))

        return run

    skip = (deep_page(size) - 1) * PER_PAGE
    queries = {
        "first page": page({}),
        DEEP: page({}, skip=skip),
        "search, common term": page(search.criteria(COMMON_TERM)),
        "search, rare term": page(search.criteria(RARE_TERM)),
    }
    if skip:
        order = [("full_name", ASCENDING), ("_id", ASCENDING)]
        before = attendees.find_one({}, sort=order, skip=skip - 1)
        assert before is not None, "a deep page's predecessor exists: skip < size"
        cursor = keyset.encode("full_name", "asc", before)
        queries[DEEP_AFTER] = lambda: (
            attendees.estimated_document_count(),
            keyset.page_after(attendees, {}, "full_name", "asc", cursor, PER_PAGE),
        )
    else:
        queries[DEEP_AFTER] = queries["first page"]
    for sort in SORT_FIELDS:
        for direction in ("asc", "desc"):
            queries[f"sort {sort} {direction}"] = page({}, sort, direction)
    queries["get by id"] = lambda: attendees.find_one({"_id": some_id})
    return queries


def time_direct(call: Callable[[], object], seconds: float) -> Direct:
    """Call CALL in a loop for SECONDS (at least 3 times): median latency and calls/s."""
    call()  # warm-up: the first call pays for connecting and the server's caches
    latencies: list[float] = []
    started = time.perf_counter()
    while len(latencies) < 3 or time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
        if len(latencies) >= 100_000:
            break
    elapsed = time.perf_counter() - started
    return Direct(sorted(latencies)[len(latencies) // 2] * 1000, len(latencies) / elapsed)


def measure_stack(url: str, size: int, args, uri: str, some_id: str) -> dict[str, Result]:
    """wrk through nginx on every endpoint at SIZE: reads first, the create last."""
    targets = {name: url + path for name, path in list_paths(size).items()}
    cursor = deep_cursor(url, size)
    if cursor is not None:  # at page 1 (the smallest size), the first page is the deep page
        after = f"&after={cursor}" if cursor else ""
        targets[DEEP_AFTER] = f"{url}/api/attendees?per_page={PER_PAGE}{after}"
    targets["get by id"] = f"{url}/api/attendees/{some_id}"
    found = {}
    for name, target in targets.items():
        print(f"    {name} ...", flush=True)
        if not args.quick:
            run_wrk(target, CONNECTIONS, 1)  # warm-up, not recorded
            drain(url)
        runs = []
        for _ in range(args.growth_repeats):
            runs.append(run_wrk(target, CONNECTIONS, args.growth_seconds))
            drain(url)
        found[name] = median(runs)
    print("    create ...", flush=True)
    runs = []
    for repeat in range(args.growth_repeats):
        tag = f"growth-{size}-r{repeat}"
        runs.append(run_wrk(f"{url}/api/attendees", CONNECTIONS, args.growth_seconds, tag))
        drain(url)
        remove_bench_attendees(uri, MONGO_DB)
    found["create"] = median(runs)
    return found


def measure_size(size: int, args, state: Path, results: GrowthResults) -> None:
    """Fill a fresh database with SIZE attendees and measure every endpoint at that size."""
    database = start_mongo(state / f"db-{size}")
    try:
        results.database = database.kind
        client: MongoClient[Document] = MongoClient(database.uri, tz_aware=True)
        with client:
            db = client[MONGO_DB]
            db[META].insert_one({"_id": SEED_MARKER, "seeded_at": None})  # no sample seeding
            started = time.monotonic()
            bulk_insert(db[ATTENDEES], size)
            results.insert_seconds[size] = time.monotonic() - started
            print(f"  {size:,} attendees inserted in {results.insert_seconds[size]:.1f} s")
            extra = {"SEED_ON_START": "false"}
            if args.backend:
                extra["PYTHONPATH"] = str(args.backend)
            with ServerStack(
                state_dir=state / f"stack-{size}",
                replicas=args.replicas,
                port=free_port(),
                mongo_uri=database.uri,
                config=SHIPPED,
                extra_env=extra,
            ) as stack:
                for _ in range(2 * args.replicas):  # every replica prepares (indexes) first
                    # An attendee halfway in, or as deep as a page may skip (MAX_SKIP).
                    middle = min(size // 2, MAX_SKIP + 1)
                    some = fetch_json(f"{stack.url}/api/attendees?per_page=1&page={middle}")
                some_id = some["items"][0]["id"]
                stack_results = measure_stack(stack.url, size, args, database.uri, some_id)
            queries = direct_queries(db[ATTENDEES], size, ObjectId(some_id))
            seconds = min(1.0, args.growth_seconds)
            for name, result in stack_results.items():
                call = queries.get(name)
                direct = time_direct(call, seconds) if call else None
                results.points.append(Point(name, size, result, direct))
    finally:
        database.stop()


def measure(args) -> GrowthResults:
    """The growth part: every size in turn, each with a database and a stack of its own."""
    sizes = args.sizes or list(QUICK_SIZES if args.quick else SIZES)
    backend = str(args.backend) if args.backend else "this checkout"
    results = GrowthResults(
        sizes, args.growth_seconds, args.growth_repeats, CONNECTIONS, backend, ""
    )
    for size in sizes:
        print(f"bench: growth at {size:,} attendees", flush=True)
        measure_size(size, args, args.state_dir / "growth", results)
    return results
