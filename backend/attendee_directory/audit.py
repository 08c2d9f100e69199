"""The audit trail at /api/audit: every entry, newest first, a page at a time (admins only)."""

import math

from flask import Blueprint, Response, jsonify
from pymongo import DESCENDING

from .audit_log import to_json
from .auth import ADMIN, require
from .collection_names import AUDIT
from .db import get_db
from .requests_json import validated_query
from .schemas import PageQuery

bp = Blueprint("audit", __name__, url_prefix="/api/audit")


@bp.get("")
@require(ADMIN)
def list_entries() -> Response:
    """The trail, newest first, a page at a time (admins only)."""
    query = validated_query(PageQuery)
    entries = get_db()[AUDIT]
    total = entries.estimated_document_count()
    found = (
        entries.find({})
        .sort([("at", DESCENDING), ("_id", DESCENDING)])
        .skip((query.page - 1) * query.per_page)
        .limit(query.per_page)
    )
    return jsonify(
        items=[to_json(entry) for entry in found],
        total=total,
        page=query.page,
        per_page=query.per_page,
        pages=math.ceil(total / query.per_page),
    )
