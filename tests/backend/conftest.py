"""Fixtures: a real MongoDB wire-protocol server, and an app with its own database per test."""

import os
import uuid

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from pymongo import MongoClient

from attendee_directory.config import Settings
from devtools.local_stack.mongo_server import MongoServer, start_mongo
from tests.backend.signed_in import ADMIN_PASSWORD, build_app


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory) -> MongoServer:
    """MONGO_URI if set, else mongod on PATH, else nx-27017 on a free 127.0.0.1 port."""
    server = start_mongo(tmp_path_factory.mktemp("mongo"), uri=os.environ.get("MONGO_URI"))
    print(f"\ndatabase for the tests: {server.describe()}")
    yield server
    server.stop()


def pytest_report_header(config) -> str:
    """Say in the test report which database the tests run against."""
    if os.environ.get("MONGO_URI"):
        return "database: MONGO_URI"
    return "database: mongod if on PATH, else nx-27017 (MongoDB wire-protocol stand-in over SQLite)"


@pytest.fixture
def settings(mongo_server) -> Settings:
    """Settings for one test: a database of its own, counts flushed on every request."""
    return Settings(
        mongo_uri=mongo_server.uri,
        mongo_db=f"test_{uuid.uuid4().hex[:12]}",
        replica_name="test-replica",
        seed_on_start=False,
        stats_flush_seconds=0,
        admin_password=SecretStr(ADMIN_PASSWORD),
    )


@pytest.fixture
def app(settings):
    """The application under test, against a fresh database that is dropped afterwards."""
    application = build_app(settings)
    yield application
    with MongoClient(settings.mongo_uri) as client:
        client.drop_database(settings.mongo_db)
    application.extensions["mongo"].close()


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def anonymous(app):
    """A test client that sends no credentials."""
    return FlaskClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def make_app(settings):
    """Build more apps on the same database, e.g. to stand for other replicas."""
    built = []

    def build(**changes):
        application = build_app(settings.model_copy(update=changes))
        built.append(application)
        return application

    yield build
    for application in built:
        application.extensions["mongo"].close()


VALID = {
    "full_name": "Nguyen Van An",
    "email": "an.nguyen@example.edu",
    "year_of_birth": 2001,
    "gender": "male",
    "university": "Hanoi University of Science and Technology",
    "major": "Computer Science",
}


@pytest.fixture
def attendee_body():
    """A valid attendee body; each call can override fields."""

    def body(**changes):
        return {**VALID, **changes}

    return body


@pytest.fixture
def created(client, attendee_body):
    """Create an attendee through the API and return its JSON."""

    def create(**changes):
        response = client.post("/api/attendees", json=attendee_body(**changes))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create
