"""Fixtures for the whole-stack suites: the real nginx in front of real backend replicas."""

import pytest
import requests

from tests.stack_helpers import admin_token, new_stack
from tests.tls import trust_session_ca


def pytest_configure(config) -> None:
    """Every suite's clients trust the session's certificate authority (tests/tls.py)."""
    trust_session_ca()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One stack for the suite: nx-27017 (or MONGO_URI/mongod), 3 replicas, nginx."""
    with new_stack(tmp_path_factory, "stack") as running:
        yield running


@pytest.fixture(scope="session")
def stack_token(stack) -> str:
    """An API token of the stack's first admin."""
    return admin_token(stack)


@pytest.fixture
def http(stack_token):
    """A requests session that keeps connections alive, like a browser would, signed in as the
    stack's first admin (its API token)."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {stack_token}"
        yield session
