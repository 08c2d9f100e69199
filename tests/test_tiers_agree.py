"""Settings that live in one tier but must agree with another's, checked against each other."""

import re

import yaml

from attendee_directory import serve
from attendee_directory.config import Settings
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
