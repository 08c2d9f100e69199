"""Settings that live in one tier but must agree with another's, checked against each other."""

import re

import yaml

from attendee_directory import serve
from attendee_directory.config import Settings
from attendee_directory.db import Mongo
from devtools.paths import REPO


def _seconds(value: str) -> int:
    """nginx or compose durations as used here: '20s', '1m', '30'."""
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()
    return int(number) * (60 if unit == "m" else 1)


def test_nginx_drops_idle_upstream_connections_before_the_replicas_do():
    """Else a request (a POST is never retried) can go down a connection the replica closes."""
    template = (REPO / "webserver" / "nginx.conf.template").read_text()
    upstream = re.search(r"upstream backend \{(.*?)\n    \}", template, re.S).group(1)
    nginx_idle = _seconds(re.search(r"keepalive_timeout (\S+);", upstream).group(1))
    assert nginx_idle < serve.IDLE_TIMEOUT_SECONDS


def test_docker_waits_longer_than_the_graceful_shutdown(monkeypatch):
    """compose's stop_grace_period outlasts the backend's GRACEFUL_TIMEOUT, so nothing is cut."""
    compose = (REPO / "compose.yaml").read_text()
    backend = re.search(r"^  backend:\n(.*?)^  \w", compose, re.S | re.M).group(1)
    assert "GRACEFUL_TIMEOUT:" not in backend  # not set: the image's default applies
    monkeypatch.delenv("GRACEFUL_TIMEOUT", raising=False)
    graceful = serve.server_options()["workers_kill_timeout"]
    grace = _seconds(re.search(r"stop_grace_period: (\S+)", backend).group(1))
    assert grace > graceful


def test_a_replica_answers_its_database_503_before_nginx_gives_up_on_it():
    """The database timeouts are shorter than nginx's read timeout, and a write's: a replica
    whose database is gone answers its JSON 503 itself instead of being timed out (a 504, and
    for a read a retry on every other replica, all waiting on the same database)."""
    from nginx_config import READ_TIMEOUT, WRITE_TIMEOUT

    database_seconds = Settings(mongo_uri="mongodb://unused/").mongo_timeout_ms / 1000
    assert database_seconds < _seconds(READ_TIMEOUT) <= _seconds(WRITE_TIMEOUT)


def test_every_database_operation_is_bounded_by_mongo_timeout_ms():
    """The replica's client carries MONGO_TIMEOUT_MS as pymongo's timeoutMS (the bound of each
    operation, its reply included) and as the server selection and connect timeouts, so no
    operation on a frozen database outlasts it; nginx's read timeout is longer by a margin."""
    from nginx_config import READ_TIMEOUT

    settings = Settings(mongo_uri="mongodb://127.0.0.1:9/", mongo_timeout_ms=1500)
    client = Mongo(settings).client()
    try:
        assert client.options.timeout == 1.5
        assert client.options.server_selection_timeout == 1.5
        assert client.options.pool_options.connect_timeout == 1.5
    finally:
        client.close()
    default_seconds = Settings(mongo_uri="mongodb://unused/").mongo_timeout_ms / 1000
    assert _seconds(READ_TIMEOUT) - default_seconds >= 0.5


def test_nginx_takes_a_replicas_503_as_its_answer_not_as_a_failure():
    """A replica's 503 (database_unavailable) goes to the client: no proxy_next_upstream names
    http_503, so nginx neither retries it on another replica (all share the database) nor
    counts it against max_fails (which would take healthy replicas out of the pool)."""
    template = (REPO / "webserver" / "nginx.conf.template").read_text()
    conditions = re.findall(r"proxy_next_upstream ([^;]+);", template)
    assert conditions and all("http_503" not in line for line in conditions), conditions
    assert "error timeout http_502 http_504" in conditions


def test_one_log_format_switch_reaches_both_tiers_in_compose(monkeypatch):
    """compose passes LOG_FORMAT to the backend's environment and to the webserver's, where
    the config rendered at start picks nginx's access line format from it."""
    from nginx_config import render_container

    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    for service in ("backend", "webserver"):
        environment = compose["services"][service]["environment"]
        assert environment["LOG_FORMAT"] == "${LOG_FORMAT:-text}", service
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert "access_log /dev/stdout stack_json " in render_container()
