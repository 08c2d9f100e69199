"""Conditional writes and idempotent creates through the real nginx and granian replicas."""

import uuid

import pytest

pytestmark = pytest.mark.stack


def long_attendee(token: str) -> dict:
    """An attendee whose JSON is long enough for nginx to gzip it (over gzip_min_length)."""
    return {
        "full_name": f"Gzip Tester {token} " + "z" * 70,
        "email": f"gzip-{token}@example.test",
        "year_of_birth": 1995,
        "gender": "other",
        "university": "Hanoi University of Science and Technology " + "x" * 70,
        "major": "Computer Science " + "y" * 100,
    }


def test_the_etag_nginx_weakens_when_gzipping_still_serves_as_if_match(stack, http):
    """nginx turns "1" into W/"1" on a gzipped GET; sent back as If-Match it still works once."""
    created = http.post(f"{stack.url}/api/attendees", json=long_attendee(uuid.uuid4().hex[:8]))
    assert created.status_code == 201, created.text
    url = stack.url + created.headers["Location"]
    read = http.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert read.headers.get("Content-Encoding") == "gzip"
    assert read.headers["ETag"] == 'W/"1"'
    changed = http.patch(url, json={"major": "Physics"}, headers={"If-Match": read.headers["ETag"]})
    assert (changed.status_code, changed.headers["ETag"]) == (200, '"2"')
    stale = http.patch(url, json={"major": "Law"}, headers={"If-Match": read.headers["ETag"]})
    assert stale.status_code == 412
    assert stale.json()["error"] == "precondition_failed"
    assert http.delete(url, headers={"If-Match": '"2"'}, timeout=10).status_code == 204


def test_a_create_retried_on_other_replicas_is_stored_once(stack, http):
    """The same key sent 4 times lands on different replicas; one attendee, one answer."""
    body = long_attendee(uuid.uuid4().hex[:8])
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = [http.post(f"{stack.url}/api/attendees", json=body, headers=key) for _ in range(4)]
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.headers["X-Served-By"] for a in answers}) > 1  # round robin spread them
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None] + ["true"] * 3
    listing = http.get(f"{stack.url}/api/attendees", params={"q": body["full_name"]}).json()
    assert listing["total"] == 1
    assert http.delete(stack.url + answers[0].headers["Location"]).status_code == 204
