"""The sample data set: shipped, valid, loaded on first start and never duplicated."""

import subprocess
import sys

from attendee_directory.collection_names import ATTENDEES, META
from attendee_directory.db import get_db
from attendee_directory.seed import SEED_MARKER, sample_attendees, seed


def test_sample_has_at_least_40_valid_unique_attendees():
    """The shipped file passes the API's own schema and has no repeated email."""
    sample = sample_attendees()
    assert len(sample) >= 40
    assert len({a["email"] for a in sample}) == len(sample)


def test_seed_twice_adds_nothing_the_second_time(app):
    """A rerun of the seed leaves the count where it was."""
    with app.app_context():
        database = get_db()
        first = seed(database)
        second = seed(database)
        assert first == len(sample_attendees())
        assert second == 0
        assert database[ATTENDEES].count_documents({}) == first
        assert database[ATTENDEES].count_documents({"version": 1}) == first


def test_seed_command_is_idempotent(mongo_server, settings):
    """The seed command adds the sample once and reports 0 added on a rerun."""
    env = {"MONGO_URI": mongo_server.uri, "MONGO_DB": settings.mongo_db, "PATH": ""}
    command = [sys.executable, "-m", "attendee_directory", "seed"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    total = len(sample_attendees())
    assert f"{total} attendees added" in first.stdout
    assert "0 attendees added" in second.stdout


def test_the_command_refuses_an_unknown_subcommand():
    """`python -m attendee_directory` names its commands and exits 2 on an unknown one."""
    command = [sys.executable, "-m", "attendee_directory", "reseed"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "seed" in result.stderr


def test_first_start_seeds_once_and_keeps_deletions(make_app):
    """With SEED_ON_START the first replica seeds; a deleted sample is not brought back later."""
    first = make_app(seed_on_start=True)
    client = first.test_client()
    listing = client.get("/api/attendees?per_page=100").get_json()
    assert listing["total"] == len(sample_attendees())
    victim = listing["items"][0]["id"]
    assert client.delete(f"/api/attendees/{victim}").status_code == 204
    second = make_app(seed_on_start=True)  # another replica, or a restart
    again = second.test_client().get("/api/attendees?per_page=100").get_json()
    assert again["total"] == len(sample_attendees()) - 1
    with second.app_context():
        assert get_db()[META].find_one({"_id": SEED_MARKER}) is not None
