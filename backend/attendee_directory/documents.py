"""How an attendee is stored: the one builder of a new attendee's document."""

from datetime import UTC, datetime

from .search import SEARCH_KEY, search_words


def new_attendee(fields: dict, now: datetime | None = None) -> dict:
    """The document stored for a new attendee with FIELDS (its id aside): version 1, created
    and updated NOW (or now), and the search key of its fields."""
    now = now or datetime.now(UTC)
    doc = {**fields, "version": 1, "created_at": now, "updated_at": now}
    return {**doc, SEARCH_KEY: search_words(doc)}
