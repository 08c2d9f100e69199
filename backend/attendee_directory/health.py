"""Health probes: /healthz says the process is alive, /readyz that it can reach MongoDB."""

from flask import Blueprint, Response, jsonify
from pymongo.errors import PyMongoError

from .db import get_mongo
from .errors import error_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: answers without touching the database."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: pings MongoDB; 503 with the reason while it cannot be reached."""
    try:
        get_mongo().client().admin.command("ping")
    except PyMongoError as exc:
        response = error_response(503, "database_unavailable", f"MongoDB ping failed: {exc}")
        response.headers["Retry-After"] = "1"
        return response
    return jsonify(status="ready", database=get_mongo().settings.mongo_db)
