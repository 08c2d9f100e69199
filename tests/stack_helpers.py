"""Helpers shared by the whole-stack suites: a local stack (or a visible skip without nginx),
and the request loops that the stack and container suites both drive through nginx."""

import collections
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from devtools.local_stack.nginx import NginxMissing, find_nginx
from devtools.local_stack.stack import LocalStack
from devtools.paths import REPO
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token, token_session
from nginx_config import FrontDoor
from tests.tls import share_ca, tls_dir

REPLICAS = 3


def _nginx_or_skip() -> None:
    """Skip, visibly and with the install command, when nginx cannot be had on this machine."""
    try:
        find_nginx()
    except NginxMissing as exc:
        pytest.skip(f"stack suite needs nginx: {exc}")


# The suites send many reads from 127.0.0.1 in a row: the read and connection limits are
# raised for them (the write limit stays the product's); the suites that test a limit set
# their own, and the load suites lift them all (NO_LIMITS).
SUITE_DOOR = FrontDoor(read_rate="10000r/s", read_burst=10000, conn_limit=1000)
# The same for the container suites' stacks (compose passes these to the webserver's environment).
SUITE_DOOR_ENV = {
    "READ_RATE": SUITE_DOOR.read_rate,
    "READ_BURST": str(SUITE_DOOR.read_burst),
    "CONN_LIMIT": str(SUITE_DOOR.conn_limit),
}
MAKE_SECRETS = REPO / "scripts" / "make-secrets.sh"


def container_secrets(directory: Path) -> Path:
    """DIRECTORY with the secrets compose and swarm mount, made by scripts/make-secrets.sh as a
    user makes them, the HTTPS certificate signed by the session's authority."""
    share_ca(directory)
    completed = subprocess.run(
        [str(MAKE_SECRETS), str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return directory


def new_stack(tmp_path_factory, name: str, **options) -> LocalStack:
    """A local stack (not started yet: use it in `with`) in a fresh directory on free ports,
    serving HTTPS with the session's certificate."""
    _nginx_or_skip()
    options.setdefault("replicas", REPLICAS)
    options.setdefault("front_door", SUITE_DOOR)
    return LocalStack(
        state_dir=tmp_path_factory.mktemp(name),
        port=free_port(),
        https_port=free_port(),
        tls_dir=tls_dir(),
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
