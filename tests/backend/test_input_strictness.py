"""Input strictness: the validator and the OpenAPI document say the same thing about bodies,
emails, text fields and media types."""

import json
import re

import pytest

from attendee_directory.collection_names import ATTENDEES
from attendee_directory.db import get_db
from attendee_directory.openapi import build_document

ZERO_WIDTH_SPACE = "\u200b"
BOM = "\ufeff"


def _status(response, status, error):
    """Assert the status and error code; return the body."""
    assert response.status_code == status, response.data
    body = response.get_json()
    assert body["error"] == error
    return body


@pytest.mark.parametrize(
    "content_type",
    [
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/vnd.api+json",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "text/json",
    ],
)
def test_only_application_json_in_utf8_is_read(client, attendee_body, content_type):
    """Bodies declared as anything but application/json (UTF-8) are 415, as the README says."""
    response = client.post(
        "/api/attendees", data=json.dumps(attendee_body()), content_type=content_type
    )
    _status(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8"])
def test_application_json_with_or_without_utf8_charset_is_read(client, attendee_body, content_type):
    """The plain type and the type with an explicit UTF-8 charset are both accepted."""
    response = client.post(
        "/api/attendees", data=json.dumps(attendee_body()), content_type=content_type
    )
    assert response.status_code == 201, response.data


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_utf16_body_is_refused(client, app, attendee_body, encoding):
    """A body in UTF-16 or UTF-32 is refused (Python's json would guess the encoding)."""
    raw = json.dumps(attendee_body()).encode(encoding)
    response = client.post("/api/attendees", data=raw, content_type="application/json")
    _status(response, 400, "invalid_json")
    with app.app_context():
        assert get_db()[ATTENDEES].count_documents({}) == 0


def test_a_lone_surrogate_is_invalid_json(client, attendee_body):
    """A "\\ud800" escape parses in Python but cannot be stored: 400, not 500."""
    raw = json.dumps(attendee_body()).replace("Nguyen", "Nguyen\\ud800")
    response = client.post("/api/attendees", data=raw, content_type="application/json")
    _status(response, 400, "invalid_json")


@pytest.mark.parametrize(
    "lookalike",
    [
        "\uff21\uff2e@example.edu",  # fullwidth letters
        "AN@EXAMPLE.EDU",
        "an@\uff45xample.\uff45du",  # fullwidth e in the domain
    ],
)
def test_emails_are_normalized_before_the_uniqueness_check(
    client, created, attendee_body, lookalike
):
    """NFKC then case fold: a lookalike of a registered email is the same address (409)."""
    first = created(email="an@example.edu")
    assert first["email"] == "an@example.edu"
    response = client.post("/api/attendees", json=attendee_body(email=lookalike))
    _status(response, 409, "duplicate_email")


def test_the_stored_email_is_the_normal_form(client, created):
    """Fullwidth letters and upper case are stored as their NFKC case fold."""
    assert created(email="\uff33\uff34\uff32\uff21ßE@Example.EDU")["email"] == "strasse@example.edu"


@pytest.mark.parametrize(
    "email",
    [
        f"an{ZERO_WIDTH_SPACE}@example.edu",
        f"{BOM}an@example.edu",
        "an\x00@example.edu",
        "an\x07@example.edu",
        "an\u202e@example.edu",  # right-to-left override
        "a\uff20b@example.edu",  # NFKC turns the fullwidth at sign into a second "@"
        " an@example.edu",
    ],
)
def test_invisible_and_control_characters_in_emails_are_refused(client, attendee_body, email):
    """An email holding an invisible or control character is 422, never a separate attendee."""
    body = _status(
        client.post("/api/attendees", json=attendee_body(email=email)), 422, "validation_failed"
    )
    assert list(body["fields"]) == ["email"]


@pytest.mark.parametrize("field", ["full_name", "university", "major"])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("An\x00", "control or invisible"),
        ("An\nB", "control or invisible"),
        ("An\tB", "control or invisible"),
        ("A\x85n", "control or invisible"),
        (f"A{ZERO_WIDTH_SPACE}n", "control or invisible"),
        (f"{BOM}An", "control or invisible"),
        ("A\u2028n", "control or invisible"),
        (" An", "start or end with a space"),
        ("An ", "start or end with a space"),
        ("An\u00a0", "start or end with a space"),
        ("   ", "blank"),
    ],
)
def test_text_fields_refuse_control_invisible_and_edge_spaces(
    client, app, attendee_body, field, value, words
):
    """Names, universities and majors: no control or invisible character, no edge space."""
    body = _status(
        client.post("/api/attendees", json=attendee_body(**{field: value})),
        422,
        "validation_failed",
    )
    assert words in body["fields"][field]
    with app.app_context():
        assert get_db()[ATTENDEES].count_documents({}) == 0


def test_max_length_means_what_it_says(client, attendee_body):
    """100 characters is the limit whatever they are: trailing spaces are not stripped away."""
    _status(
        client.post("/api/attendees", json=attendee_body(full_name="x" * 100 + "   ")),
        422,
        "validation_failed",
    )
    created = client.post("/api/attendees", json=attendee_body(full_name="x" * 100))
    assert created.status_code == 201
    assert created.get_json()["full_name"] == "x" * 100


def test_inner_spaces_and_letters_of_any_script_are_kept(client, attendee_body):
    """The rule refuses only what it says: inner spaces and any script's letters are fine."""
    name = "Nguyễn  Văn Ân 阮 \U0001d504"
    created = client.post("/api/attendees", json=attendee_body(full_name=name))
    assert created.status_code == 201, created.data
    assert created.get_json()["full_name"] == name


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("Nguyen Van An", True),
        ("A", True),
        ("A B", True),
        (" A", False),
        ("A ", False),
        ("A\u200bB", False),
        ("A\x00", False),
        ("\ufeffA", False),
        ("A\U000e0041", False),  # a tag character, beyond the BMP
    ],
)
def test_the_documented_pattern_is_the_validators_rule(client, attendee_body, value, valid):
    """The document's text pattern accepts exactly what the API accepts."""
    document = build_document("test", 16384)
    pattern = document["components"]["schemas"]["AttendeeIn"]["properties"]["full_name"]["pattern"]
    assert bool(re.search(pattern, value)) is valid
    response = client.post("/api/attendees", json=attendee_body(full_name=value))
    assert (response.status_code == 201) is valid, response.data


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("an@example.edu", True),
        ("\uff21\uff2e@example.edu", True),
        ("an@example", False),
        ("a\uff20b@example.edu", False),
        ("an\u200b@example.edu", False),
        ("a n@example.edu", False),
        ("an\U000e0041@example.edu", False),  # a tag character: emails stay in the BMP
    ],
)
def test_the_documented_email_pattern_is_the_validators_rule(client, attendee_body, email, valid):
    """The document's email pattern accepts exactly what the API accepts."""
    document = build_document("test", 16384)
    pattern = document["components"]["schemas"]["AttendeeIn"]["properties"]["email"]["pattern"]
    assert bool(re.search(pattern, email)) is valid
    response = client.post("/api/attendees", json=attendee_body(email=email))
    assert (response.status_code == 201) is valid, response.data
