"""The server launcher: settings from the environment, and a real granian process end to end."""

import contextlib
import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from pymongo import MongoClient

from attendee_directory import request_log, serve
from attendee_directory.collection_names import REPLICAS
from devtools.processes import port_open, wait_until
from tests.backend.granian_replica import start_replica, worker_pids


def test_options_come_from_the_environment(monkeypatch):
    """Workers, threads, port and grace period are read from the environment."""
    for name, value in {"PORT": "6001", "WEB_CONCURRENCY": "3", "WEB_THREADS": "8"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRACEFUL_TIMEOUT", "7")
    options = serve.server_options()
    assert (options["port"], options["workers"], options["blocking_threads"]) == (6001, 3, 8)
    assert options["workers_kill_timeout"] == 7
    assert options["http1_settings"].header_read_timeout == serve.IDLE_TIMEOUT_SECONDS * 1000


@pytest.mark.parametrize(("name", "value"), [("WEB_CONCURRENCY", "0"), ("WEB_THREADS", "many")])
def test_bad_settings_stop_the_launcher_with_a_message(monkeypatch, capsys, name, value):
    """A bad value exits with status 2 and a message naming the variable, before any fork."""
    monkeypatch.setenv(name, value)
    assert serve.main([]) == 2
    assert name in capsys.readouterr().err


def test_replica_serves_then_stops_and_writes_its_counts(settings, tmp_path):
    """Two workers answer; on SIGTERM they stop cleanly and write what they counted on exit.

    STATS_FLUSH_SECONDS is an hour, so only the workers' exit hooks can have written the count.
    """
    log = tmp_path / "replica.log"
    replica = start_replica(
        settings.mongo_uri,
        settings.mongo_db,
        log,
        WEB_CONCURRENCY="2",
        WEB_THREADS="2",
        REPLICA_NAME="serve-test",
        STATS_FLUSH_SECONDS="3600",
    )
    process, url = replica.process, replica.url
    try:
        for _ in range(20):
            with urllib.request.urlopen(f"{url}/api/whoami", timeout=5) as response:  # noqa: S310
                assert json.load(response)["replica"] == "serve-test"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    text = log.read_text()
    assert code == 0, text
    answered = text.count("attendee_directory.access")
    assert answered >= 21  # the 20 whoami and at least one health check
    with MongoClient(settings.mongo_uri) as client:
        doc = client[settings.mongo_db][REPLICAS].find_one({"_id": "serve-test"})
        client.drop_database(settings.mongo_db)
    assert doc is not None, text
    assert doc["requests"] == answered


def _alive(pid: int) -> bool:
    """True while PID exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_with_a_killed_main_process(settings, tmp_path):
    """kill -9 of granian's main process leaves no worker listening on the replica's port."""
    replica = start_replica(
        settings.mongo_uri, settings.mongo_db, tmp_path / "r.log", WEB_CONCURRENCY="2"
    )
    process, port = replica.process, replica.port
    try:
        wait_until(lambda: len(worker_pids(process.pid)) == 2, timeout=30, what="2 workers")
        workers = worker_pids(process.pid)
        process.send_signal(signal.SIGKILL)  # the main process only, not its group
        process.wait(10)
        wait_until(lambda: not any(map(_alive, workers)), timeout=10, what="workers to die")
        wait_until(lambda: not port_open(port), timeout=10, what="the port to close")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_a_killed_worker_loses_at_most_the_flush_interval_of_access_lines(settings, tmp_path):
    """SIGKILL of the one worker under a stream of requests: every answered request is in the
    log but those answered in the last WRITE_EVERY_SECONDS (counted with a margin of as much
    again, for the writer's own write); nothing is logged twice or unanswered."""
    log = tmp_path / "replica.log"
    replica = start_replica(settings.mongo_uri, settings.mongo_db, log)
    process, url = replica.process, replica.url
    answered: list[float] = []
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            request = urllib.request.Request(  # noqa: S310
                f"{url}/api/whoami", headers={"X-Request-ID": f"kill-test-{len(answered)}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    response.read()
            except OSError:
                return  # the worker is gone
            answered.append(time.monotonic())

    try:
        wait_until(lambda: len(worker_pids(process.pid)) == 1, timeout=30, what="the worker")
        [worker] = worker_pids(process.pid)
        client = threading.Thread(target=stream)
        client.start()
        wait_until(lambda: len(answered) >= 300, timeout=30, what="300 answers")
        time.sleep(1.0)  # a second of load: most answers are older than the window below
        killed_at = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        stop.set()
        client.join(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    window = 2 * request_log.WRITE_EVERY_SECONDS
    recent = sum(1 for moment in answered if moment > killed_at - window)
    logged = [line for line in log.read_text().splitlines() if "request_id=kill-test-" in line]
    ids = [line.split(" request_id=", 1)[1].split()[0] for line in logged]
    assert len(ids) == len(set(ids)), "a line written twice"
    assert len(ids) <= len(answered) + 1  # the request in flight at the kill may be logged
    assert len(answered) - len(ids) <= recent, (len(answered), len(ids), recent)
