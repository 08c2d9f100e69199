"""The growth benchmark's attendees: the same every run, valid, unique, and realistic."""

from collections import Counter
from itertools import islice

from attendee_directory.schemas import AttendeeIn
from attendee_directory.search import SEARCH_KEY, search_words
from devtools.bench.people import FAMILY_NAMES, attendees

FIELDS = ("full_name", "email", "year_of_birth", "gender", "university", "major")


def test_the_same_seed_gives_the_same_attendees():
    """Two runs give identical documents, ids and times included; another seed does not."""
    assert list(attendees(200)) == list(attendees(200))
    assert [d["email"] for d in attendees(50, seed=1)] != [d["email"] for d in attendees(50)]


def test_every_attendee_is_valid_and_stored_as_the_api_stores_it():
    """Each passes the API's input schema unchanged, and has the stored fields and search key."""
    for doc in islice(attendees(2000), 0, None, 7):
        fields = {name: doc[name] for name in FIELDS}
        assert AttendeeIn.model_validate(fields).model_dump() == fields
        assert doc["version"] == 1 and doc["created_at"] == doc["updated_at"]
        assert doc[SEARCH_KEY] == search_words(doc)


def test_emails_and_ids_are_unique_and_family_names_follow_their_frequencies():
    """No two attendees share an email or an id; Nguyễn is the most common family name by far."""
    docs = list(attendees(5000))
    assert len({d["email"] for d in docs}) == len({d["_id"] for d in docs}) == 5000
    families = Counter(d["full_name"].split()[0] for d in docs)
    assert set(families) <= set(FAMILY_NAMES)
    assert families.most_common(1)[0][0] == "Nguyễn"
    assert 0.3 < families["Nguyễn"] / 5000 < 0.46  # 38% expected
