"""The attendees resource: every endpoint and its success path."""

from attendee_directory.schemas import Attendee, AttendeePage


def test_create_returns_201_location_and_the_stored_attendee(client, attendee_body):
    """POST creates, answers 201 with a Location, and GET on that Location finds it."""
    response = client.post("/api/attendees", json=attendee_body(email="An.Nguyen@Example.EDU"))
    assert response.status_code == 201
    body = response.get_json()
    Attendee.model_validate(body)
    assert body["email"] == "an.nguyen@example.edu"  # stored in lower case
    assert response.headers["Location"] == f"/api/attendees/{body['id']}"
    again = client.get(response.headers["Location"])
    assert again.status_code == 200
    assert again.get_json() == body


def test_get_missing_and_malformed_ids_are_404(client):
    """An id that names nothing, and one that is not an ObjectId, are both 404 in JSON."""
    for path in ("/api/attendees/" + "0" * 24, "/api/attendees/not-an-id"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"


def test_put_replaces_every_field(client, created, attendee_body):
    """PUT replaces the whole attendee and moves updated_at forward."""
    original = created()
    replacement = attendee_body(
        full_name="Tran Thi Binh", email="binh@example.edu", gender="female", year_of_birth=1999
    )
    response = client.put(f"/api/attendees/{original['id']}", json=replacement)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in replacement} == replacement
    assert body["created_at"] == original["created_at"]
    assert body["updated_at"] >= original["updated_at"]


def test_put_needs_every_field(client, created):
    """PUT with a partial body is a validation error naming the missing fields."""
    original = created()
    response = client.put(f"/api/attendees/{original['id']}", json={"full_name": "X"})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {
        "email",
        "year_of_birth",
        "gender",
        "university",
        "major",
    }


def test_patch_changes_only_the_fields_sent(client, created):
    """PATCH changes the fields it names and keeps the others."""
    original = created()
    response = client.patch(f"/api/attendees/{original['id']}", json={"major": "Data Science"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["major"] == "Data Science"
    assert body["full_name"] == original["full_name"]
    assert client.get(f"/api/attendees/{original['id']}").get_json()["major"] == "Data Science"


def test_update_of_a_missing_attendee_is_404(client, attendee_body):
    """PUT and PATCH on an id that names nothing are 404."""
    path = "/api/attendees/" + "a" * 24
    assert client.put(path, json=attendee_body()).status_code == 404
    assert client.patch(path, json={"major": "AI"}).status_code == 404


def test_delete_then_gone(client, created):
    """DELETE answers 204; the attendee is gone and a second DELETE is 404."""
    attendee = created()
    path = f"/api/attendees/{attendee['id']}"
    response = client.delete(path)
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(path).status_code == 404
    assert client.delete(path).status_code == 404


def _make_many(created, count):
    names = [f"Person {i:02d}" for i in range(count)]
    for i, name in enumerate(names):
        created(
            full_name=name,
            email=f"p{i}@example.edu",
            year_of_birth=1990 + i % 10,
            university="PTIT" if i % 3 == 0 else "HUST",
            major="Data Science" if i % 4 == 0 else "Computer Science",
        )
    return names


def test_list_paginates_with_total(client, created):
    """Pages hold per_page items, in name order, with the total and page count."""
    names = _make_many(created, 25)
    first = client.get("/api/attendees?per_page=10").get_json()
    AttendeePage.model_validate(first)
    assert (first["total"], first["page"], first["per_page"], first["pages"]) == (25, 1, 10, 3)
    assert [a["full_name"] for a in first["items"]] == names[:10]
    last = client.get("/api/attendees?per_page=10&page=3").get_json()
    assert [a["full_name"] for a in last["items"]] == names[20:]
    beyond = client.get("/api/attendees?per_page=10&page=9").get_json()
    assert beyond["items"] == [] and beyond["total"] == 25


def test_list_searches_name_university_and_major_without_case(client, created):
    """q matches name, university or major, without case, and counts only the matches."""
    _make_many(created, 12)
    by_university = client.get("/api/attendees?q=ptit&per_page=100").get_json()
    assert by_university["total"] == 4
    assert all(a["university"] == "PTIT" for a in by_university["items"])
    by_major = client.get("/api/attendees?q=DATA%20science").get_json()
    assert by_major["total"] == 3
    by_name = client.get("/api/attendees?q=person 07").get_json()
    assert [a["full_name"] for a in by_name["items"]] == ["Person 07"]


def test_search_term_is_literal_not_a_pattern(client, created):
    """Regex characters in q match themselves (no pattern injection, no 500)."""
    created(full_name="A.B (test)", email="dot@example.edu")
    created(full_name="AxB test", email="x@example.edu")
    literal = client.get("/api/attendees?q=A.B (").get_json()
    assert [a["full_name"] for a in literal["items"]] == ["A.B (test)"]
    assert client.get("/api/attendees?q=.*").get_json()["total"] == 0
    assert client.get("/api/attendees?q=[").status_code == 200


def test_list_sorts_by_whitelisted_fields_both_ways(client, created):
    """sort and order choose the order; ties are broken by id so pages never overlap."""
    _make_many(created, 10)
    years = [
        a["year_of_birth"]
        for a in client.get("/api/attendees?sort=year_of_birth&order=desc").get_json()["items"]
    ]
    assert years == sorted(years, reverse=True)
    names = [
        a["full_name"]
        for a in client.get("/api/attendees?sort=full_name&order=desc").get_json()["items"]
    ]
    assert names == sorted(names, reverse=True)
    seen = []
    for page in (1, 2, 3, 4, 5):
        items = client.get(f"/api/attendees?sort=university&per_page=2&page={page}").get_json()
        seen += [a["id"] for a in items["items"]]
    assert len(seen) == len(set(seen)) == 10
