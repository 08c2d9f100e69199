"""How an attendee is stored: the one builder of a new attendee's document."""

from datetime import UTC, datetime

from .search import SEARCH_KEY, search_words


def new_attendee(fields: dict, now: datetime | None = None, by: str | None = None) -> dict:
    """The document stored for a new attendee with FIELDS (its id aside): version 1, created
    and updated NOW (or now) BY a user (None: the sample data), and its search key."""
    now = now or datetime.now(UTC)
    doc = {
        **fields,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": by,
        "updated_by": by,
    }
    return {**doc, SEARCH_KEY: search_words(doc)}


def iso(moment: datetime) -> str:
    """A timestamp as the API writes it: ISO 8601 in UTC with a Z suffix, to the millisecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
