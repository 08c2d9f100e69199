"""Health probes: /healthz says the process is alive, /readyz that it can reach MongoDB and that
no restore is half done (backup.py)."""

import logging

from flask import Blueprint, Response, jsonify
from pymongo.errors import OperationFailure, PyMongoError

from .backup import how_to_finish, unfinished_restore
from .db import get_db, get_mongo
from .errors import error_response, unavailable
from .request_log import one_line

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

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
    """Readiness: pings MongoDB, and refuses while a restore is unfinished (half the data is not
    worth serving). The public answer says only ready or not, or that a restore is unfinished;
    the reason (the database's address, the driver's text, how to finish) goes to the log."""
    try:
        get_mongo().ping()
        marker = unfinished_restore(get_db())
    except PyMongoError as exc:
        log.warning("not ready: %s", one_line(database_problem(exc)))
        return unavailable("not ready")
    if marker is not None:
        log.warning("not ready: %s", how_to_finish(marker))
        return error_response(
            503, "restore_unfinished", "not ready: a restore has not finished, data is incomplete"
        )
    return jsonify(status="ready")
