"""Every error leaves the application through error_response(), in one JSON shape."""

import logging

from flask import Flask, Response, jsonify
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException

from .request_log import one_line, request_target

log = logging.getLogger(__name__)

# Stable, machine-readable codes for the HTTP errors that Werkzeug raises.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An error with a status, a stable code, a message and optional per-field messages."""

    def __init__(self, status: int, error: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.fields = fields


def error_response(status: int, error: str, message: str, fields: dict | None = None) -> Response:
    """Build the JSON error body shared by every error: error, message and optional fields."""
    body = {"error": error, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def _api_error(exc: ApiError) -> Response:
    """Render an ApiError raised by a view."""
    return error_response(exc.status, exc.error, exc.message, exc.fields)


def _http_error(exc: HTTPException) -> Response:
    """Render a Werkzeug HTTP error (404 route, 405 method, 413 body size, ...) as JSON."""
    status = exc.code or 500
    response = error_response(status, _HTTP_CODES.get(status, "http_error"), exc.description or "")
    allowed = getattr(exc, "valid_methods", None)  # set on 405 Method Not Allowed
    if allowed:
        response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


def _database_error(exc: PyMongoError) -> Response:
    """Map a lost or unreachable database to 503, so that clients retry instead of failing."""
    from .db import get_mongo  # here, not at the top: db imports idempotency, which imports us

    get_mongo().failed(exc)  # a failed server selection opens the fail-fast breaker
    if isinstance(exc, ConnectionFailure):
        # The path comes from the client: escaped, so that it cannot forge a log line.
        log.warning("database unavailable on %s: %s", request_target(), one_line(str(exc)))
        return unavailable("the database cannot be reached; retry shortly")
    log.exception("database error on %s", request_target())
    return error_response(500, "database_error", "the database rejected the operation")


def unavailable(message: str) -> Response:
    """The 503 for a database that cannot be reached, with the Retry-After that clients honour."""
    response = error_response(503, "database_unavailable", message)
    response.headers["Retry-After"] = "1"
    return response


def _unexpected(exc: Exception) -> Response:
    """Last resort: log the traceback and answer with the shared shape, never an HTML page."""
    log.exception("unhandled error on %s", request_target())
    return error_response(500, "internal_error", "unexpected server error")


def init_app(app: Flask) -> None:
    """Register the handlers that turn every exception into the shared JSON shape."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(PyMongoError, _database_error)
    app.register_error_handler(Exception, _unexpected)
