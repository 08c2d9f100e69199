"""Test apps whose clients act as the first admin, for the suites written before accounts."""

from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr
from pymongo.errors import PyMongoError

from attendee_directory import accounts, create_app
from attendee_directory.config import Settings
from attendee_directory.db import get_db

ADMIN_PASSWORD = "the tests' admin password"


def token_for(application: Flask, username: str = "admin") -> str:
    """A new API token of USERNAME's (the first admin by default), made in the database."""
    with application.app_context():
        database = get_db()
        user = accounts.find_user(database, username)
        assert user is not None, username
        secret, _ = accounts.create_token(database, str(user["_id"]), "tests", 1)
    return secret


class AdminClient(FlaskClient):
    """A test client that acts as the first admin (a bearer token), as the suites before
    accounts existed did anonymously. A test that wants no credentials uses `anonymous`."""

    def open(self, *args, **kwargs):
        """Send the admin's token, made on the first request (once the database is up)."""
        if "HTTP_AUTHORIZATION" not in self.environ_base:
            tokens = self.application.extensions
            try:
                if "test_admin_token" not in tokens:  # one per app, however many clients
                    tokens["test_admin_token"] = token_for(self.application)
                self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tokens['test_admin_token']}"
            except PyMongoError:
                pass  # a test of an unreachable database: its answer comes without a token
        return super().open(*args, **kwargs)


def build_app(settings: Settings) -> Flask:
    """An app for the tests, whose test clients act as the first admin (created from
    ADMIN_PASSWORD unless SETTINGS names another password)."""
    if settings.admin_password is None:
        settings = settings.model_copy(update={"admin_password": SecretStr(ADMIN_PASSWORD)})
    application = create_app({"TESTING": True, "SETTINGS": settings})
    application.test_client_class = AdminClient
    return application
