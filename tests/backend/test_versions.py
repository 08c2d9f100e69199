"""Versions, ETag and If-Match: no lost update, and every write answers with its own result."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from attendee_directory.schemas import Attendee


def path_of(attendee: dict) -> str:
    """The URL of ATTENDEE."""
    return f"/api/attendees/{attendee['id']}"


def test_create_and_get_carry_version_1_and_its_etag(client, attendee_body):
    """POST answers version 1 with ETag "1"; GET answers the same."""
    response = client.post("/api/attendees", json=attendee_body())
    assert response.status_code == 201
    body = response.get_json()
    Attendee.model_validate(body)
    assert body["version"] == 1
    assert response.headers["ETag"] == '"1"'
    again = client.get(response.headers["Location"])
    assert again.headers["ETag"] == '"1"'
    assert again.get_json() == body


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_write_with_the_current_etag_succeeds_and_moves_the_version(
    client, created, attendee_body, method
):
    """If-Match with the current ETag: 200, version 2, ETag "2", and GET agrees."""
    original = created()
    body = {"major": "Data Science"} if method == "PATCH" else attendee_body(major="Data Science")
    response = client.open(path_of(original), method=method, json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2
    assert response.get_json()["major"] == "Data Science"
    assert response.headers["ETag"] == '"2"'
    assert client.get(path_of(original)).headers["ETag"] == '"2"'


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
def test_stale_if_match_is_412_and_changes_nothing(client, created, attendee_body, method):
    """After another write, the old ETag is refused with 412 in the shared error shape."""
    original = created()
    assert client.patch(path_of(original), json={"major": "Physics"}).status_code == 200
    body = None
    if method == "PATCH":
        body = {"major": "Chemistry"}
    elif method == "PUT":
        body = attendee_body(major="Chemistry")
    response = client.open(path_of(original), method=method, json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 412
    error = response.get_json()
    assert error["error"] == "precondition_failed"
    assert '"2"' in error["message"]
    current = client.get(path_of(original))
    assert current.status_code == 200
    assert current.get_json()["major"] == "Physics"
    assert current.get_json()["version"] == 2


@pytest.mark.parametrize(
    "if_match", ["*", '"7", "1"', 'W/"1"'], ids=["star", "list", "weak-from-gzip"]
)
def test_if_match_star_lists_and_weak_tags(client, created, if_match):
    """`*` matches any version; a list matches if it names the current one; so does W/"n"."""
    original = created()
    response = client.patch(
        path_of(original), json={"major": "History"}, headers={"If-Match": if_match}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2


def test_without_if_match_writes_work_as_before(client, created):
    """No If-Match: PATCH, PATCH and DELETE all succeed, each moving the version."""
    original = created()
    first = client.patch(path_of(original), json={"major": "Art"})
    second = client.patch(path_of(original), json={"major": "Music"})
    assert [first.get_json()["version"], second.get_json()["version"]] == [2, 3]
    assert client.delete(path_of(original)).status_code == 204


def test_delete_with_the_current_etag_deletes_and_then_every_write_is_404(client, created):
    """DELETE with the current ETag: 204; afterwards If-Match cannot make a write more than 404.

    Preconditions are not evaluated for an attendee that does not exist (RFC 9110 13.2.1).
    """
    original = created()
    assert client.patch(path_of(original), json={"major": "Art"}).get_json()["version"] == 2
    assert client.delete(path_of(original), headers={"If-Match": '"2"'}).status_code == 204
    assert client.get(path_of(original)).status_code == 404
    for method in ("PATCH", "DELETE"):
        response = client.open(
            path_of(original), method=method, json={"major": "X"}, headers={"If-Match": "*"}
        )
        assert response.status_code == 404


def _ready_replicas(make_app, count: int) -> list:
    """COUNT apps on one database, each connected already, standing for separate replicas."""
    apps = [make_app(replica_name=f"r{i}") for i in range(count)]
    for app in apps:
        assert app.test_client().get("/api/attendees").status_code == 200
    return apps


def test_concurrent_patches_lose_nothing_and_each_answer_shows_its_own_write(
    make_app, attendee_body
):
    """50 PATCHes at once through 5 replicas: every one lands once, and answers with itself."""
    apps = _ready_replicas(make_app, 5)
    created = apps[0].test_client().post("/api/attendees", json=attendee_body()).get_json()
    majors = [f"Major {n:02d}" for n in range(50)]

    def patch(n: int):
        response = (
            apps[n % len(apps)].test_client().patch(path_of(created), json={"major": majors[n]})
        )
        return response.status_code, response.get_json(), response.headers.get("ETag")

    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(patch, range(50)))
    assert [status for status, _, _ in results] == [200] * 50
    assert [body["major"] for _, body, _ in results] == majors  # each shows its own value
    versions = [body["version"] for _, body, _ in results]
    assert sorted(versions) == list(range(2, 52))  # 50 writes, 50 distinct versions
    assert all(tag == f'"{body["version"]}"' for _, body, tag in results)
    final = apps[0].test_client().get(path_of(created)).get_json()
    assert final["version"] == 51
    last_write = max((body for _, body, _ in results), key=lambda body: body["version"])
    assert final["major"] == last_write["major"]


def test_concurrent_writes_with_one_etag_have_exactly_one_winner(make_app, attendee_body):
    """20 PATCHes at once, all with If-Match "1": one 200 and nineteen 412, one change stored."""
    apps = _ready_replicas(make_app, 4)
    created = apps[0].test_client().post("/api/attendees", json=attendee_body())
    path = created.headers["Location"]

    def patch(n: int):
        response = (
            apps[n % len(apps)]
            .test_client()
            .patch(path, json={"major": f"Major {n}"}, headers={"If-Match": '"1"'})
        )
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(patch, range(20)))
    assert sorted(status for status, _ in results) == [200] + [412] * 19
    [winner] = [body for status, body in results if status == 200]
    final = apps[0].test_client().get(path).get_json()
    assert (final["version"], final["major"]) == (2, winner["major"])


def test_the_openapi_document_describes_versions_and_preconditions(client):
    """The document shows version, ETag, If-Match and 412, and Idempotency-Key on POST."""
    doc = client.get("/api/openapi.json").get_json()
    assert doc["components"]["schemas"]["Attendee"]["properties"]["version"]["minimum"] == 1
    one = doc["paths"]["/api/attendees/{attendee_id}"]
    for method in ("put", "patch", "delete"):
        assert "If-Match" in {p["name"] for p in one[method]["parameters"] if p["in"] == "header"}
        assert one[method]["responses"]["412"]["content"]["application/json"]
    for method in ("get", "put", "patch"):
        assert "ETag" in one[method]["responses"]["200"]["headers"]
    post = doc["paths"]["/api/attendees"]["post"]
    [key] = post["parameters"]
    assert (key["name"], key["in"]) == ("Idempotency-Key", "header")
    created = post["responses"]["201"]["headers"]
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(created)


@pytest.mark.parametrize("value", ["", "0", '"3', "W/", "**"])
def test_an_if_match_that_names_no_version_is_a_412_and_changes_nothing(
    client, attendee_body, value
):
    """If-Match empty, or holding no entity tag of the attendee's, names no current version."""
    created = client.post("/api/attendees", json=attendee_body())
    path = created.headers["Location"]
    for method, body in (("PATCH", {"major": "Changed"}), ("DELETE", None)):
        response = client.open(path, method=method, json=body, headers={"If-Match": value})
        assert response.status_code == 412, (method, value)
        assert response.get_json()["error"] == "precondition_failed"
    assert client.get(path).get_json()["major"] == attendee_body()["major"]


@pytest.mark.parametrize("value", ['"1"', 'W/"1"', ' "0" , "1" ', "*"])
def test_well_formed_if_match_lists_are_honoured(client, attendee_body, value):
    """A list of tags, weak or strong, with spaces around commas, or *: the write lands."""
    created = client.post("/api/attendees", json=attendee_body())
    patch = client.patch(
        created.headers["Location"], json={"major": "Changed"}, headers={"If-Match": value}
    )
    assert patch.status_code == 200, patch.get_json()
