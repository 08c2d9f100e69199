"""Reading a JSON request body, with a clear error for each way it can be wrong."""

import json

from flask import request
from pydantic import BaseModel, ValidationError

from .errors import ApiError
from .schemas import field_errors


def _no_constant(name: str):
    """JSON has no NaN or Infinity; Python's parser would accept them, so refuse them here."""
    raise ValueError(f"{name} is not valid JSON")


def json_body() -> object:
    """Return the parsed JSON body: 415 if it is not JSON, 400 if it does not parse."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def validated(model: type[BaseModel]) -> BaseModel:
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
