"""Prometheus metrics: labels and values in one process, then a real granian replica's workers."""

import contextlib
import os
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from devtools.processes import free_port, http_ok, wait_until
from tests.backend.granian_replica import start_replica, worker_pids
from tests.backend.signed_in import ADMIN_PASSWORD

REQUESTS = "attendee_directory_http_requests"


def _samples(text: str) -> list[tuple[str, dict, float]]:
    """Every sample of a /metrics answer as (name, labels, value)."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _value(samples, name: str, **labels) -> float:
    """The sum of NAME's samples whose labels include LABELS."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def test_requests_are_counted_by_route_template_method_and_status(client, attendee_body):
    """A path with an id counts under its template; an unknown path under one 'unmatched'."""
    created = client.post("/api/attendees", json=attendee_body(email="ada.metrics@example.org"))
    assert created.status_code == 201, created.get_json()
    attendee_id = created.get_json()["id"]
    before = _samples(client.get("/metrics").get_data(as_text=True))
    assert client.get(f"/api/attendees/{attendee_id}").status_code == 200
    assert client.get("/no/such/path/1").status_code == 404
    assert client.get("/no/such/path/2").status_code == 404
    after = _samples(client.get("/metrics").get_data(as_text=True))

    def grew(**labels) -> float:
        """How much the request counter with LABELS grew between the two scrapes."""
        name = f"{REQUESTS}_total"
        return _value(after, name, **labels) - _value(before, name, **labels)

    routes = {labels.get("route") for _, labels, _ in after}
    template = "/api/attendees/<attendee_id>"
    assert template in routes, routes
    assert grew(route=template, method="GET", status="200") == 1
    assert grew(route="unmatched", method="GET", status="404") == 2
    assert not any(attendee_id in str(labels) for _, labels, _ in after)
    latency = "attendee_directory_http_request_duration_seconds_count"
    assert _value(after, latency, route="unmatched") - _value(before, latency, route="unmatched")


def test_sign_ins_are_counted_by_outcome(make_app, client, anonymous):
    """Successes, wrong passwords and attempts the throttle refused are each counted (the
    dashboard's sign-in panels read them), the refused ones without a password check."""
    quick = make_app(signin_account_attempts=2)
    browser = quick.test_client()
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    name = "attendee_directory_signins_total"
    before = {o: _value(samples, name, outcome=o) for o in ("success", "failure", "locked")}
    for password in ("wrong guess", "wrong guess", "wrong guess", ADMIN_PASSWORD):
        browser.post("/api/session", json={"username": "admin", "password": password})
    quick.test_client().post("/api/session", json={"username": "admin", "password": ADMIN_PASSWORD})
    other = {"username": "counted", "password": "a long enough password"}
    assert client.post("/api/users", json={**other, "role": "viewer"}).status_code == 201
    assert browser.post("/api/session", json=other).status_code == 200
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    after = {o: _value(samples, name, outcome=o) for o in ("success", "failure", "locked")}
    assert after["failure"] - before["failure"] == 2
    assert after["locked"] - before["locked"] == 3  # the third guess, and the right password twice
    assert after["success"] - before["success"] == 1


def test_mongodb_commands_readiness_and_build_info(client, settings):
    """Commands are timed by name, readiness is 1 with a database, the info names the replica."""
    assert client.get("/api/attendees").status_code == 200
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    commands = {
        labels["command"]
        for name, labels, _ in samples
        if name == "attendee_directory_mongodb_command_duration_seconds_count"
    }
    assert {"find", "ping"} <= commands
    assert _value(samples, "attendee_directory_database_ready") == 1
    info = [labels for name, labels, _ in samples if name == "attendee_directory_build_info"]
    assert any(labels["replica"] == settings.replica_name for labels in info)
    assert all(labels["python"] and labels["granian"] for labels in info)


def test_a_failed_command_is_counted_as_an_error(app, client):
    """A command the server refuses counts as an error under its name, and is timed."""
    name = "renameCollection"
    with pytest.raises(OperationFailure):  # no "to": refused by mongod and nx-27017 alike
        app.extensions["mongo"].client().admin.command(name, "metrics.nothing")
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert _value(samples, "attendee_directory_mongodb_command_errors_total", command=name) == 1
    duration = "attendee_directory_mongodb_command_duration_seconds_count"
    assert _value(samples, duration, command=name) == 1


def test_an_unreachable_database_reads_not_ready(make_app):
    """With nothing listening at the database's address, the readiness gauge is 0."""
    port = free_port()
    gone = make_app(mongo_uri=f"mongodb://127.0.0.1:{port}/", mongo_timeout_ms=200)
    client = gone.test_client()
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert _value(samples, "attendee_directory_database_ready") == 0


def test_metrics_off_serve_no_metrics_and_still_answer(make_app):
    """METRICS=false: /metrics is the app's JSON 404, and the API answers as before."""
    plain = make_app(metrics=False).test_client()
    assert plain.get("/api/whoami").status_code == 200
    missing = plain.get("/metrics")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"


def _get(url: str) -> str:
    """GET URL on a new connection (so that both workers get some) and return the body."""
    request = urllib.request.Request(url, headers={"Connection": "close"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def _until_both_answered(url: str, workers: list[int], metrics_dir: Path) -> int:
    """GET URL in rounds of 8 at once until every worker has counted some; return how many.

    Which worker accepts a connection is the kernel's choice: concurrent requests spread them.
    """
    sent = 0
    deadline = time.monotonic() + 20  # a worker still importing the app accepts nothing yet
    with ThreadPoolExecutor(8) as pool:
        while sent < 2000 and time.monotonic() < deadline:
            list(pool.map(_get, [url] * 8))
            sent += 8
            counted = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*")}
            if set(workers) <= counted:
                return sent
            time.sleep(0.05)
    raise AssertionError(f"not every worker of {workers} answered in {sent} requests")


def _whoami_count(base: str) -> float:
    """The replica's count of answered GET /api/whoami, from its /metrics."""
    samples = _samples(_get(f"{base}/metrics"))
    return _value(samples, f"{REQUESTS}_total", route="/api/whoami", method="GET", status="200")


def test_two_workers_add_up_and_a_respawn_counts_nothing_twice(settings, tmp_path):
    """Counts from both workers add up; a killed worker's respawn neither loses nor repeats any.

    The metrics directory is the test's own, emptied at start: a stale file put there first
    must not be counted.
    """
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")
    replica = start_replica(
        settings.mongo_uri,
        settings.mongo_db,
        tmp_path / "r.log",
        WEB_CONCURRENCY="2",
        WEB_THREADS="2",
        REPLICA_NAME="metrics-test",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        ACCESS_LOG="false",
    )
    process, base = replica.process, replica.url
    try:
        wait_until(lambda: len(worker_pids(process.pid)) == 2, timeout=30, what="2 workers")
        assert not (metrics_dir / "counter_999999.db").exists()
        workers = worker_pids(process.pid)
        sent = _until_both_answered(f"{base}/api/whoami", workers, metrics_dir)
        assert _whoami_count(base) == sent

        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: victim not in worker_pids(process.pid) and len(worker_pids(process.pid)) == 2,
            timeout=30,
            what="the killed worker to be respawned",
        )
        wait_until(lambda: http_ok(f"{base}/healthz"), timeout=10, what="replica after respawn")
        for _ in range(10):
            _get(f"{base}/api/whoami")
        # What was sent before the kill (the dead worker's share included), 10 after, none twice.
        assert _whoami_count(base) == sent + 10
        assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db")), "dead worker's gauge kept"
        samples = _samples(_get(f"{base}/metrics"))
        # Only this scrape is in flight: nothing of the killed worker's is left in the sum.
        assert _value(samples, "attendee_directory_http_requests_in_flight") == 1
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            process.wait(30)
        with MongoClient(settings.mongo_uri) as client:
            client.drop_database(settings.mongo_db)


def test_a_replica_without_a_configured_dir_makes_and_removes_its_own(settings, tmp_path):
    """Unset PROMETHEUS_MULTIPROC_DIR: /metrics still adds up, and the made dir is removed."""
    replica = start_replica(
        settings.mongo_uri,
        settings.mongo_db,
        tmp_path / "r.log",
        WEB_CONCURRENCY="2",
        ACCESS_LOG="false",
        TMPDIR=str(tmp_path),
    )
    process, base = replica.process, replica.url
    try:
        for _ in range(6):
            _get(f"{base}/api/whoami")
        assert _whoami_count(base) == 6
        assert list(tmp_path.glob("attendee-directory-metrics-*"))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0
    assert not list(tmp_path.glob("attendee-directory-metrics-*"))


def test_one_worker_counts_in_process_exactly_and_writes_no_files(settings, tmp_path):
    """One worker (the image's default): PROMETHEUS_MULTIPROC_DIR is ignored, no value file is
    written, and N requests at 8 at once give exactly N in the counter, in-flight back to 1."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    replica = start_replica(
        settings.mongo_uri,
        settings.mongo_db,
        tmp_path / "r.log",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        ACCESS_LOG="false",
    )
    process, base = replica.process, replica.url
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(_get, [f"{base}/api/whoami"] * 400))
        assert _whoami_count(base) == 400
        samples = _samples(_get(f"{base}/metrics"))
        assert _value(samples, "attendee_directory_http_requests_in_flight") == 1
        assert list(metrics_dir.iterdir()) == []
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            process.wait(30)
