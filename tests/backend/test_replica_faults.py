"""A real granian replica (attendee_directory.serve) under faults: oversized chunked bodies,
a stopped database, and paths that try to forge log lines."""

import contextlib
import json
import socket
import statistics
import threading
import time
import urllib.request

import pytest
import requests

from devtools.local_stack.mongo_server import start_mongo
from devtools.processes import http_ok, stop, wait_until
from devtools.signin import ADMIN, api_token
from tests.backend.granian_replica import start_replica
from tests.backend.signed_in import ADMIN_PASSWORD

LIMIT = 16 * 1024  # MAX_BODY_BYTES's default, which the replica runs with
# The admin's API token of each running replica, by port: the attendee routes need one.
TOKENS: dict[int, str] = {}


@pytest.fixture
def own_server(tmp_path):
    """A database server of this test's own, so that it can be stopped."""
    server = start_mongo(tmp_path / "db")
    yield server
    server.stop()


@contextlib.contextmanager
def replica(mongo_uri: str, log_path, threads: int = 4, **env):
    """A replica of one worker with THREADS threads on database "faults"; yield its port."""
    started = start_replica(
        mongo_uri,
        "faults",
        log_path,
        WEB_THREADS=str(threads),
        REPLICA_NAME="faults",
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        **env,
    )
    try:
        TOKENS[started.port] = api_token(started.url, ADMIN, ADMIN_PASSWORD)
        yield started.port
    finally:
        TOKENS.pop(started.port, None)
        stop(started.process)


def authorization(port: int) -> dict[str, str]:
    """The Authorization header of the admin of the replica on PORT."""
    return {"Authorization": f"Bearer {TOKENS[port]}"}


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, bytes]:
    """Send HEAD (request line and headers) and BODY on a new connection; return status, body."""
    head += "".join(f"{name}: {value}\n" for name, value in authorization(port).items())
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        received = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    header, _, payload = received.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        payload = _unchunk(payload)
    return status, payload


def _unchunk(data: bytes) -> bytes:
    """Decode a chunked response body."""
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2 :]
    return out


def chunked(body: bytes, piece: int = 4096) -> bytes:
    """BODY in chunked transfer coding, PIECE bytes a chunk."""
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece])
        for i in range(0, len(body), piece)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def post_chunked(port: int, body: bytes) -> tuple[int, bytes]:
    """POST BODY to /api/attendees in chunked transfer coding, straight to the replica."""
    head = (
        "POST /api/attendees HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        "Transfer-Encoding: chunked\nConnection: close\n"
    )
    return raw_request(port, head, chunked(body))


def attendee(email: str) -> dict:
    """A valid attendee with EMAIL."""
    return {
        "full_name": "Chunked Body",
        "email": email,
        "year_of_birth": 2000,
        "gender": "other",
        "university": "HUST",
        "major": "Networks",
    }


def padded(email: str, size: int) -> bytes:
    """A valid attendee body of exactly SIZE bytes (JSON whitespace fills it)."""
    body = json.dumps(attendee(email)).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def count(port: int) -> int:
    """How many attendees the replica lists."""
    asked = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/attendees", headers=authorization(port)
    )
    with urllib.request.urlopen(asked, timeout=10) as r:  # noqa: S310 (loopback only)
        return json.load(r)["total"]


def test_a_chunked_body_over_the_limit_is_413_never_a_parsed_prefix(mongo_server, tmp_path):
    """Straight to a replica (no nginx): a chunked body past MAX_BODY_BYTES is a JSON 413,
    whether its first 16 KiB are valid JSON or not; a chunked body within it is served."""
    with replica(mongo_server.uri, tmp_path / "replica.log") as port:
        # Exactly the limit, chunked: accepted (the check is not "chunked means refused").
        status, body = post_chunked(port, padded("exact@example.edu", LIMIT))
        assert status == 201, body
        # A valid 16 KiB of JSON followed by 4 KiB of garbage: once truncated and stored.
        status, body = post_chunked(port, padded("prefix@example.edu", LIMIT) + b"x" * 4096)
        assert status == 413, body
        assert json.loads(body)["error"] == "payload_too_large"
        # One byte over, and a 200 KiB body.
        for size in (LIMIT + 1, 200 * 1024):
            status, body = post_chunked(port, padded(f"s{size}@example.edu", size))
            assert status == 413, (size, body)
            assert json.loads(body)["error"] == "payload_too_large"
        assert count(port) == 1


def _forged_path() -> str:
    """The path of the issue's report: a %0a and a fake log line after it."""
    return "/api/attendees/zz%0a2026-01-01%2000:00:00,000%20CRITICAL%20x:%20FORGED"


def test_a_path_cannot_forge_a_log_line_while_the_database_is_down(own_server, tmp_path):
    """The warning for a database outage names the path escaped: no line of the log is forged."""
    log = tmp_path / "replica.log"
    with replica(own_server.uri, log, MONGO_TIMEOUT_MS="300") as port:
        own_server.stop()
        status, body = raw_request(
            port, f"GET {_forged_path()} HTTP/1.1\nHost: x\nConnection: close\n"
        )
        assert status == 503, body
        time.sleep(0.5)  # the log writer flushes every 0.1 s
    lines = log.read_text().splitlines()
    warning = [line for line in lines if "database unavailable on GET /api/attendees/zz" in line]
    assert warning, "\n".join(lines)
    assert "%0A" in warning[0]
    assert not [line for line in lines if line.startswith("2026-01-01 00:00:00,000 CRITICAL")]


def _timed_get(url: str) -> tuple[int, float]:
    """GET URL; return its status and how long it took."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback only)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.perf_counter() - began


def test_a_stopped_database_fails_fast_and_spares_whoami_and_healthz(own_server, tmp_path):
    """With the database stopped and 24 clients on database endpoints, requests answer 503 at
    once (a failed server selection is remembered for a second), /api/whoami and /healthz
    answer in milliseconds, and the replica serves again by itself once the database is back."""
    with replica(own_server.uri, tmp_path / "replica.log", MONGO_TIMEOUT_MS="2000") as port:
        base = f"http://127.0.0.1:{port}"
        assert count(port) == 0
        own_server.stop()
        stop_event = threading.Event()
        database_answers: list[tuple[int, float]] = []

        def load() -> None:
            with requests.Session() as session:  # keep-alive, as nginx's upstream connections
                session.headers.update(authorization(port))
                while not stop_event.is_set() and len(database_answers) < 20_000:
                    began = time.perf_counter()
                    status = session.get(f"{base}/api/attendees", timeout=10).status_code
                    database_answers.append((status, time.perf_counter() - began))

        workers = [threading.Thread(target=load) for _ in range(24)]
        for worker in workers:
            worker.start()
        probes = {"whoami": [], "healthz": []}
        try:
            # The first requests each wait MONGO_TIMEOUT_MS for a server (some a second time,
            # after the broken pooled connections): wait until a 503 comes at once.
            wait_until(
                lambda: database_answers[-1][1] < 0.1 if database_answers else False,
                timeout=15,
                what="a fast 503",
            )
            time.sleep(0.5)
            for _ in range(40):
                for name, path in (("whoami", "/api/whoami"), ("healthz", "/healthz")):
                    status, took = _timed_get(f"{base}{path}")
                    assert status == 200
                    probes[name].append(took)
                time.sleep(0.02)
        finally:
            stop_event.set()
            for worker in workers:
                worker.join(15)
        statuses = {status for status, _ in database_answers}
        assert statuses == {503}, statuses
        late = [took for _, took in database_answers[len(database_answers) // 2 :]]
        figures = {name: (statistics.median(times), max(times)) for name, times in probes.items()}
        print(
            f"\ndown: {len(database_answers)} 503s, later median {statistics.median(late):.4f} s;"
            f" whoami/healthz (median, max): {figures}"
        )
        assert statistics.median(late) < 0.1
        for name, (median, longest) in figures.items():
            assert median < 0.1, (name, figures)
            assert longest < 0.5, (name, figures)

        own_server.restart()
        wait_until(lambda: http_ok(f"{base}/readyz"), timeout=10, what="recovery")
        assert count(port) == 0
