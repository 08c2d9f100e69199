"""Settings come from the environment and fail loudly when wrong."""

import pytest

from attendee_directory.config import ConfigError, ServerSettings, Settings


def test_mongo_uri_is_required(monkeypatch):
    """Without MONGO_URI the app refuses to start, naming the variable."""
    monkeypatch.delenv("MONGO_URI", raising=False)
    monkeypatch.delenv("MONGO_URI_FILE", raising=False)
    with pytest.raises(ConfigError, match="MONGO_URI"):
        Settings.from_env()


def test_defaults_and_file_secrets(monkeypatch, tmp_path):
    """MONGO_URI_FILE is read; MONGO_DB defaults to vdt2023."""
    secret = tmp_path / "uri"
    secret.write_text("mongodb://app:s3cret@db:27017/vdt2023\n")
    monkeypatch.setenv("MONGO_URI_FILE", str(secret))
    monkeypatch.delenv("MONGO_DB", raising=False)
    monkeypatch.setenv("REPLICA_NAME", "backend-7")
    settings = Settings.from_env()
    assert settings.mongo_uri == "mongodb://app:s3cret@db:27017/vdt2023"
    assert settings.mongo_db == "vdt2023"
    assert settings.replica_name == "backend-7"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MONGO_TIMEOUT_MS", "soon"),
        ("MONGO_TIMEOUT_MS", "5"),
        ("SEED_ON_START", "maybe"),
        ("MAX_BODY_BYTES", "-1"),
        ("LOG_LEVEL", "loud"),
        ("ACCESS_LOG", "sometimes"),
    ],
)
def test_bad_values_are_refused(monkeypatch, name, value):
    """A malformed or out-of-range setting stops the app with a message naming it."""
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:27017/")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Settings.from_env()


def test_an_unreadable_secret_file_is_refused(monkeypatch, tmp_path):
    """NAME_FILE naming a file that cannot be read stops the app, naming NAME_FILE."""
    monkeypatch.setenv("MONGO_URI_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="MONGO_URI_FILE"):
        Settings.from_env()


def test_the_server_settings_are_checked_too(monkeypatch):
    """serve.py's settings (WEB_THREADS here) are refused by name like the app's."""
    monkeypatch.setenv("WEB_THREADS", "0")
    with pytest.raises(ConfigError, match="WEB_THREADS"):
        ServerSettings.from_env()
    monkeypatch.setenv("WEB_THREADS", "8")
    assert ServerSettings.from_env().web_threads == 8
