"""Fixtures for the whole-stack suites: the real nginx in front of real backend replicas."""

import pytest
import requests

from tests.stack_helpers import new_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One stack for the suite: nx-27017 (or MONGO_URI/mongod), 3 replicas, nginx."""
    with new_stack(tmp_path_factory, "stack") as running:
        yield running


@pytest.fixture
def http():
    """A requests session that keeps connections alive, like a browser would."""
    with requests.Session() as session:
        yield session
