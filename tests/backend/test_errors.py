"""Bad input: every error class has a status, the shared JSON shape, and loses nothing."""

import json

import pytest

from attendee_directory.collection_names import ATTENDEES
from attendee_directory.db import get_db


def _error(response, status, error):
    """Assert the status and the shared error shape, and return the body."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    return body


def _count(app):
    with app.app_context():
        return get_db()[ATTENDEES].count_documents({})


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"year_of_birth": "2001"}, "year_of_birth", "integer"),
        ({"year_of_birth": 2001.5}, "year_of_birth", "integer"),
        ({"year_of_birth": True}, "year_of_birth", "integer"),
        ({"year_of_birth": 1949}, "year_of_birth", "greater than or equal to 1950"),
        ({"year_of_birth": 2011}, "year_of_birth", "less than or equal to 2010"),
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"email": "a@b"}, "email", "not a valid email"),
        ({"gender": "robot"}, "gender", "'female', 'male' or 'other'"),
        ({"full_name": ""}, "full_name", "at least 1 character"),
        ({"full_name": "   "}, "full_name", "must not be blank"),
        ({"full_name": "x" * 101}, "full_name", "at most 100 characters"),
        ({"full_name": 42}, "full_name", "valid string"),
        ({"university": None}, "university", "valid string"),
        ({"major": ["CS"]}, "major", "valid string"),
    ],
)
def test_bad_field_values_are_422_naming_the_field(
    client, app, attendee_body, changes, field, fragment
):
    """Wrong types, out-of-range years, bad emails and empty names are 422 naming the field."""
    body = _error(
        client.post("/api/attendees", json=attendee_body(**changes)), 422, "validation_failed"
    )
    assert list(body["fields"]) == [field]
    assert fragment in body["fields"][field]
    assert _count(app) == 0


def test_every_offending_field_is_named_at_once(client, app):
    """Missing and unknown fields are all reported in one response."""
    body = _error(
        client.post(
            "/api/attendees", json={"full_name": "A", "year_of_birth": "x", "nickname": "a"}
        ),
        422,
        "validation_failed",
    )
    assert body["fields"] == {
        "email": "field required",
        "year_of_birth": "Input should be a valid integer",
        "gender": "field required",
        "university": "field required",
        "major": "field required",
        "nickname": "unknown field",
    }
    assert _count(app) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"full_name": {"$ne": None}},
        {"email": {"$gt": ""}},
        {"year_of_birth": {"$where": "sleep(1000)"}},
        {"$set": {"full_name": "x"}},
        {"full_name.$": "x"},
    ],
)
def test_operator_objects_and_dollar_fields_never_reach_a_query(client, app, created, payload):
    """An object with $-keys as a value, or a $-field name, is a 422 on create and update."""
    attendee = created()
    body = {
        **{
            k: v
            for k, v in attendee.items()
            if k in {"full_name", "email", "year_of_birth", "gender", "university", "major"}
        },
        **payload,
    }
    _error(client.post("/api/attendees", json=body), 422, "validation_failed")
    _error(client.patch(f"/api/attendees/{attendee['id']}", json=payload), 422, "validation_failed")
    _error(client.put(f"/api/attendees/{attendee['id']}", json=body), 422, "validation_failed")
    assert client.get(f"/api/attendees/{attendee['id']}").get_json() == attendee
    assert _count(app) == 1


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"full_name": "A",}', b"nul", b"\xff\xfe", b'{"year_of_birth": NaN}', b"[" * 100_00],
)
def test_invalid_json_is_400(client, app, raw):
    """A body that does not parse as JSON (or uses NaN) is 400 invalid_json."""
    response = client.post("/api/attendees", data=raw, content_type="application/json")
    _error(response, 400, "invalid_json")
    assert _count(app) == 0


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"null", b"42"])
def test_json_that_is_not_an_object_is_422(client, raw):
    """Valid JSON that is not an object is a validation error on the body."""
    response = client.post("/api/attendees", data=raw, content_type="application/json")
    _error(response, 422, "validation_failed")


def test_wrong_content_type_is_415(client, attendee_body):
    """A form post or a text body is 415: the API takes application/json only."""
    _error(client.post("/api/attendees", data=attendee_body()), 415, "unsupported_media_type")
    _error(
        client.post("/api/attendees", data=json.dumps(attendee_body()), content_type="text/plain"),
        415,
        "unsupported_media_type",
    )


def test_body_over_the_limit_is_413(client, app, attendee_body, settings):
    """A body larger than MAX_BODY_BYTES is 413, and nothing is stored."""
    huge = attendee_body(major="x" * (settings.max_body_bytes + 1))
    _error(client.post("/api/attendees", json=huge), 413, "payload_too_large")
    assert _count(app) == 0


def test_wrong_method_is_405_with_allow(client):
    """A method the route does not have is 405 and says which ones it has."""
    body = _error(client.delete("/api/attendees"), 405, "method_not_allowed")
    assert body["message"]
    assert client.delete("/api/attendees").headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_unknown_route_is_json_404(client):
    """Routes that do not exist answer 404 in the same shape."""
    _error(client.get("/api/nothing-here"), 404, "not_found")


def test_duplicate_email_is_409_on_create_and_update(client, app, created, attendee_body):
    """An email that is taken (in any case) is 409 on create, PUT and PATCH."""
    first = created(email="taken@example.edu")
    second = created(email="other@example.edu")
    body = _error(
        client.post("/api/attendees", json=attendee_body(email="TAKEN@example.edu")),
        409,
        "duplicate_email",
    )
    assert body["fields"] == {"email": "already registered"}
    _error(
        client.patch(f"/api/attendees/{second['id']}", json={"email": "taken@example.edu"}),
        409,
        "duplicate_email",
    )
    _error(
        client.put(f"/api/attendees/{second['id']}", json=attendee_body(email="taken@example.edu")),
        409,
        "duplicate_email",
    )
    assert client.get(f"/api/attendees/{second['id']}").get_json() == second
    assert client.get(f"/api/attendees/{first['id']}").get_json() == first
    assert _count(app) == 2


def test_patch_with_nothing_or_null_is_422(client, created):
    """PATCH needs at least one field, and null is not a value for any field."""
    attendee = created()
    _error(client.patch(f"/api/attendees/{attendee['id']}", json={}), 422, "validation_failed")
    body = _error(
        client.patch(f"/api/attendees/{attendee['id']}", json={"major": None}),
        422,
        "validation_failed",
    )
    assert list(body["fields"]) == ["major"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("page=0", {"page"}),
        ("page=abc", {"page"}),
        ("per_page=101", {"per_page"}),
        ("per_page=0&page=-1", {"per_page", "page"}),
        ("sort=password", {"sort"}),
        ("sort=$where", {"sort"}),
        ("order=sideways", {"order"}),
        ("q=" + "x" * 101, {"q"}),
        # int() takes every one of these; the document's integer is plain digits.
        ("page=1.0", {"page"}),
        ("page=%2B5", {"page"}),
        ("page=1_0", {"page"}),
        ("per_page=%205", {"per_page"}),
        ("per_page=5%20", {"per_page"}),
    ],
)
def test_bad_list_parameters_are_400_naming_them(client, query, fields):
    """Out-of-range pages, unknown sort fields and orders are 400 naming each parameter."""
    body = _error(client.get(f"/api/attendees?{query}"), 400, "invalid_query")
    assert set(body["fields"]) == fields
