"""The stack through the real nginx: balancing, failover, writes, limits, headers, JSON errors."""

import collections
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from devtools.processes import wait_until
from devtools.signin import ADMIN, browser_session, token_session
from tests.stack_helpers import (
    REPLICAS,
    admin_token,
    new_stack,
    served_by,
    stream,
    wait_for,
    wait_for_write_budget,
)

pytestmark = pytest.mark.stack


def test_round_robin_splits_30_gets_evenly(stack, http):
    """30 GETs over 3 replicas: each gets 10 ± 1, as the X-Served-By header shows."""
    seen = served_by(http, f"{stack.url}/api/whoami", 30, timeout=5)
    assert len(seen) == REPLICAS, seen
    assert all(9 <= n <= 11 for n in seen.values()), seen
    addresses = {http.get(f"{stack.url}/api/whoami").headers["X-Upstream-Addr"] for _ in range(6)}
    assert addresses == {f"127.0.0.1:{r.port}" for r in stack.backends}


def test_replica_split_is_reported_by_the_api(stack, http):
    """/api/replicas, kept in MongoDB with $inc, names every replica with its share."""
    served_by(http, f"{stack.url}/api/whoami", 9, timeout=5)
    split = http.get(f"{stack.url}/api/replicas").json()
    names = {r["replica"].rsplit("/", 1)[-1] for r in split["replicas"]}
    assert names == {r.name for r in stack.backends}
    assert all(r["requests"] >= 3 for r in split["replicas"])


def test_kill_9_of_a_replica_during_200_gets_loses_none(tmp_path_factory):
    """kill -9 one replica mid-stream: all 200 GETs still answer 2xx (nginx retries the next)."""
    with new_stack(tmp_path_factory, "failover") as failover:
        statuses: list[int] = []
        stop = threading.Event()
        url = f"{failover.url}/api/attendees?per_page=5"
        reader = threading.Thread(
            target=stream,
            args=(url, statuses, stop, 200),
            kwargs={"timeout": 10, "token": admin_token(failover)},
        )
        reader.start()
        try:
            wait_for(statuses, 50)
            killed = failover.kill_replica(0)
            reader.join(90)
        finally:
            stop.set()
            reader.join(30)
        assert len(statuses) == 200
        bad = [s for s in statuses if not 200 <= s < 300]
        assert bad == [], f"{len(bad)} failed requests after killing {killed.name}"
        assert killed.process.poll() is not None


def test_create_update_delete_through_the_proxy(stack, http):
    """Writes work through nginx: 201 with Location, PATCH, DELETE, then 404."""
    body = {
        "full_name": "Proxy Tester",
        "email": f"proxy-{time.time_ns()}@example.edu",
        "year_of_birth": 2000,
        "gender": "other",
        "university": "PTIT",
        "major": "Networking",
    }
    created = http.post(f"{stack.url}/api/attendees", json=body)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith("/api/attendees/")
    patched = http.patch(f"{stack.url}{location}", json={"major": "Cloud"})
    assert patched.status_code == 200 and patched.json()["major"] == "Cloud"
    assert http.get(f"{stack.url}{location}").json()["major"] == "Cloud"
    assert http.delete(f"{stack.url}{location}").status_code == 204
    assert http.get(f"{stack.url}{location}").status_code == 404


def test_validation_errors_pass_through_as_json(stack, http):
    """The backend's 422 reaches the client unchanged, naming the field."""
    response = http.post(f"{stack.url}/api/attendees", json={"year_of_birth": 1800})
    assert response.status_code == 422
    assert "year_of_birth" in response.json()["fields"]


def test_write_rate_limit_answers_429_in_json(stack, http):
    """Past the write rate (10/s, burst 20) nginx answers 429 with a JSON body; reads go on."""
    wait_for_write_budget()  # earlier tests' writes may still count against the budget
    statuses = collections.Counter()
    limited = None
    started = time.monotonic()
    for _ in range(60):
        response = http.post(f"{stack.url}/api/attendees", json={})
        statuses[response.status_code] += 1
        if response.status_code == 429:
            limited = response
    elapsed = time.monotonic() - started
    assert statuses[429] > 0, statuses
    # The burst of 20, plus what the 10/s rate refilled meanwhile, went through to the backend.
    assert 20 <= statuses[422] <= 21 + 10 * elapsed, (statuses, elapsed)
    assert limited.json()["error"] == "too_many_requests"
    assert limited.headers["Content-Type"].startswith("application/json")
    assert http.get(f"{stack.url}/api/whoami").status_code == 200
    wait_for_write_budget()


def test_body_over_the_limit_is_refused_by_nginx(stack, http):
    """A 17 KiB body gets 413 from nginx itself (no X-Served-By), as JSON."""
    response = http.post(
        f"{stack.url}/api/attendees",
        data=b"{" + b" " * (17 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert "X-Served-By" not in response.headers


@pytest.mark.parametrize("path", ["/", "/api/attendees", "/api/nothing"])
def test_security_headers_on_every_response(stack, http, path):
    """CSP with frame-ancestors, nosniff, Referrer-Policy and no version in Server."""
    response = http.get(f"{stack.url}{path}")
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Server"] == "nginx"  # server_tokens off: no version


def _logged(path: Path, wanted: str, timeout: float = 10, written: str = "") -> list[str]:
    """The lines of PATH that contain WANTED, polled until one of them also contains WRITTEN
    (nginx writes its log once a second, the replicas every 0.1 s) or TIMEOUT passes."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        found = [line for line in text.splitlines() if wanted in line]
        if any(written in line for line in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_nginx_makes_every_request_id_and_keeps_a_clients_beside_it(stack, http):
    """nginx always makes the X-Request-ID; a client's own id (if it looks like one) reaches the
    replica as X-Client-Request-ID, and nginx's line, the replica's line and the audit entry
    file the request under nginx's id with the client's beside it, marked as the client's."""
    generated = http.get(f"{stack.url}/api/whoami").headers["X-Request-ID"]
    assert len(generated) == 32
    mine = f"test-{time.time_ns()}"
    body = {
        "full_name": "Request Id",
        "email": f"request-id-{time.time_ns()}@example.edu",
        "year_of_birth": 2000,
        "gender": "other",
        "university": "PTIT",
        "major": "Networking",
    }
    created = http.post(f"{stack.url}/api/attendees", json=body, headers={"X-Request-ID": mine})
    assert created.status_code == 201, created.text
    ours = created.headers["X-Request-ID"]
    assert ours != mine and len(ours) == 32
    history = http.get(f"{stack.url}{created.headers['Location']}/history").json()["items"]
    assert (history[0]["request_id"], history[0]["client_request_id"]) == (ours, mine)
    assert http.delete(f"{stack.url}{created.headers['Location']}").status_code == 204

    hostile = http.get(f"{stack.url}/api/whoami", headers={"X-Request-ID": 'a b"c'})
    assert hostile.headers["X-Request-ID"] not in ('a b"c', mine)
    replica_lines = []
    deadline = time.monotonic() + 10
    while not replica_lines and time.monotonic() < deadline:
        replica_lines = [
            line
            for log in stack.logs.glob("backend-*.log")
            for line in log.read_text().splitlines()
            if f"request_id={ours}" in line
        ]
        time.sleep(0.1)
    assert len(replica_lines) == 1, replica_lines
    expected = f"request_id={ours} client_request_id={mine} forwarded_for=127.0.0.1"
    assert expected in replica_lines[0], replica_lines
    (nginx_line,) = _logged(stack.state_dir / "nginx" / "access.log", f"request_id={ours}")
    assert nginx_line.endswith(f"request_id={ours} client_request_id={mine}")
    (hostile_line,) = _logged(
        stack.state_dir / "nginx" / "access.log", f"request_id={hostile.headers['X-Request-ID']}"
    )
    assert hostile_line.endswith("client_request_id=")  # not an id: not passed on at all


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_one_id_finds_a_request_down_the_database_down_path_in_every_tier(
    tmp_path_factory, monkeypatch, log_format
):
    """The database stopped, one read through nginx: its id (nginx's X-Request-ID) is on the
    replica's access line, on the replica's "database unavailable" warning (a logging record,
    given the id by the request's context, not by hand) and on nginx's access line, in both
    LOG_FORMATs."""
    monkeypatch.setenv("LOG_FORMAT", log_format)
    with new_stack(tmp_path_factory, f"db-down-{log_format}", replicas=1) as running:
        token = admin_token(running)
        running.running_database().stop()
        # The replica's pooled connections find out first (its readiness says so), so that the
        # request below meets the outage in the replica's usual second, not a dying socket's.
        readyz = f"http://127.0.0.1:{running.backends[0].port}/readyz"
        wait_until(
            lambda: (
                requests.get(readyz, headers=running.replica_headers, timeout=5).status_code == 503
            ),
            timeout=20,
            what="the replica to notice the stopped database",
        )
        answer = requests.get(
            f"{running.url}/api/attendees",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "client-42"},
            timeout=10,
        )
        assert answer.status_code == 503, answer.text
        request_id = answer.headers["X-Request-ID"]
        replica = _logged(running.logs / "backend-1.log", request_id, written=".access")
        nginx_line = _logged(running.state_dir / "nginx" / "access.log", request_id)
    warnings = [line for line in replica if "database unavailable on GET /api/attendees" in line]
    access = [line for line in replica if "attendee_directory.access" in line]
    assert len(warnings) == 1 and len(access) == 1 and len(nginx_line) == 1, replica + nginx_line
    if log_format == "json":
        warning, line, front = (json.loads(x) for x in (warnings[0], access[0], nginx_line[0]))
        assert warning["level"] == "WARNING" and line["status"] == 503 and front["status"] == 503
        for record in (warning, line, front):
            assert record["request_id"] == request_id, record
            assert record["client_request_id"] == "client-42", record
    else:
        assert warnings[0].endswith(f"request_id={request_id} client_request_id=client-42")
        assert f"request_id={request_id} client_request_id=client-42" in access[0]
        assert " 503 " in nginx_line[0]


def test_gzip_and_static_cache_headers(stack, http):
    """JSON is gzip-compressed when asked; HTML revalidates, scripts and styles cache."""
    listing = http.get(
        f"{stack.url}/api/attendees?per_page=50", headers={"Accept-Encoding": "gzip"}
    )
    assert listing.headers.get("Content-Encoding") == "gzip"
    page = http.get(f"{stack.url}/")
    assert page.status_code == 200
    assert "no-cache" in page.headers["Cache-Control"]
    script = http.get(f"{stack.url}/app.js")
    assert "no-cache" in script.headers["Cache-Control"]
    again = http.get(f"{stack.url}/app.js", headers={"If-None-Match": script.headers["ETag"]})
    assert again.status_code == 304
    icon = http.get(f"{stack.url}/favicon.svg")
    assert icon.headers["Cache-Control"] == "max-age=86400"


def test_nginx_errors_under_api_are_json(tmp_path_factory):
    """With every replica down, /api answers 502 in JSON, not nginx's HTML page."""
    with new_stack(tmp_path_factory, "all-down", replicas=1) as stack:
        stack.kill_replica(0)
        response = requests.get(f"{stack.url}/api/attendees", timeout=10)
        assert response.status_code == 502
        assert response.json() == {
            "error": "bad_gateway",
            "message": "no backend replica could answer",
        }
        assert requests.get(f"{stack.url}/nginx-health", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "error"),
    [
        ("TRACE", "/api/attendees", {}, 405, "method_not_allowed"),
        ("GET", "/api/attendees", {"X-Big": "a" * 20_000}, 400, "bad_request"),
        ("GET", "/api/" + "a" * 9_000, {}, 414, "uri_too_long"),
    ],
)
def test_errors_that_nginx_makes_itself_are_json(stack, http, method, path, headers, status, error):
    """nginx's own refusals (before any replica sees the request) use the API's JSON shape."""
    response = http.request(method, f"{stack.url}{path}", headers=headers)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    assert "X-Served-By" not in response.headers


def test_nginx_405_names_the_methods_the_path_allows(stack, http):
    """TRACE is refused by nginx with the Allow header the backend would send for that path."""
    one = http.request("TRACE", f"{stack.url}/api/attendees/0123456789abcdef01234567?x=1")
    assert one.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"
    backend = http.options(f"{stack.url}/api/attendees")
    listing = http.request("TRACE", f"{stack.url}/api/attendees")
    assert set(listing.headers["Allow"].split(", ")) == set(backend.headers["Allow"].split(", "))
    assert "Allow" not in http.get(f"{stack.url}/api/whoami").headers


def test_canary_pool_gets_its_weight(tmp_path_factory):
    """--canary: two main replicas at weight 4 and a canary at 1 split 90 GETs 40/40/10."""
    with new_stack(tmp_path_factory, "canary", replicas=2, canary=True) as canary:
        with requests.Session() as http:
            seen = served_by(http, f"{canary.url}/api/whoami", 90, timeout=5)
        by_role = {name.rsplit("/", 1)[-1]: n for name, n in seen.items()}
        assert by_role == {"backend-1": 40, "backend-2": 40, "canary": 10}, seen


def test_nothing_is_left_behind_after_stop(tmp_path_factory):
    """stop() ends nginx, every replica and the database it started."""
    stack = new_stack(tmp_path_factory, "cleanup", replicas=2).start()
    pids = [stack.nginx_process.pid, stack.database.process.pid]
    pids += [r.process.pid for r in stack.backends]
    stack.stop()
    alive = subprocess.run(
        ["ps", "-o", "pid=", "-p", ",".join(map(str, pids))], capture_output=True, text=True
    ).stdout.split()
    assert alive == []


def test_a_sign_out_ends_the_session_on_every_replica_at_once(stack):
    """Sign in, sign out through nginx: the very next requests, whichever replica answers
    them (each of the 3 is asked), are 401, although every replica had the session in its
    credential cache; so is a token from the moment its revocation has answered."""
    with browser_session(stack.url, ADMIN, stack.admin_password()) as browser:
        assert len(served_by(browser, f"{stack.url}/api/attendees", REPLICAS)) == REPLICAS
        cookie = browser.cookies.get("vdt_session")
        assert browser.delete(f"{stack.url}/api/session", timeout=10).status_code == 204
        answers = [
            requests.get(f"{stack.url}/api/attendees", cookies={"vdt_session": cookie}, timeout=10)
            for _ in range(REPLICAS)
        ]
    assert [a.status_code for a in answers] == [401] * REPLICAS
    assert len({a.headers["X-Served-By"] for a in answers}) == REPLICAS

    token = admin_token(stack)
    with token_session(token) as script:
        assert len(served_by(script, f"{stack.url}/api/attendees", REPLICAS)) == REPLICAS
        made = script.get(f"{stack.url}/api/tokens").json()["items"][0]  # the newest: this one
        assert script.delete(f"{stack.url}/api/tokens/{made['id']}").status_code == 204
        statuses = [script.get(f"{stack.url}/api/attendees").status_code for _ in range(REPLICAS)]
    assert statuses == [401] * REPLICAS
