"""Health probes: /healthz says the process is alive, /readyz that it can reach MongoDB."""

from flask import Blueprint, Response, current_app, jsonify
from pymongo.errors import OperationFailure, PyMongoError

from .db import get_mongo
from .errors import error_response

bp = Blueprint("health", __name__)

AUTHENTICATION_FAILED = 18  # MongoDB's error code for a refused login


def database_problem(exc: PyMongoError) -> str:
    """Why MongoDB cannot be used, for the log; a refused login also says how to recover."""
    if isinstance(exc, OperationFailure) and exc.code == AUTHENTICATION_FAILED:
        return (
            f"MongoDB refused the app user's login ({exc}). If the database's first init failed "
            "or was interrupted, it has no app user: run `docker compose down -v`, then up again"
        )
    return f"MongoDB ping failed: {exc}"


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
        problem = database_problem(exc)
        current_app.logger.warning("readyz: %s", problem)
        response = error_response(503, "database_unavailable", problem)
        response.headers["Retry-After"] = "1"
        return response
    return jsonify(status="ready", database=get_mongo().settings.mongo_db)
