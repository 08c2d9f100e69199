"""Search by word prefix without case or diacritics, its search key, the capped count, and the
indexes that serve every sort."""

from bson import ObjectId
from pymongo import MongoClient

from attendee_directory.bootstrap import prepare, sort_index_name
from attendee_directory.collection_names import ATTENDEES
from attendee_directory.documents import new_attendee
from attendee_directory.schemas import SORT_FIELDS, AttendeePage
from attendee_directory.search import COUNT_CAP, SEARCH_KEY
from attendee_directory.standin import serves as is_standin


def _names(client, query: str) -> list[str]:
    """The full names that the list answers for QUERY, in order."""
    page = client.get(f"/api/attendees?per_page=100&{query}").get_json()
    AttendeePage.model_validate(page)
    return [a["full_name"] for a in page["items"]]


def test_unaccented_prefixes_find_accented_names(client, created):
    """`nguyen`, `NGUY`, `duc` and `đức` find Nguyễn Đức Anh; a word's middle finds nothing."""
    created(full_name="Nguyễn Đức Anh", email="anh@example.edu", university="Đại học Vinh")
    created(full_name="Trần Thị Bình", email="binh@example.edu", major="Khoa học Dữ liệu")
    for term in ("nguyen", "NGUY", "duc", "đức", "nguyen anh", "vinh", "đai hoc"):
        assert _names(client, f"q={term}") == ["Nguyễn Đức Anh"], term
    assert _names(client, "q=du lieu") == ["Trần Thị Bình"]
    assert _names(client, "q=guyen") == []  # inside a word: not a prefix
    assert _names(client, "q=nguyen binh") == []  # every word must match


def test_search_key_follows_put_and_patch(client, created, attendee_body):
    """After a rename (PUT or PATCH), the old name is not found and the new one is."""
    one = created(full_name="Lê Văn Cường", email="cuong@example.edu")
    url = f"/api/attendees/{one['id']}"
    assert client.patch(url, json={"full_name": "Phạm Văn Cường"}).status_code == 200
    assert _names(client, "q=le") == [] and _names(client, "q=pham") == ["Phạm Văn Cường"]
    body = attendee_body(full_name="Hoàng Thu Hà", email="cuong@example.edu", major="Toán Tin")
    assert client.put(url, json=body).status_code == 200
    assert _names(client, "q=pham") == [] and _names(client, "q=hoang toan") == ["Hoàng Thu Hà"]


def test_search_count_stops_at_the_cap(client, settings, attendee_body):
    """Past COUNT_CAP matches, total is COUNT_CAP and total_exact is false; below, exact."""
    docs = [
        {
            "_id": ObjectId(),
            **new_attendee(attendee_body(full_name=f"Person {n}", email=f"p{n}@example.edu")),
        }
        for n in range(COUNT_CAP + 5)
    ]
    with MongoClient(settings.mongo_uri) as mongo:
        mongo[settings.mongo_db][ATTENDEES].insert_many(docs)
    many = client.get("/api/attendees?q=person&per_page=1").get_json()
    assert (many["total"], many["total_exact"], many["pages"]) == (COUNT_CAP, False, COUNT_CAP)
    few = client.get("/api/attendees?q=person 7").get_json()  # 7, 70-79 and 700-799
    assert (few["total"], few["total_exact"]) == (111, True)
    assert client.get("/api/attendees").get_json()["total_exact"] is True


def test_every_sort_field_has_an_index(settings):
    """prepare() leaves an index whose first key is each sortable field, and the search key's."""
    with MongoClient(settings.mongo_uri) as mongo:
        database = mongo[settings.mongo_db]
        prepare(database, seed=False)
        indexes = list(database[ATTENDEES].list_indexes())
        first_keys = {next(iter(index["key"])) for index in indexes}
        assert set(SORT_FIELDS) | {SEARCH_KEY} <= first_keys
        if not is_standin(database):  # real MongoDB: the list's exact order, tie-break included
            keys = {index["name"]: list(index["key"]) for index in indexes}
            for field in SORT_FIELDS:
                if field != "email":
                    assert keys[sort_index_name(field)] == [field, "_id"]
        mongo.drop_database(settings.mongo_db)
