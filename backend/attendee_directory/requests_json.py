"""Reading a JSON request body, with a clear error for each way it can be wrong."""

import json
from typing import TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from .errors import ApiError
from .schemas import field_errors

# The one body type the API reads (RFC 8259: JSON between systems is UTF-8). Not the *+json
# types (a merge patch or JSON patch means other semantics), not UTF-16 or UTF-32.
JSON_TYPE = "application/json"
CHARSETS = ("utf-8",)


def _no_constant(name: str):
    """JSON has no NaN or Infinity; Python's parser would accept them, so refuse them here."""
    raise ValueError(f"{name} is not valid JSON")


def _check_media_type() -> None:
    """415 unless the body is declared application/json, in UTF-8 if a charset is named."""
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if request.mimetype != JSON_TYPE or charset not in CHARSETS:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json (UTF-8)")


def read_body() -> bytes:
    """The whole body, or 413 if it is longer than MAX_BODY_BYTES, chunked or not.

    Werkzeug checks Content-Length, and for a body without one (chunked) it stops reading at
    the limit without saying so: the application would parse a prefix. Reading one byte past
    the limit from the server's stream tells a body of exactly the limit from a longer one.
    """
    limit = current_app.config["SETTINGS"].max_body_bytes
    raw = request.get_data(cache=False)  # raises 413 for a Content-Length past the limit
    if len(raw) >= limit and request.content_length is None:
        if request.environ["wsgi.input"].read(1):
            raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    return raw


def json_body() -> object:
    """Return the parsed JSON body: 415 if it is not JSON, 413 if too long, 400 if it does
    not parse as UTF-8 JSON (lone surrogates included: no database can store them)."""
    _check_media_type()
    raw = read_body()
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a "\ud800" escape fails here
    except UnicodeError:
        raise ApiError(400, "invalid_json", "the body is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    return data


Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model]) -> Model:
    """Parse the JSON body and validate it against MODEL: 422 names every offending field."""
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(422, "validation_failed", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_failed", "some fields are invalid", field_errors(exc)
        ) from None


def validated_query(model: type[Model]) -> Model:
    """Validate the query parameters against MODEL: 400 names every offending parameter."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(
            400, "invalid_query", "some query parameters are invalid", field_errors(exc)
        ) from None
