"""Declared schemas: they validate request bodies and produce the OpenAPI document."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

YEAR_MIN = 1950
YEAR_MAX = 2010
SORT_FIELDS = ("full_name", "year_of_birth", "university", "major", "email", "created_at")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _lower(value: str) -> str:
    """Emails are compared without case, so they are stored in lower case."""
    return value.lower()


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN),
    AfterValidator(_lower),
]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)]
Gender = Literal["female", "male", "other"]


class _Strict(BaseModel):
    """Request bodies: no type coercion ("1999" is not a year) and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class AttendeeIn(_Strict):
    """A complete attendee, as sent to create (POST) or replace (PUT)."""

    full_name: FullName = Field(description="Full name", examples=["Nguyen Van An"])
    email: Email = Field(description="Unique, compared without case", examples=["an@example.edu"])
    year_of_birth: Year = Field(description=f"Between {YEAR_MIN} and {YEAR_MAX}")
    gender: Gender
    university: Text = Field(examples=["Hanoi University of Science and Technology"])
    major: Text = Field(examples=["Computer Science"])


class AttendeePatch(_Strict):
    """Some of an attendee's fields, as sent to update it in part (PATCH); null is not a value."""

    full_name: FullName = None
    email: Email = None
    year_of_birth: Year = None
    gender: Gender = None
    university: Text = None
    major: Text = None


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


class AttendeePage(BaseModel):
    """One page of the attendee list, with the total count for pagination."""

    items: list[Attendee]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    pages: int = Field(ge=0)


class ListQuery(BaseModel):
    """Query parameters of the attendee list (strings from the URL, so coercion is on)."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(20, ge=1, le=100)
    q: str = Field("", max_length=100, description="Search in name, university and major")
    sort: Literal[SORT_FIELDS] = "full_name"  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc"


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
        elif err["type"] == "string_pattern_mismatch" and err["loc"][-1:] == ("email",):
            message = "not a valid email address"
        else:
            message = err["msg"]
        fields.setdefault(name, message)
    return fields
