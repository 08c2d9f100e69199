"""Declared schemas: they validate request bodies and produce the OpenAPI document."""

import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from annotated_types import GroupedMetadata
from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from .keyset import CURSOR_PATTERN, MAX_CURSOR_LENGTH
from .search import COUNT_CAP

YEAR_MIN = 1950
YEAR_MAX = 2010
SORT_FIELDS = ("full_name", "year_of_birth", "university", "major", "email", "created_at")


def _unicode_class(codepoints: list[int]) -> str:
    """A regex character-class body for CODEPOINTS that both JSON Schema (ECMA 262) and Python
    read alike: BMP ranges as \\uXXXX escapes; characters beyond it one by one and literally,
    because a range of them is out of order in an ECMA regex without the u flag."""
    parts: list[str] = []
    start: int | None = None
    for index, point in enumerate(codepoints):
        if start is None:
            start = point
        if index + 1 < len(codepoints) and codepoints[index + 1] == point + 1 and point < 0xFFFF:
            continue
        if point > 0xFFFF:
            parts.extend(chr(p) for p in range(start, point + 1))
        elif start == point:
            parts.append(f"\\u{point:04x}")
        else:
            parts.append(f"\\u{start:04x}-\\u{point:04x}")
        start = None
    return "".join(parts)


# Characters no stored text may contain: controls (Cc, NUL included), invisible format
# characters (Cf: zero-width space, BOM, bidi overrides, ...) and line or paragraph separators
# (Zl, Zp). Spaces (Zs) may appear inside a text, not at either end. (Lone surrogates never get
# this far: requests_json refuses them as invalid JSON.)
_FORBIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp"))
# One scan of every code point: the slow part of importing this module (about 0.2 s).
_EDGE_CATEGORIES = _FORBIDDEN | {"Zs"}
_EDGE_POINTS = [
    point
    for point in range(sys.maxunicode + 1)
    if unicodedata.category(chr(point)) in _EDGE_CATEGORIES
]
FORBIDDEN_CLASS = _unicode_class(
    [point for point in _EDGE_POINTS if unicodedata.category(chr(point)) != "Zs"]
)
EDGE_CLASS = _unicode_class(_EDGE_POINTS)
# One pattern states the text rule for both the validator and the document: no forbidden
# character, and no space at either end (stripping silently would make maxLength lie).
TEXT_PATTERN = f"^[^{EDGE_CLASS}](?:[^{FORBIDDEN_CLASS}]*[^{EDGE_CLASS}])?$"


def _email_unsafe(char: str) -> bool:
    """A character an email may not hold: '@', a space or forbidden character, or one that
    NFKC normalization turns into one (the fullwidth at sign U+FF20, U+00A8 = space +
    diaeresis, ...)."""
    return any(
        c == "@" or unicodedata.category(c) in _EDGE_CATEGORIES
        for c in unicodedata.normalize("NFKC", char).casefold() + char
    )


# The email's characters as a positive class of the Basic Multilingual Plane, without lone
# surrogates: beyond it an ECMA regex without the u flag sees surrogate pairs, and a generator
# (schemathesis) could not draw from the negated class; no real address needs those planes.
_EMAIL_CHAR = (
    "["
    + _unicode_class(
        [
            point
            for point in range(0xFFFF + 1)
            if not 0xD800 <= point <= 0xDFFF and not _email_unsafe(chr(point))
        ]
    )
    + "]"
)
# local@domain.tld, checked on what the client sent; the stored form is its NFKC case fold.
EMAIL_PATTERN = f"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\\.{_EMAIL_CHAR}+$"
_TEXT_RE = re.compile(TEXT_PATTERN)
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_FORBIDDEN_RE = re.compile(f"[{FORBIDDEN_CLASS}]")


TEXT_RULE = "no control or invisible characters, no space at either end"
EMAIL_RULE = (
    "Unique: stored and compared in its NFKC case-folded form (fullwidth letters, any case)"
)


def _plain_text(value: str) -> str:
    """Check the text rule (TEXT_PATTERN), saying which part of it the value breaks."""
    if _TEXT_RE.match(value):
        return value
    if _FORBIDDEN_RE.search(value):
        raise ValueError("must not contain control or invisible characters")
    if not value.strip():
        raise ValueError("must not be blank")
    raise ValueError("must not start or end with a space")


def _email(value: str) -> str:
    """Check EMAIL_PATTERN, then store the NFKC case fold: lookalikes are one address."""
    if _FORBIDDEN_RE.search(value):
        raise ValueError("must not contain control or invisible characters")
    if not _EMAIL_RE.match(value):
        raise ValueError("not a valid email address")
    return unicodedata.normalize("NFKC", value).casefold()


@dataclass(frozen=True)
class _TextRule(GroupedMetadata):
    """A text field of at most MAX_LENGTH characters under the text rule (TEXT_PATTERN)."""

    max_length: int

    def __iter__(self) -> Iterator[object]:
        """What pydantic applies for the rule: the lengths, the check and the documented schema."""
        yield StringConstraints(min_length=1, max_length=self.max_length)
        yield AfterValidator(_plain_text)
        yield WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": self.max_length,
                "pattern": TEXT_PATTERN,
                "description": TEXT_RULE,
            }
        )


Text = Annotated[str, _TextRule(120)]
FullName = Annotated[str, _TextRule(100)]
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 254,
            "pattern": EMAIL_PATTERN,
            "description": EMAIL_RULE,
        }
    ),
]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)]
Gender = Literal["female", "male", "other"]


class _Strict(BaseModel):
    """Request bodies: no type coercion ("1999" is not a year) and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class AttendeeIn(_Strict):
    """A complete attendee, as sent to create (POST) or replace (PUT)."""

    full_name: FullName = Field(description=f"Full name: {TEXT_RULE}", examples=["Nguyen Van An"])
    email: Email = Field(description=EMAIL_RULE, examples=["an@example.edu"])
    year_of_birth: Year = Field(description=f"Between {YEAR_MIN} and {YEAR_MAX}")
    gender: Gender
    university: Text = Field(examples=["Hanoi University of Science and Technology"])
    major: Text = Field(examples=["Computer Science"])


class AttendeePatch(_Strict):
    """Some of an attendee's fields, as sent to update it in part (PATCH); null is not a value."""

    # An empty PATCH changes nothing and is refused: the document says so.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # MISSING: a field not sent has no value (and no default in the document); null is refused.
    full_name: FullName | MISSING = MISSING
    email: Email | MISSING = MISSING
    year_of_birth: Year | MISSING = MISSING
    gender: Gender | MISSING = MISSING
    university: Text | MISSING = MISSING
    major: Text | MISSING = MISSING


class Attendee(BaseModel):
    """An attendee as the API returns it."""

    id: str = Field(pattern=r"^[0-9a-f]{24}$")
    full_name: str
    email: str
    year_of_birth: int
    gender: Gender
    university: str
    major: str
    created_at: datetime
    updated_at: datetime
    version: int = Field(
        ge=1,
        description='1 when created, one more on every write; the ETag is it in quotes ("3")',
    )
    created_by: str | None = Field(description="Who created it (null: the sample data)")
    updated_by: str | None = Field(description="Who wrote it last (null: the sample data)")


# The most attendees one list request may skip to reach its page (the database reads each).
MAX_SKIP = 10_000


class AttendeePage(BaseModel):
    """One page of the attendee list, with the total count for pagination."""

    items: list[Attendee]
    total: int = Field(
        ge=0,
        description=f"Matching attendees; with a search, at most {COUNT_CAP} (see total_exact)",
    )
    next_after: str | None = Field(
        description="Pass as `after` for the page that follows; null when this page is the last"
    )
    total_exact: bool = Field(
        description=f"false when a search matched more than {COUNT_CAP}: total is then {COUNT_CAP}"
    )
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    pages: int = Field(ge=0)
    max_page: int = Field(
        ge=1,
        description=(
            "The deepest page that `page` reaches at this per_page (a page may skip at most "
            f"{MAX_SKIP:,} attendees); beyond it, page on with `after`"
        ),
    )


def _digits(value: object) -> object:
    """A query integer is written in plain digits: not 1.0, +5, 1_0 or ' 5' (int() takes them)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written in digits")
    return value


QueryInt = Annotated[int, BeforeValidator(_digits)]


class ListQuery(BaseModel):
    """Query parameters of the attendee list (strings from the URL, so coercion is on)."""

    model_config = ConfigDict(extra="ignore")

    page: QueryInt = Field(
        1,
        ge=1,
        description=(
            f"A page found by skipping costs the database every attendee skipped: (page - 1) x "
            f"per_page may be at most {MAX_SKIP:,}, else 400 `page_too_deep`; page on from "
            "there with `after`"
        ),
    )
    per_page: QueryInt = Field(20, ge=1, le=100)
    q: str = Field(
        "",
        max_length=100,
        description=(
            "Search: every word of q begins a word of the name, university or major, "
            "ignoring case and diacritics (`nguyen` finds Nguyễn)"
        ),
    )
    sort: Literal[SORT_FIELDS] = "full_name"  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc"
    # Documented as a plain string: a query parameter is absent, never null.
    after: Annotated[
        str | None,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_CURSOR_LENGTH,
                "pattern": CURSOR_PATTERN,
            }
        ),
    ] = Field(
        None,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=CURSOR_PATTERN,
        description=(
            "Keyset pagination for API clients: the next_after of the previous response, with "
            "the same q, sort and order. The page starts right after that response's last "
            "attendee, at the same cost at any depth; page is then ignored. A string that is "
            "no cursor of this list (another sort or order, or made up) names no page: 404 "
            "`cursor_not_found`."
        ),
    )


Role = Literal["viewer", "editor", "admin"]
ROLE_RULE = "viewer: read attendees; editor: also create, change and delete them; admin: also users"
# A username: letters, digits and . _ @ + - (an email address fits), compared case-folded.
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$"
Username = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=USERNAME_PATTERN,
        description="1 to 64 letters, digits and . _ @ + -, starting with a letter or digit; "
        "unique ignoring case",
    ),
]
# At most 1,024 bytes in UTF-8 (passwords.py); as characters, the document can only bound it
# loosely, so the byte limit is checked after validation.
Password = Annotated[str, Field(min_length=10, max_length=1024)]


class SignIn(_Strict):
    """A username and password, to sign in."""

    # Any text up to 64 characters is tried: a name that breaks the rules signs in as nobody,
    # with the same answer as a wrong password.
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserSummary(BaseModel):
    """Who is signed in."""

    username: str
    role: Role


class SessionInfo(BaseModel):
    """The signed-in user, and the token that cookie-authenticated writes send (X-CSRF-Token)."""

    user: UserSummary
    via: Literal["session", "token"]
    csrf_token: str | None = Field(description="Send as X-CSRF-Token on writes; null for a token")
    expires_at: datetime


class TokenIn(_Strict):
    """A new API token: its name and how many days it lives."""

    name: Text = Field(examples=["nightly export"])
    days: int = Field(30, ge=1, le=3650, description="Days until it expires (capped by the server)")


class Token(BaseModel):
    """An API token, as listed (its secret is never shown again)."""

    id: str
    name: str
    created_at: datetime
    expires_at: datetime


class TokenCreated(Token):
    """A token just created: the secret, shown this once."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`")


class TokenList(BaseModel):
    """The signed-in user's tokens."""

    items: list[Token]


class UserIn(_Strict):
    """A new user (admins only)."""

    username: Username
    password: Password
    role: Role = Field(description=ROLE_RULE)


class UserPatch(_Strict):
    """Changes to a user (admins only): role, disabled, or a new password."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    role: Role | MISSING = MISSING
    disabled: bool | MISSING = MISSING
    password: Password | MISSING = MISSING


class User(BaseModel):
    """A user as admins see it (never the password hash)."""

    username: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    """One page of users."""

    items: list[User]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    pages: int = Field(ge=0)


class PageQuery(BaseModel):
    """page and per_page, for the user list and the audit trail."""

    model_config = ConfigDict(extra="ignore")

    page: QueryInt = Field(1, ge=1, le=10_000)
    per_page: QueryInt = Field(20, ge=1, le=100)


class AuditTarget(BaseModel):
    """What an audit entry is about."""

    type: Literal["attendee", "user"]
    id: str


class AuditEntry(BaseModel):
    """Who did what, when, and in which request."""

    id: str
    at: datetime
    actor: str = Field(description="The username, or `cli` / `startup`")
    via: Literal["session", "token", "cli", "startup"]
    action: str = Field(examples=["attendee.update"])
    target: AuditTarget
    changes: dict[str, dict] = Field(description='field -> {"from": old, "to": new}')
    request_id: str = Field(description="The id nginx gave the request (X-Request-ID)")
    client_request_id: str | None = Field(
        None, description="The client's own X-Request-ID, if it sent one that looks like an id"
    )


class AuditPage(BaseModel):
    """One page of the audit trail, newest first."""

    items: list[AuditEntry]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    pages: int = Field(ge=0)


class History(BaseModel):
    """An attendee's newest audit entries, newest first."""

    items: list[AuditEntry]


class Error(BaseModel):
    """The one shape of every error response."""

    error: str = Field(examples=["validation_failed"])
    message: str
    fields: dict[str, str] | None = Field(None, description="Field name -> what is wrong with it")


class WhoAmI(BaseModel):
    """The identity of the replica that answered."""

    replica: str
    hostname: str
    addresses: list[str]
    pid: int
    version: str
    started_at: datetime
    requests_served: int = Field(description="Requests served by this worker process")


class ReplicaStats(BaseModel):
    """One replica's request count, as kept in MongoDB."""

    replica: str
    hostname: str
    addresses: list[str]
    requests: int
    share: float = Field(description="Fraction of all counted requests")
    last_seen: datetime


class ReplicaSplit(BaseModel):
    """How the requests were split across the replicas."""

    total: int
    replicas: list[ReplicaStats]


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Turn pydantic's error list into {field: message}, naming every offending field."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        name = ".".join(str(part) for part in err["loc"]) or "body"
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "field required"
        elif err["type"] == "value_error":
            message = str(err["ctx"]["error"])  # our own validators' words, without a prefix
        else:
            message = err["msg"]
        fields.setdefault(name, message)
    return fields
