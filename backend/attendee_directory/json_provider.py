"""The JSON of every response: orjson through Flask's JSON provider.

Compact, with the keys in the order the code builds them, UTF-8 as it is (not \\u escapes),
and several times faster than the standard library's encoder on the API's answers. A value
orjson cannot encode (an integer past 64 bits, say) falls back to the standard library, so
every answer that Flask's own provider could write is still written. Request bodies are not
read here: requests_json.py parses them, with its own rules.
"""

import json
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider


class FastJSONProvider(DefaultJSONProvider):
    """Flask's provider with orjson for dumps and responses; loads stays the standard one."""

    sort_keys = False
    compact = True
    ensure_ascii = False

    def _encode(self, obj: Any) -> bytes:
        """OBJ as JSON bytes: orjson, or the standard library where orjson refuses a value."""
        try:
            return orjson.dumps(obj, default=self.default)
        except orjson.JSONEncodeError:
            return json.dumps(
                obj, default=self.default, ensure_ascii=False, separators=(",", ":")
            ).encode()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """OBJ as JSON text."""
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A JSON response of the arguments, as jsonify takes them."""
        obj = self._prepare_response_obj(args, kwargs)
        return Response(self._encode(obj), mimetype=self.mimetype)
