"""A schemathesis hook for tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The document lets a client choose any Idempotency-Key, and the API answers 422 when one key
comes again with another body: that is the header's contract, not a bug. Hypothesis draws the
same short keys ("0", "00", ...) for many different bodies, so every generated key is made
unique here, keeping its documented form (bare or quoted, at most 128 characters).
"""

import itertools
import os

import schemathesis

HEADER = "Idempotency-Key"
_NUMBERS = itertools.count()


def unique_key(key: str) -> str:
    """KEY with a suffix no other request of this run has, in the same (bare or quoted) form."""
    suffix = f".{os.getpid()}.{next(_NUMBERS)}"
    quoted = len(key) >= 2 and key.startswith('"') and key.endswith('"')
    bare = key[1:-1] if quoted else key
    bare = bare[: 128 - len(suffix)] + suffix
    return f'"{bare}"' if quoted else bare


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Give each create a key of its own, unless the key is meant to be malformed."""
    headers = case.headers or {}
    key = headers.get(HEADER)
    # A key that is not a string, or is malformed on purpose (negative cases), stays as drawn.
    if (
        isinstance(key, str)
        and key.strip('"')
        and all(c.isascii() and (c.isalnum() or c in '._:~+/=-"') for c in key)
    ):
        headers[HEADER] = unique_key(key)
