"""The attendees resource: list, get, create, replace, update and delete under /api."""

import math
import re
from datetime import UTC, datetime

from bson import ObjectId
from flask import Blueprint, Response, jsonify, request, url_for
from pydantic import ValidationError
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from .db import ATTENDEES, get_db
from .errors import ApiError
from .requests_json import validated
from .schemas import AttendeeIn, AttendeePatch, ListQuery, field_errors

bp = Blueprint("attendees", __name__, url_prefix="/api/attendees")

SEARCH_FIELDS = ("full_name", "university", "major")


def to_json(doc: dict) -> dict:
    """Render a stored attendee for the API: a string id and ISO 8601 UTC timestamps."""
    return {
        "id": str(doc["_id"]),
        "full_name": doc["full_name"],
        "email": doc["email"],
        "year_of_birth": doc["year_of_birth"],
        "gender": doc["gender"],
        "university": doc["university"],
        "major": doc["major"],
        "created_at": _iso(doc["created_at"]),
        "updated_at": _iso(doc["updated_at"]),
    }


def _iso(moment: datetime) -> str:
    """Format a timestamp as ISO 8601 in UTC with a Z suffix, to the millisecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _object_id(attendee_id: str) -> ObjectId:
    """Parse an id from the URL; a malformed id names no attendee, so it is a 404."""
    if not ObjectId.is_valid(attendee_id):
        raise _not_found(attendee_id)
    return ObjectId(attendee_id)


def _not_found(attendee_id: str) -> ApiError:
    """The 404 for an id that names no attendee."""
    return ApiError(404, "not_found", f"no attendee with id {attendee_id!r}")


def _duplicate_email(email: str) -> ApiError:
    """The 409 for an email that another attendee already has."""
    return ApiError(
        409,
        "duplicate_email",
        f"an attendee with email {email!r} already exists",
        {"email": "already registered"},
    )


def _list_query() -> ListQuery:
    """Validate the list's query parameters: 400 names every offending parameter."""
    try:
        return ListQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(
            400, "invalid_query", "some query parameters are invalid", field_errors(exc)
        ) from None


@bp.get("")
def list_attendees() -> Response:
    """List attendees, one page at a time, optionally filtered by a search term and sorted."""
    query = _list_query()
    criteria: dict = {}
    if query.q.strip():
        # The term is escaped, so it matches literally and cannot inject a pattern.
        pattern = {"$regex": re.escape(query.q.strip()), "$options": "i"}
        criteria = {"$or": [{field: pattern} for field in SEARCH_FIELDS]}
    direction = ASCENDING if query.order == "asc" else DESCENDING
    collection = get_db()[ATTENDEES]
    # Unfiltered, the total is the collection's size, which the server keeps as metadata:
    # estimated_document_count reads it, while count_documents runs an aggregation over every
    # document (the most expensive query of the page; see docs/benchmarks.md).
    total = (
        collection.count_documents(criteria) if criteria else collection.estimated_document_count()
    )
    cursor = (
        collection.find(criteria)
        .sort([(query.sort, direction), ("_id", direction)])
        .skip((query.page - 1) * query.per_page)
        .limit(query.per_page)
    )
    return jsonify(
        items=[to_json(doc) for doc in cursor],
        total=total,
        page=query.page,
        per_page=query.per_page,
        pages=math.ceil(total / query.per_page),
    )


@bp.get("/<attendee_id>")
def get_attendee(attendee_id: str) -> Response:
    """Return one attendee by id."""
    doc = get_db()[ATTENDEES].find_one({"_id": _object_id(attendee_id)})
    if doc is None:
        raise _not_found(attendee_id)
    return jsonify(to_json(doc))


@bp.post("")
def create_attendee() -> tuple[Response, int, dict]:
    """Create an attendee: 201 with its Location, or 409 if its email is taken."""
    fields = validated(AttendeeIn).model_dump()
    now = datetime.now(UTC)
    doc = {**fields, "created_at": now, "updated_at": now}
    try:
        get_db()[ATTENDEES].insert_one(doc)
    except DuplicateKeyError:
        raise _duplicate_email(fields["email"]) from None
    location = url_for("attendees.get_attendee", attendee_id=str(doc["_id"]))
    return jsonify(to_json(doc)), 201, {"Location": location}


@bp.put("/<attendee_id>")
def replace_attendee(attendee_id: str) -> Response:
    """Replace every field of an attendee."""
    return _update(attendee_id, validated(AttendeeIn).model_dump())


@bp.patch("/<attendee_id>")
def update_attendee(attendee_id: str) -> Response:
    """Change some fields of an attendee; fields not sent keep their values."""
    changes = validated(AttendeePatch).model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(422, "validation_failed", "send at least one field to change")
    return _update(attendee_id, changes)


def _update(attendee_id: str, changes: dict) -> Response:
    """Apply CHANGES to one attendee and return it as stored."""
    oid = _object_id(attendee_id)
    collection = get_db()[ATTENDEES]
    try:
        # update_one, not find_one_and_update: every server reports a duplicate key for it.
        # $currentDate stamps the time with the server's clock, the same for every replica.
        result = collection.update_one(
            {"_id": oid}, {"$set": changes, "$currentDate": {"updated_at": True}}
        )
    except DuplicateKeyError:
        raise _duplicate_email(changes["email"]) from None
    doc = collection.find_one({"_id": oid}) if result.matched_count else None
    if doc is None:
        raise _not_found(attendee_id)
    return jsonify(to_json(doc))


@bp.delete("/<attendee_id>")
def delete_attendee(attendee_id: str) -> tuple[str, int]:
    """Delete an attendee: 204, or 404 if there is none with that id."""
    if not get_db()[ATTENDEES].delete_one({"_id": _object_id(attendee_id)}).deleted_count:
        raise _not_found(attendee_id)
    return "", 204
