"""Every error leaves the application through error_response(), in one JSON shape."""

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from .request_log import request_target

log = logging.getLogger(__name__)

# Stable, machine-readable codes for the HTTP errors that Werkzeug raises.
_HTTP_CODES = {
    400: "bad_request",
    401: "authentication_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An error with a status, a stable code, a message, optional per-field messages and
    headers (WWW-Authenticate, Retry-After)."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        fields: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.fields = fields
        self.headers = headers


def error_response(status: int, error: str, message: str, fields: dict | None = None) -> Response:
    """Build the JSON error body shared by every error: error, message and optional fields."""
    body: dict[str, object] = {"error": error, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def _api_error(exc: ApiError) -> Response:
    """Render an ApiError raised by a view."""
    response = error_response(exc.status, exc.error, exc.message, exc.fields)
    response.headers.update(exc.headers or {})
    return response


def _http_error(exc: HTTPException) -> Response:
    """Render a Werkzeug HTTP error (404 route, 405 method, 413 body size, ...) as JSON."""
    status = exc.code or 500
    response = error_response(status, _HTTP_CODES.get(status, "http_error"), exc.description or "")
    allowed = getattr(exc, "valid_methods", None)  # set on 405 Method Not Allowed
    if allowed:
        response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


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
    app.register_error_handler(Exception, _unexpected)
