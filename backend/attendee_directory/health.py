"""Health probes: /healthz says the process is alive, /readyz that it can reach MongoDB."""

import logging

from flask import Blueprint, Response, jsonify
from pymongo.errors import PyMongoError

from .db import get_mongo
from .errors import unavailable
from .request_log import one_line

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: answers without touching the database."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: pings MongoDB. The public answer says only ready or not; the reason (the
    database's address, the driver's text) goes to the log."""
    try:
        get_mongo().ping()
    except PyMongoError as exc:
        log.warning("not ready: %s", one_line(str(exc)))
        return unavailable("not ready")
    return jsonify(status="ready")
