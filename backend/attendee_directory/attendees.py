"""The attendees resource: list, get, create, replace, update and delete under /api.

Every attendee has a version, 1 when created and one more on every write. The ETag of an
attendee is its version in quotes (`"3"`); PUT, PATCH and DELETE honour If-Match with it.
"""

import math
from datetime import UTC, datetime

from bson import ObjectId
from flask import Blueprint, Response, after_this_request, current_app, jsonify, request, url_for
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from . import audit_log, idempotency, keyset, search
from .auth import EDITOR, SAFE_METHODS, VIEWER, actor, authorize
from .collection_names import ATTENDEES
from .db import get_db
from .documents import iso, new_attendee
from .errors import ApiError
from .requests_json import validated, validated_query
from .schemas import MAX_SKIP, AttendeeIn, AttendeePatch, ListQuery
from .search import SEARCH_KEY, search_words

bp = Blueprint("attendees", __name__, url_prefix="/api/attendees")

# What the audit trail compares between an attendee's states: the fields a client sends.
AUDITED_FIELDS = tuple(AttendeeIn.model_fields)


@bp.before_request
def signed_in() -> None:
    """Every attendee route needs a signed-in user: viewers read, editors also write.
    (OPTIONS only lists the methods, and stays open.)"""
    if request.method != "OPTIONS":
        authorize(VIEWER if request.method in SAFE_METHODS else EDITOR)


def _by() -> str:
    """The username that this write is made by."""
    return actor().username


def _audit(action: str, attendee_id: ObjectId, before: dict | None, after: dict | None) -> None:
    """Record an attendee write in the audit trail."""
    who = actor()
    audit_log.record(
        get_db(),
        who.username,
        who.via,
        f"attendee.{action}",
        ("attendee", str(attendee_id)),
        audit_log.changes_between(before, after, AUDITED_FIELDS),
    )


# A conditional write loses only when another write lands between its read and its update,
# and each loss is another request's success, so among N concurrent writers one loses at most
# N - 1 times; this bounds the loop for any realistic N.
WRITE_ATTEMPTS = 100


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
        "created_at": iso(doc["created_at"]),
        "updated_at": iso(doc["updated_at"]),
        "version": doc["version"],
        "created_by": doc.get("created_by"),
        "updated_by": doc.get("updated_by"),
    }


def etag(version: int) -> str:
    """The strong entity tag of an attendee at VERSION: the number in double quotes."""
    return f'"{version}"'


def _at_version(doc: dict) -> dict:
    """A filter that matches DOC only while it still has the version it was read with."""
    return {"_id": doc["_id"], "version": doc["version"]}


def _check_if_match(attendee_id: str, version: int) -> None:
    """412 unless If-Match is absent, `*`, or lists the attendee's current entity tag (a value
    that lists no entity tag at all, empty included, names no version: 412 too)."""
    if "If-Match" not in request.headers:
        return
    tags = request.if_match
    # Weak tags count too: nginx turns a strong ETag into W/"n" when it gzips the response,
    # and the version number still names exactly one stored state of the attendee.
    if tags.star_tag or tags.contains_weak(str(version)):
        return
    raise ApiError(
        412,
        "precondition_failed",
        f"attendee {attendee_id} has changed: it is now at version {version} (ETag "
        f"{etag(version)}), which If-Match does not name; fetch it again and reapply your change",
    )


def _with_etag(doc: dict, status: int = 200, headers: dict | None = None) -> tuple:
    """The JSON of DOC with its ETag (and any other HEADERS)."""
    return jsonify(to_json(doc)), status, {"ETag": etag(doc["version"]), **(headers or {})}


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


@bp.get("")
def list_attendees() -> Response:
    """List attendees, one page at a time, optionally filtered by a search term and sorted."""
    query = validated_query(ListQuery)
    skipped = (query.page - 1) * query.per_page
    deepest = MAX_SKIP // query.per_page + 1
    if query.after is None and skipped > MAX_SKIP:
        raise ApiError(
            400,
            "page_too_deep",
            f"page {query.page} would skip {skipped:,} attendees, more than {MAX_SKIP:,}: "
            "page on with after (each page's next_after) instead",
            {"page": f"at most {deepest} at per_page {query.per_page}; further, use after"},
        )
    criteria = search.criteria(query.q)
    direction = ASCENDING if query.order == "asc" else DESCENDING
    collection = get_db()[ATTENDEES]
    total, exact = _count(collection, criteria)
    if query.after is not None:
        found = keyset.page_after(
            collection, criteria, query.sort, query.order, query.after, query.per_page
        )
    else:
        found = list(
            collection.find(criteria)
            .sort([(query.sort, direction), ("_id", direction)])
            .skip((query.page - 1) * query.per_page)
            .limit(query.per_page)
        )
    full = len(found) == query.per_page
    return jsonify(
        items=[to_json(doc) for doc in found],
        next_after=keyset.encode(query.sort, query.order, found[-1]) if full else None,
        total=total,
        total_exact=exact,
        page=query.page,
        per_page=query.per_page,
        pages=math.ceil(total / query.per_page),
        max_page=deepest,
    )


def _count(collection: Collection, criteria: dict) -> tuple[int, bool]:
    """How many attendees match CRITERIA, and whether that is exact (not the COUNT_CAP floor)."""
    if not criteria:
        # Unfiltered, the total is the collection's size, which the server keeps as metadata:
        # estimated_document_count reads it, while count_documents runs an aggregation over
        # every document (the most expensive query of the page; see docs/benchmarks.md).
        return collection.estimated_document_count(), True
    # A search stops counting at search.COUNT_CAP + 1 ids: a common word matches a large share of a
    # big directory, and counting all of it costs more than the page itself.
    found = len(list(collection.find(criteria, {"_id": 1}).limit(search.COUNT_CAP + 1)))
    return min(found, search.COUNT_CAP), found <= search.COUNT_CAP


@bp.get("/<attendee_id>")
def get_attendee(attendee_id: str) -> tuple:
    """Return one attendee by id, with its ETag."""
    doc = get_db()[ATTENDEES].find_one({"_id": _object_id(attendee_id)})
    if doc is None:
        raise _not_found(attendee_id)
    return _with_etag(doc)


def _location(attendee_id: ObjectId) -> str:
    """The URL of one attendee."""
    return url_for("attendees.get_attendee", attendee_id=str(attendee_id))


@bp.post("")
def create_attendee() -> tuple:
    """Create an attendee: 201 with its Location, or 409 if its email is taken.

    With an Idempotency-Key, a retry of the same body answers what the first attempt did.
    """
    key = idempotency.request_key()
    fields = validated(AttendeeIn).model_dump()
    if key is not None:
        return _create_once(key, fields)
    doc = {"_id": ObjectId(), **new_attendee(fields, by=_by())}
    try:
        get_db()[ATTENDEES].insert_one(doc)
    except DuplicateKeyError:
        raise _duplicate_email(fields["email"]) from None
    _audit("create", doc["_id"], None, doc)
    return _with_etag(doc, 201, {"Location": _location(doc["_id"])})


def _create_once(key: str, fields: dict) -> tuple:
    """Create under an Idempotency-Key: the attendee is inserted at most once per key."""
    database = get_db()
    lifetime = current_app.config["SETTINGS"].idempotency_key_ttl_seconds
    idempotency.sweep_expired(database, lifetime)
    scoped = idempotency.scoped(actor().user_id, key)
    held = idempotency.reserve(database, scoped, idempotency.fingerprint(fields), lifetime)
    if held.outcome is not None:
        return _replay(held.outcome, fields)
    doc = {"_id": held.attendee_id, **new_attendee(fields, by=_by())}
    replayed = False
    try:
        database[ATTENDEES].insert_one(doc)
        _audit("create", doc["_id"], None, doc)
    except DuplicateKeyError:
        # Either an earlier attempt with this key already inserted the reserved id (it died
        # before recording its answer, or it is running right now), or the email is taken.
        earlier = database[ATTENDEES].find_one({"_id": held.attendee_id})
        if earlier is None:
            idempotency.record_outcome(database, held, {"status": 409})
            raise _duplicate_email(fields["email"]) from None
        doc, replayed = earlier, True
    location = _location(doc["_id"])
    outcome = {"status": 201, "body": to_json(doc), "location": location}
    idempotency.record_outcome(database, held, outcome)
    if replayed:
        return _replay(outcome, fields)
    return _with_etag(doc, 201, {"Location": location})


def _replay(outcome: dict, fields: dict) -> tuple:
    """Answer again what a create with this Idempotency-Key answered the first time."""

    @after_this_request
    def _mark(response: Response) -> Response:
        """Tell the client that this answer repeats an earlier one."""
        response.headers[idempotency.REPLAYED_HEADER] = "true"
        return response

    if outcome["status"] == 409:
        raise _duplicate_email(fields["email"])
    body = outcome["body"]
    if get_db()[ATTENDEES].find_one({"_id": ObjectId(body["id"])}, {"_id": 1}) is None:
        # Created once, as promised, and deleted since: the answer says so, not 201 again.
        raise ApiError(
            404,
            "not_found",
            f"the attendee that this {idempotency.HEADER} created ({body['id']}) has been "
            "deleted since",
        )
    headers = {"Location": outcome["location"], "ETag": etag(body["version"])}
    return jsonify(body), outcome["status"], headers


@bp.put("/<attendee_id>")
def replace_attendee(attendee_id: str) -> tuple:
    """Replace every field of an attendee."""
    return _update(attendee_id, validated(AttendeeIn).model_dump(), "replace")


@bp.patch("/<attendee_id>")
def update_attendee(attendee_id: str) -> tuple:
    """Change some fields of an attendee; fields not sent keep their values."""
    changes = validated(AttendeePatch).model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(422, "validation_failed", "send at least one field to change")
    return _update(attendee_id, changes, "update")


def _current(collection: Collection, oid: ObjectId, attendee_id: str) -> dict:
    """Read one attendee and check If-Match against it: 404 if it is gone, 412 if stale."""
    doc = collection.find_one({"_id": oid})
    if doc is None:
        raise _not_found(attendee_id)
    _check_if_match(attendee_id, doc["version"])
    return doc


def _update(attendee_id: str, changes: dict, action: str) -> tuple:
    """Apply CHANGES to the version of the attendee just read, and answer with this write.

    The update only lands if nobody wrote in between (it is filtered on the version read);
    otherwise it reads again (checking If-Match again) and retries, so no write is lost and
    the answer is built from this request's own write, never from another client's.
    """
    oid = _object_id(attendee_id)
    collection = get_db()[ATTENDEES]
    for _ in range(WRITE_ATTEMPTS):
        read = _current(collection, oid, attendee_id)
        version = read["version"] + 1
        # The search key follows the fields it is made of; the write is conditional on the
        # version read, so READ plus CHANGES is exactly the attendee as it will be stored.
        changes = {**changes, SEARCH_KEY: search_words({**read, **changes})}
        try:
            # $currentDate stamps the time with the server's clock, the same for every replica.
            # (update_one and $currentDate are also what the stand-in answers: standin.py.)
            result = collection.update_one(
                _at_version(read),
                {
                    "$set": {**changes, "version": version, "updated_by": _by()},
                    "$currentDate": {"updated_at": True},
                },
            )
        except DuplicateKeyError:
            raise _duplicate_email(changes["email"]) from None
        if result.matched_count:
            written = {**read, **changes, "version": version, "updated_by": _by()}
            _audit(action, oid, read, written)
            return _with_etag(_as_written(collection, written))
    raise _contended(attendee_id)


def _as_written(collection: Collection, ours: dict) -> dict:
    """The attendee as this request wrote it: read back while it still has our version."""
    stored = collection.find_one({"_id": ours["_id"]})
    if stored is not None and stored["version"] == ours["version"]:
        return stored
    # Another write (or a delete) followed ours before the read: its timestamp is not ours,
    # so the server time of our write is unknown; this replica's clock stands in for it.
    return {**ours, "updated_at": datetime.now(UTC)}


def _contended(attendee_id: str) -> ApiError:
    """The 503 for a write that lost to concurrent writes more than WRITE_ATTEMPTS times."""
    return ApiError(
        503,
        "write_contention",
        f"attendee {attendee_id} is being changed by too many requests at once; retry shortly",
    )


@bp.delete("/<attendee_id>")
def delete_attendee(attendee_id: str) -> tuple[str, int]:
    """Delete an attendee: 204, 404 if there is none with that id, 412 if If-Match is stale."""
    oid = _object_id(attendee_id)
    collection = get_db()[ATTENDEES]
    for _ in range(WRITE_ATTEMPTS):
        # Read first, even without If-Match: the audit trail records what was deleted.
        read = _current(collection, oid, attendee_id)
        if collection.delete_one(_at_version(read)).deleted_count:
            _audit("delete", oid, read, None)
            return "", 204
    raise _contended(attendee_id)


@bp.get("/<attendee_id>/history")
def attendee_history(attendee_id: str) -> Response:
    """The attendee's newest audit entries (who changed what, when), newest first; 404 once it
    is deleted, like the attendee itself (its entries stay in the trail, for admins)."""
    oid = _object_id(attendee_id)
    database = get_db()
    if database[ATTENDEES].find_one({"_id": oid}, {"_id": 1}) is None:
        raise _not_found(attendee_id)
    return jsonify(items=audit_log.history(database, "attendee", str(oid)))
