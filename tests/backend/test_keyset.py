"""Keyset ("after") pagination: every sort walks the whole directory exactly once; a malformed
cursor is a 400 and a well-formed one that is not of this list a 404, both naming `after`."""

import pytest

from attendee_directory.schemas import SORT_FIELDS, AttendeePage

UNIVERSITIES = ("PTIT", "HUST", "UET")


@pytest.fixture
def directory(created) -> list[str]:
    """17 attendees with many ties (3 universities, 4 years, 2 majors, repeated names)."""
    return [
        created(
            full_name=f"Nguyễn Văn {'ABC'[n % 3]}",
            email=f"a{n:02d}@example.edu",
            university=UNIVERSITIES[n % 3],
            year_of_birth=1998 + n % 4,
            major=("Data Science", "Networks")[n % 2],
        )["id"]
        for n in range(17)
    ]


def _walk(client, query: str, per_page: int) -> list[str]:
    """Every id that following next_after from the first page yields, in order (bounded)."""
    page = client.get(f"/api/attendees?per_page={per_page}&{query}").get_json()
    ids = []
    for _ in range(50):
        AttendeePage.model_validate(page)
        ids += [a["id"] for a in page["items"]]
        if page["next_after"] is None:
            return ids
        cursor = page["next_after"]
        page = client.get(f"/api/attendees?per_page={per_page}&{query}&after={cursor}").get_json()
    raise AssertionError("next_after never ended")


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", SORT_FIELDS)
def test_keyset_walks_every_attendee_once_in_page_order(
    client, directory, mongo_server, sort, order
):
    """Following next_after gives the same sequence as one big numbered page: none lost or
    repeated, ties included."""
    query = f"sort={sort}&order={order}"
    everyone = client.get(f"/api/attendees?per_page=100&{query}").get_json()["items"]
    walked = _walk(client, query, per_page=4)
    assert walked == [a["id"] for a in everyone]
    assert sorted(walked) == sorted(directory)


def test_keyset_with_a_search_stays_within_the_matches(client, directory):
    """after combined with q walks only the matching attendees."""
    matching = client.get("/api/attendees?q=ptit&per_page=100").get_json()["items"]
    assert len(matching) == 6
    assert _walk(client, "q=ptit", per_page=4) == [a["id"] for a in matching]


def test_a_full_last_page_ends_with_an_empty_page(client, directory):
    """When the last page is full, its cursor leads to an empty page whose next_after is null."""
    first = client.get("/api/attendees?per_page=17").get_json()
    last = client.get(f"/api/attendees?per_page=17&after={first['next_after']}").get_json()
    assert (last["items"], last["next_after"]) == ([], None)


@pytest.mark.parametrize("cursor", ["%00", "a.b", "a=", "x" * 600])
def test_malformed_cursor_is_a_400_naming_after(client, directory, cursor):
    """A string outside the cursor's documented pattern (base64url, at most 512) is a 400."""
    response = client.get(f"/api/attendees?after={cursor}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_query" and "after" in body["fields"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "0",
        "e30",  # {}
        "WyJmdWxsX25hbWUiLCAiYXNjIiwgMSwgIngiXQ",  # ["full_name", "asc", 1, "x"]
        "eyIkZGF0ZSI6IHsiJG51bWJlckxvbmciOiAiOTk5OTk5OTk5OTk5OTk5OTk5OTkifX0",  # a date past 9999
    ],
)
def test_a_well_formed_cursor_that_is_not_ours_names_no_page(client, directory, cursor):
    """A pattern-valid cursor that no list response gave (not our shape, a bad id, a date past
    9999) is a 404 naming `after`: it names no page of this list."""
    response = client.get(f"/api/attendees?after={cursor}")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "cursor_not_found" and "after" in body["fields"]


def test_a_cursor_of_another_sort_names_no_page_and_after_wins_over_page(client, directory):
    """A cursor only continues the sort and order it came from (404 otherwise, saying which it
    continues); with a page number too, the cursor decides and the page is ignored."""
    first = client.get("/api/attendees?per_page=2").get_json()
    cursor = first["next_after"]
    other = client.get(f"/api/attendees?sort=email&after={cursor}")
    assert other.status_code == 404
    assert "sort=full_name&order=asc" in other.get_json()["fields"]["after"]
    alone = client.get(f"/api/attendees?per_page=2&after={cursor}").get_json()
    both = client.get(f"/api/attendees?per_page=2&page=7&after={cursor}").get_json()
    assert [item["id"] for item in both["items"]] == [item["id"] for item in alone["items"]]
    assert {item["id"] for item in both["items"]}.isdisjoint(i["id"] for i in first["items"])


@pytest.mark.parametrize(("per_page", "deepest"), [(1, 10_001), (20, 501), (100, 101)])
def test_a_page_deeper_than_10000_skipped_is_400_naming_after(client, directory, per_page, deepest):
    """page may skip at most 10,000 attendees, whatever per_page: the deepest page answers (and
    says it is max_page), the next is a 400 page_too_deep whose message names `after`; with
    after, page is ignored."""
    base = f"/api/attendees?per_page={per_page}"
    deepest_page = client.get(f"{base}&page={deepest}")
    assert deepest_page.status_code == 200 and deepest_page.get_json()["max_page"] == deepest
    refused = client.get(f"{base}&page={deepest + 1}")
    assert refused.status_code == 400
    body = refused.get_json()
    assert body["error"] == "page_too_deep"
    assert "after" in body["message"] and "after" in body["fields"]["page"]
    cursor = client.get("/api/attendees?per_page=1").get_json()["next_after"]
    assert client.get(f"{base}&page={deepest + 1}&after={cursor}").status_code == 200
