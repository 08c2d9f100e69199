"""The OpenAPI document, generated from the schemas that validate requests, and its docs page."""

from functools import cache

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from pydantic.json_schema import models_json_schema
from swagger_ui_bundle import swagger_ui_path

from . import idempotency, schemas
from ._version import __version__

bp = Blueprint("openapi", __name__, url_prefix="/api")

REF = "#/components/schemas/{model}"
MODELS = (
    schemas.AttendeeIn,
    schemas.AttendeePatch,
    schemas.Attendee,
    schemas.AttendeePage,
    schemas.Error,
    schemas.WhoAmI,
    schemas.ReplicaSplit,
)


def _ref(model: type) -> dict:
    """A $ref to MODEL's schema."""
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type, description: str) -> dict:
    """A response or request body of MODEL in JSON."""
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def request_body(model: type) -> dict:
    """A required JSON request body of MODEL."""
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


# Why each error status is answered; every one of them has the Error shape, whoever produces it.
REASONS = {
    400: "Invalid JSON, query parameters or Idempotency-Key",
    404: "No attendee with this id (or a malformed id)",
    409: "The email belongs to another attendee",
    412: "If-Match names no current version of the attendee (precondition_failed)",
    413: "Body larger than the documented limit (nginx, or the replica itself)",
    415: "Body is not application/json in UTF-8",
    422: "Validation failed; `fields` names every offending field",
    429: "Too many writes from this address (nginx's rate limit); retry shortly",
    502: "No backend replica could answer (nginx)",
    503: "The database cannot be reached, a write met too much contention, or (nginx) no "
    "replica is available; retry shortly",
    504: "No backend replica answered in time (nginx)",
}
WRITE_METHODS = ("post", "put", "patch", "delete")
# What nginx in front of the replicas may answer for any request under /api (see
# webserver/nginx.conf.template), and in addition for writes: its body limit and rate limit.
PROXY_STATUSES = (502, 503, 504)
PROXY_WRITE_STATUSES = (413, 429)


def _errors(*statuses: int) -> dict:
    """Error responses, all in the shared Error shape."""
    return {str(status): _json(schemas.Error, REASONS[status]) for status in statuses}


def _with_proxy_statuses(paths: dict) -> dict:
    """Declare on every /api operation the errors that nginx answers in front of the replicas."""
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method == "parameters":
                continue
            extra = PROXY_STATUSES + (PROXY_WRITE_STATUSES if method in WRITE_METHODS else ())
            for status, response in _errors(*extra).items():
                operation["responses"].setdefault(status, response)
    return paths


def _health_paths() -> dict:
    """The probes: /healthz (alive, no database) and /readyz (can reach the database)."""
    ready = {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ready"]}},
        "required": ["status"],
    }
    alive = {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
        "required": ["status"],
    }
    return {
        "/healthz": {
            "get": {
                "tags": ["health"],
                "operationId": "liveness",
                "summary": "Liveness: the process answers (no database call)",
                "responses": {
                    "200": {
                        "description": "Alive",
                        "content": {"application/json": {"schema": alive}},
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "tags": ["health"],
                "operationId": "readiness",
                "summary": "Readiness: the database answers a ping; only ready or not, no details",
                "responses": {
                    "200": {
                        "description": "Ready",
                        "content": {"application/json": {"schema": ready}},
                    },
                    **_errors(502, 503, 504),
                },
            }
        },
    }


def _header(name: str, description: str, **schema) -> dict:
    """An optional request header parameter."""
    schema = {"type": "string", **schema}
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


IF_MATCH = _header(
    "If-Match",
    'Write only if the attendee is still at this version: its ETag (`"3"`), a list of ETags or '
    "`*`; otherwise (whatever else it holds) 412. Without it the write is unconditional.",
)
IDEMPOTENCY_KEY = _header(
    idempotency.HEADER,
    "Makes a retried create safe: the same key with the same body answers the first result "
    f"again (with `{idempotency.REPLAYED_HEADER}: true`), with another body 409 "
    '`idempotency_key_reused`. Bare or quoted (`"key"`); a malformed key is 400. A key is '
    "remembered for IDEMPOTENCY_KEY_TTL_SECONDS (24 h by default).",
    pattern=f"^{idempotency.KEY_PATTERN.pattern}$",
)
ETAG = {
    "ETag": {
        "description": 'The attendee\'s version in quotes (`"3"`), for If-Match',
        "schema": {"type": "string"},
    }
}
CREATED_HEADERS = {
    "Location": {"description": "The new attendee's URL", "schema": {"type": "string"}},
    idempotency.REPLAYED_HEADER: {
        "description": "`true` when this answer repeats an earlier one with the same key",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


# What a client (and schemathesis' stateful phase) can do with a created attendee next.
CREATED_LINKS = {
    f"{verb}Attendee": {
        "operationId": f"{verb.lower()}Attendee",
        "parameters": {"attendee_id": "$response.body#/id"},
        "description": f"{verb} the attendee just created",
    }
    for verb in ("Get", "Replace", "Update", "Delete")
}


def _with_etag(response: dict, headers: dict | None = None) -> dict:
    """RESPONSE with the ETag header (and any other HEADERS) documented."""
    return {**response, "headers": {**ETAG, **(headers or {})}}


def _query_parameters() -> list[dict]:
    """The list's query parameters, taken from the ListQuery schema."""
    query_schema = schemas.ListQuery.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in query_schema["properties"].items()
    ]


@cache
def build_document(version: str, max_body_bytes: int) -> dict:
    """Build the OpenAPI 3.0 document from the declared schemas."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in MODELS], ref_template=REF
    )
    id_param = {
        "name": "attendee_id",
        "in": "path",
        "required": True,
        "description": "24 hexadecimal digits; anything else names no attendee (404)",
        "schema": {"type": "string"},
    }
    write_errors = _errors(400, 413, 415, 422, 503)
    one = {"parameters": [id_param]}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "VDT 2023 attendee directory",
            "version": version,
            "description": (
                "Every response names the replica that served it in the X-Served-By header. "
                f"Request bodies are limited to {max_body_bytes} bytes."
            ),
        },
        "paths": _with_proxy_statuses(
            {
                "/api/attendees": {
                    "get": {
                        "tags": ["attendees"],
                        "operationId": "listAttendees",
                        "summary": "List attendees (paginated, searchable, sortable)",
                        "parameters": _query_parameters(),
                        "responses": {
                            "200": _json(schemas.AttendeePage, "One page"),
                            **_errors(400, 503),
                            "404": _json(schemas.Error, "`after` names no page of this list"),
                        },
                    },
                    "post": {
                        "tags": ["attendees"],
                        "operationId": "createAttendee",
                        "summary": "Create an attendee",
                        "parameters": [IDEMPOTENCY_KEY],
                        "requestBody": request_body(schemas.AttendeeIn),
                        "responses": {
                            "201": {
                                **_with_etag(
                                    _json(schemas.Attendee, "Created; Location names it"),
                                    CREATED_HEADERS,
                                ),
                                "links": CREATED_LINKS,
                            },
                            **write_errors,
                            "400": _json(
                                schemas.Error, "Invalid JSON, or a malformed Idempotency-Key"
                            ),
                            "409": _json(
                                schemas.Error,
                                "The email is taken, or the Idempotency-Key was used with "
                                "another body",
                            ),
                            "404": _json(
                                schemas.Error,
                                "The attendee that this Idempotency-Key created has been deleted "
                                "since (a replayed create)",
                            ),
                            "422": _json(
                                schemas.Error,
                                "Validation failed (`fields` names every offending field)",
                            ),
                        },
                    },
                },
                "/api/attendees/{attendee_id}": {
                    **one,
                    "get": {
                        "tags": ["attendees"],
                        "operationId": "getAttendee",
                        "summary": "Get one attendee",
                        "responses": {
                            "200": _with_etag(_json(schemas.Attendee, "The attendee")),
                            **_errors(404, 503),
                        },
                    },
                    "put": {
                        "tags": ["attendees"],
                        "operationId": "replaceAttendee",
                        "summary": "Replace an attendee",
                        "parameters": [IF_MATCH],
                        "requestBody": request_body(schemas.AttendeeIn),
                        "responses": {
                            "200": _with_etag(_json(schemas.Attendee, "Replaced")),
                            **write_errors,
                            **_errors(404, 409, 412),
                        },
                    },
                    "patch": {
                        "tags": ["attendees"],
                        "operationId": "updateAttendee",
                        "summary": "Change some fields of an attendee",
                        "parameters": [IF_MATCH],
                        "requestBody": request_body(schemas.AttendeePatch),
                        "responses": {
                            "200": _with_etag(_json(schemas.Attendee, "Updated")),
                            **write_errors,
                            **_errors(404, 409, 412),
                        },
                    },
                    "delete": {
                        "tags": ["attendees"],
                        "operationId": "deleteAttendee",
                        "summary": "Delete an attendee",
                        "parameters": [IF_MATCH],
                        "responses": {"204": {"description": "Deleted"}, **_errors(404, 412, 503)},
                    },
                },
                "/api/whoami": {
                    "get": {
                        "tags": ["replicas"],
                        "operationId": "whoami",
                        "summary": "Which replica answered",
                        "responses": {"200": _json(schemas.WhoAmI, "This replica")},
                    }
                },
                "/api/replicas": {
                    "get": {
                        "tags": ["replicas"],
                        "operationId": "replicaSplit",
                        "summary": "How requests were split across replicas",
                        "responses": {
                            "200": _json(schemas.ReplicaSplit, "The split"),
                            **_errors(503),
                        },
                    }
                },
                **_health_paths(),
            }
        ),
        "components": {"schemas": definitions["$defs"]},
    }


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """Serve the OpenAPI document."""
    settings = current_app.config["SETTINGS"]
    return jsonify(build_document(__version__, settings.max_body_bytes))


@bp.get("/docs")
def docs_page() -> Response:
    """The interactive docs page (Swagger UI), with no inline script so the CSP can forbid it."""
    return send_from_directory(current_app.root_path + "/static", "docs.html")


@bp.get("/docs/init.js")
def docs_init() -> Response:
    """The script that points Swagger UI at /api/openapi.json."""
    return send_from_directory(current_app.root_path + "/static", "docs-init.js")


@bp.get("/docs/vendor/<path:name>")
def docs_vendor(name: str) -> Response:
    """Swagger UI's own files, from the swagger-ui-bundle package."""
    return send_from_directory(swagger_ui_path, name, max_age=86400)
