"""Helpers shared by the whole-stack suites: a local stack (or a visible skip without nginx),
and the request loops that the stack and container suites both drive through nginx."""

import collections
import threading
import time

import pytest
import requests

from devtools.local_stack.nginx import NginxMissing, find_nginx
from devtools.local_stack.stack import LocalStack
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token, token_session

REPLICAS = 3


def _nginx_or_skip() -> None:
    """Skip, visibly and with the install command, when nginx cannot be had on this machine."""
    try:
        find_nginx()
    except NginxMissing as exc:
        pytest.skip(f"stack suite needs nginx: {exc}")


def new_stack(tmp_path_factory, name: str, **options) -> LocalStack:
    """A local stack (not started yet: use it in `with`) in a fresh directory on a free port."""
    _nginx_or_skip()
    options.setdefault("replicas", REPLICAS)
    return LocalStack(
        state_dir=tmp_path_factory.mktemp(name),
        port=free_port(),
        extra_env={"STATS_FLUSH_SECONDS": "0"},
        **options,
    )


def admin_token(stack: LocalStack) -> str:
    """A new API token of the stack's first admin."""
    return api_token(stack.url, ADMIN, stack.admin_password(), name="tests")


def admin_session(stack: LocalStack) -> requests.Session:
    """A requests session that acts as the stack's first admin (a bearer token)."""
    return token_session(admin_token(stack))


def served_by(session: requests.Session, url: str, count: int, timeout: float = 10):
    """GET URL COUNT times (each must answer 200); count the replicas named in X-Served-By."""
    seen = collections.Counter()
    for _ in range(count):
        response = session.get(url, timeout=timeout)
        assert response.status_code == 200, response.text
        seen[response.headers["X-Served-By"]] += 1
    return seen


def stream(
    url: str,
    statuses: list,
    stop: threading.Event,
    limit: int = 100_000,
    timeout: float = 15,
    token: str | None = None,
) -> None:
    """GET URL until STOP is set or LIMIT requests were sent, recording each status (0 = none);
    with TOKEN as the bearer credential, if given."""
    with requests.Session() if token is None else token_session(token) as session:
        while not stop.is_set() and len(statuses) < limit:
            try:
                statuses.append(session.get(url, timeout=timeout).status_code)
            except requests.RequestException:
                statuses.append(0)
            time.sleep(0.005)


def wait_for(statuses: list, count: int, timeout: float = 30) -> None:
    """Wait until the stream has recorded COUNT answers."""
    deadline = time.monotonic() + timeout
    while len(statuses) < count:
        assert time.monotonic() < deadline, f"only {len(statuses)} answers in {timeout} s"
        time.sleep(0.01)


def wait_for_write_budget() -> None:
    """Let the write rate limit (10/s, burst 20) refill after a test that exhausted it."""
    time.sleep(2.5)
