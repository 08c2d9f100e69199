"""Helpers shared by the whole-stack suites: start a local stack, or skip visibly without nginx."""

import time

import pytest

from local_stack.nginx import NginxMissing, find_nginx
from local_stack.processes import free_port
from local_stack.stack import LocalStack

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


def wait_for_write_budget() -> None:
    """Let the write rate limit (10/s, burst 20) refill after a test that exhausted it."""
    time.sleep(2.5)
