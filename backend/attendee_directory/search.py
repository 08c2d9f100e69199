"""The search key: what `q` is matched against, in a form that an index can serve.

Every attendee stores `search_words`, the words of its name, university and major in lower
case without diacritics (Đ counts as d). A search matches the attendees in which each word of
`q` begins some stored word: an anchored prefix on an indexed array, which MongoDB answers from
the index's bounds instead of reading every document.
"""

import re
import unicodedata

SEARCH_FIELDS = ("full_name", "university", "major")
SEARCH_KEY = "search_words"
# A search's total stops at this many matches (the list's total_exact is then false).
COUNT_CAP = 1000
MAX_QUERY_WORDS = 8  # every word is one more condition; more than this only narrows further


def fold(text: str) -> str:
    """TEXT in lower case without diacritics: 'Nguyễn Đức' -> 'nguyen duc'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded, whitespace-separated words of TEXT."""
    return fold(text).split()


def search_words(doc: dict) -> list[str]:
    """The distinct words of an attendee's searchable fields, in first-seen order."""
    found: dict[str, None] = {}
    for field in SEARCH_FIELDS:
        found |= dict.fromkeys(words(doc.get(field, "")))
    return list(found)


def criteria(term: str) -> dict:
    """The filter for search TERM: each of its words begins some word of the attendee.

    Each word is escaped, so it matches literally and cannot inject a pattern.
    """
    # $elemMatch with $regex as a string, which MongoDB answers from the multikey index's
    # bounds (and the stand-in answers too: standin.py).
    prefixes = [
        {"$elemMatch": {"$regex": "^" + re.escape(word)}} for word in words(term)[:MAX_QUERY_WORDS]
    ]
    if not prefixes:
        return {}
    if len(prefixes) == 1:
        return {SEARCH_KEY: prefixes[0]}
    return {"$and": [{SEARCH_KEY: prefix} for prefix in prefixes]}
