"""Idempotency-Key on POST: a retried create answers the first result and stores one attendee."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from attendee_directory import accounts, idempotency
from attendee_directory.collection_names import ATTENDEES
from attendee_directory.config import ConfigError, Settings
from attendee_directory.db import get_db
from attendee_directory.idempotency import IDEMPOTENCY_KEYS

KEY = "3f1c9a2e-7b4d-4e8a-9c61-0d5b2f8e4a17"


def admins_key(database) -> str:
    """KEY as stored for the first admin, whose token the test client sends."""
    admin = accounts.find_user(database, "admin")
    assert admin is not None
    return idempotency.scoped(str(admin["_id"]), KEY)


def post(client, body: dict, key: str = KEY):
    """POST BODY with KEY as its Idempotency-Key."""
    return client.post("/api/attendees", json=body, headers={"Idempotency-Key": key})


def stored_with_email(app, email: str) -> int:
    """How many attendees the database holds with EMAIL."""
    with app.app_context():
        return get_db()[ATTENDEES].count_documents({"email": email})


def test_same_key_and_body_replays_the_first_answer(app, client, attendee_body):
    """The retry answers 201 with the same body, Location and ETag, marked as a replay."""
    first = post(client, attendee_body())
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, attendee_body())
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored_with_email(app, attendee_body()["email"]) == 1


def test_the_same_body_written_differently_is_the_same_request(client, attendee_body):
    """Key order and the email's case do not make a different body; a quoted key is the key."""
    first = post(client, attendee_body())
    reordered = dict(reversed(list(attendee_body(email="AN.Nguyen@example.EDU").items())))
    again = post(client, reordered, key=f'"{KEY}"')
    assert again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]


def test_same_key_with_a_different_body_is_409(app, client, attendee_body):
    """A key reused for another attendee is refused, and that attendee is not created."""
    assert post(client, attendee_body()).status_code == 201
    other = attendee_body(email="someone.else@example.edu")
    response = post(client, other)
    assert response.status_code == 409
    error = response.get_json()
    assert error["error"] == "idempotency_key_reused"
    assert "Idempotency-Key" in error["fields"]
    assert stored_with_email(app, other["email"]) == 0


@pytest.mark.parametrize(
    "key",
    ["", "has space", "x" * 129, "ключ", 'quote"inside', "tab\there"],
    ids=["empty", "space", "too-long", "non-ascii", "quote", "control"],
)
def test_malformed_keys_are_400(app, client, attendee_body, key):
    """A key outside the rule is refused before anything is stored."""
    response = client.post(
        "/api/attendees", json=attendee_body(), headers=[("Idempotency-Key", key)]
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_idempotency_key"
    assert stored_with_email(app, attendee_body()["email"]) == 0


def test_a_409_is_replayed_too(client, created, attendee_body):
    """When the first attempt found the email taken, its retry gives the same 409."""
    created(email="taken@example.edu")
    first = post(client, attendee_body(email="taken@example.edu"))
    again = post(client, attendee_body(email="taken@example.edu"))
    assert [first.status_code, again.status_code] == [409, 409]
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_concurrent_requests_with_one_key_create_one_attendee(make_app, attendee_body):
    """16 posts of one key and body at once through 4 replicas: all 201, one attendee."""
    apps = [make_app(replica_name=f"r{i}") for i in range(4)]
    for app in apps:  # connect and build indexes first, so the posts really race
        assert app.test_client().get("/api/attendees").status_code == 200

    def send(n: int):
        response = post(apps[n % len(apps)].test_client(), attendee_body())
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, range(16)))
    assert [status for status, _ in results] == [201] * 16
    assert len({body["id"] for _, body in results}) == 1
    assert stored_with_email(apps[0], attendee_body()["email"]) == 1


def test_an_expired_key_is_forgotten_and_swept(make_app, attendee_body):
    """Past its lifetime a key names nothing: reused with another body it creates, not 409."""
    app = make_app(idempotency_key_ttl_seconds=1)
    client = app.test_client()
    assert post(client, attendee_body()).status_code == 201
    other = attendee_body(email="other@example.edu")
    assert post(client, other, key="another-key").status_code == 201
    time.sleep(1.2)
    reused = post(client, attendee_body(email="later@example.edu"))
    assert reused.status_code == 201
    assert "Idempotent-Replayed" not in reused.headers
    with app.app_context():
        # Stored as "<user id>:<key>" (keys are scoped to the user who sends them).
        keys = {record["_id"].partition(":")[2] for record in get_db()[IDEMPOTENCY_KEYS].find()}
    assert keys == {KEY}  # "another-key" expired and was deleted; KEY holds the new request


def test_a_reserved_key_without_an_outcome_is_completed_by_the_retry(app, client, attendee_body):
    """The process died after reserving the key: the retry creates the attendee exactly once."""
    fields = attendee_body()
    with app.app_context():
        database = get_db()
        reserved = idempotency.reserve(
            database, admins_key(database), idempotency.fingerprint(fields), 3600
        )
    response = post(client, fields)
    assert response.status_code == 201
    assert response.get_json()["id"] == str(reserved.attendee_id)
    replay = post(client, fields)
    assert replay.get_json() == response.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert stored_with_email(app, fields["email"]) == 1


def test_a_create_whose_outcome_was_never_recorded_is_replayed(app, client, attendee_body):
    """The process died after inserting, before recording: the retry answers that attendee."""
    fields = attendee_body()
    with app.app_context():
        database = get_db()
        reserved = idempotency.reserve(
            database, admins_key(database), idempotency.fingerprint(fields), 3600
        )
        now = datetime.now(UTC)
        database[ATTENDEES].insert_one(
            {
                "_id": reserved.attendee_id,
                **fields,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    response = post(client, fields)
    assert response.status_code == 201
    assert response.get_json()["id"] == str(reserved.attendee_id)
    assert response.headers["Location"] == f"/api/attendees/{reserved.attendee_id}"
    assert response.headers["Idempotent-Replayed"] == "true"
    assert stored_with_email(app, fields["email"]) == 1
    with app.app_context():
        record = get_db()[IDEMPOTENCY_KEYS].find_one({"_id": admins_key(get_db())})
    assert record["outcome"]["status"] == 201


def test_the_key_lifetime_is_a_setting(monkeypatch):
    """IDEMPOTENCY_KEY_TTL_SECONDS: 24 h unless set; below 1 s it is refused, naming itself."""
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:27017/")
    monkeypatch.delenv("IDEMPOTENCY_KEY_TTL_SECONDS", raising=False)
    assert Settings.from_env().idempotency_key_ttl_seconds == 24 * 3600
    monkeypatch.setenv("IDEMPOTENCY_KEY_TTL_SECONDS", "600")
    assert Settings.from_env().idempotency_key_ttl_seconds == 600
    monkeypatch.setenv("IDEMPOTENCY_KEY_TTL_SECONDS", "0")
    with pytest.raises(ConfigError, match="IDEMPOTENCY_KEY_TTL_SECONDS"):
        Settings.from_env()


def test_a_replay_after_the_attendee_was_deleted_is_a_404(app, client, attendee_body):
    """The key's create happened once; replayed after a delete it says the attendee is gone,
    neither 201 for a missing attendee nor a second create."""
    created = post(client, attendee_body())
    assert client.delete(created.headers["Location"]).status_code == 204
    again = post(client, attendee_body())
    assert again.status_code == 404
    assert "deleted since" in again.get_json()["message"]
    assert stored_with_email(app, attendee_body()["email"]) == 0
