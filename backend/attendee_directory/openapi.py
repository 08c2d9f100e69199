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
    schemas.SignIn,
    schemas.SessionInfo,
    schemas.TokenIn,
    schemas.TokenCreated,
    schemas.TokenList,
    schemas.UserIn,
    schemas.UserPatch,
    schemas.User,
    schemas.UserPage,
    schemas.AuditPage,
    schemas.History,
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
    401: "No credentials, or a session or token that is unknown, expired or revoked "
    "(authentication_required, invalid_token); WWW-Authenticate says how to authenticate",
    403: "The role may not do this (forbidden), or a cookie-authenticated write came without "
    "its X-CSRF-Token or from another site's page (csrf_token_missing, cross_site_request)",
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


# Who may call an operation, by operationId: every other operation is public.
NEEDS_ROLE = {
    "listAttendees": "viewer",
    "getAttendee": "viewer",
    "attendeeHistory": "viewer",
    "createAttendee": "editor",
    "replaceAttendee": "editor",
    "updateAttendee": "editor",
    "deleteAttendee": "editor",
    "listTokens": "viewer",
    "createToken": "viewer",
    "revokeToken": "viewer",
    "listUsers": "admin",
    "createUser": "admin",
    "getUser": "admin",
    "updateUser": "admin",
    "listUserTokens": "admin",
    "revokeUserToken": "admin",
    "listAudit": "admin",
}
SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"bearerToken": []}]
SECURITY_SCHEMES = {
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "vdt_session",
        "description": "From POST /api/session. Writes also send X-CSRF-Token (GET /api/session).",
    },
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from POST /api/tokens: `Authorization: Bearer vdt_...`",
    },
}


def _with_security(paths: dict) -> dict:
    """Declare who may call each protected operation, and its 401 and 403."""
    for item in paths.values():
        for method, operation in item.items():
            role = (
                NEEDS_ROLE.get(operation.get("operationId", "")) if method != "parameters" else None
            )
            if role is None:
                continue
            operation["security"] = SECURITY
            operation["description"] = f"Needs the {role} role or above. " + operation.get(
                "description", ""
            )
            for status, response in _errors(401, 403).items():
                operation["responses"].setdefault(status, response)
    return paths


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


def _page_parameters() -> list[dict]:
    """page and per_page, from the PageQuery schema."""
    query_schema = schemas.PageQuery.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in query_schema["properties"].items()
    ]


def _operation(operation_id: str, tag: str, summary: str, responses: dict, **more) -> dict:
    """One operation of the accounts' paths."""
    return {
        "tags": [tag],
        "operationId": operation_id,
        "summary": summary,
        **more,
        "responses": responses,
    }


def _account_paths() -> dict:
    """Sign-in, API tokens, users and the audit trail."""
    username = {
        "name": "username",
        "in": "path",
        "required": True,
        "description": "The username, in any case",
        "schema": {"type": "string"},
    }
    token_id = {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}
    body_errors = _errors(400, 413, 415, 422, 503)
    busy = {
        "429": _json(
            schemas.Error,
            "This replica is waiting out another revocation (revocation_busy); see Retry-After",
        )
    }
    return {
        "/api/session": {
            "post": _operation(
                "signIn",
                "accounts",
                "Sign in: sets the session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS)",
                {
                    "200": _json(schemas.SessionInfo, "Signed in; the cookie is set"),
                    **body_errors,
                    "401": _json(
                        schemas.Error,
                        "The username or password is wrong (the same answer for an unknown user)",
                    ),
                    "403": _json(schemas.Error, "Sent from another site's page"),
                    "429": _json(
                        schemas.Error,
                        "Too many failed sign-ins for this account or address; see Retry-After",
                    ),
                },
                requestBody=request_body(schemas.SignIn),
            ),
            "get": _operation(
                "currentSession",
                "accounts",
                "Who is signed in, and the CSRF token for writes",
                {
                    "200": _json(schemas.SessionInfo, "The signed-in user"),
                    **_errors(401, 503),
                },
            ),
            "delete": _operation(
                "signOut",
                "accounts",
                "Sign out: ends the session on every replica and clears the cookie",
                {
                    "204": {"description": "Signed out (or was not signed in)"},
                    **_errors(401, 403, 503),
                    **busy,
                },
            ),
        },
        "/api/tokens": {
            "get": _operation(
                "listTokens",
                "accounts",
                "Your API tokens (never their secrets)",
                {"200": _json(schemas.TokenList, "Your tokens"), **_errors(503)},
            ),
            "post": _operation(
                "createToken",
                "accounts",
                "Create an API token; its secret is shown this once",
                {
                    "201": {
                        **_json(schemas.TokenCreated, "Created"),
                        "links": {
                            "RevokeToken": {
                                "operationId": "revokeToken",
                                "parameters": {"token_id": "$response.body#/id"},
                            }
                        },
                    },
                    **body_errors,
                    "409": _json(schemas.Error, "You hold the most tokens allowed (token_limit)"),
                },
                requestBody=request_body(schemas.TokenIn),
            ),
        },
        "/api/tokens/{token_id}": {
            "parameters": [token_id],
            "delete": _operation(
                "revokeToken",
                "accounts",
                "Revoke one of your tokens",
                {"204": {"description": "Revoked"}, **_errors(404, 503), **busy},
            ),
        },
        "/api/users": {
            "get": _operation(
                "listUsers",
                "users",
                "A page of users, by name",
                {"200": _json(schemas.UserPage, "One page"), **_errors(400, 503)},
                parameters=_page_parameters(),
            ),
            "post": _operation(
                "createUser",
                "users",
                "Create a user",
                {
                    "201": _json(schemas.User, "Created"),
                    **body_errors,
                    "409": _json(schemas.Error, "The username is taken (in any case)"),
                },
                requestBody=request_body(schemas.UserIn),
            ),
        },
        "/api/users/{username}": {
            "parameters": [username],
            "get": _operation(
                "getUser",
                "users",
                "One user",
                {"200": _json(schemas.User, "The user"), **_errors(404, 503)},
            ),
            "patch": _operation(
                "updateUser",
                "users",
                "Change a user's role, access or password; their sessions and tokens follow at "
                "once (disabled or a new password ends them all for good)",
                {
                    "200": _json(schemas.User, "Changed"),
                    **body_errors,
                    "404": _json(schemas.Error, "No such user"),
                    "409": _json(
                        schemas.Error,
                        "It would leave no enabled admin (last_admin), or an admin demoting or "
                        "disabling themselves (own_account)",
                    ),
                },
                requestBody=request_body(schemas.UserPatch),
            ),
        },
        "/api/users/{username}/tokens": {
            "parameters": [username],
            "get": _operation(
                "listUserTokens",
                "users",
                "A user's API tokens (never their secrets), newest first",
                {"200": _json(schemas.TokenList, "The user's tokens"), **_errors(404, 503)},
            ),
        },
        "/api/users/{username}/tokens/{token_id}": {
            "parameters": [username, token_id],
            "delete": _operation(
                "revokeUserToken",
                "users",
                "Revoke one of a user's tokens",
                {"204": {"description": "Revoked"}, **_errors(404, 503)},
            ),
        },
        "/api/audit": {
            "get": _operation(
                "listAudit",
                "audit",
                "The audit trail, newest first",
                {"200": _json(schemas.AuditPage, "One page"), **_errors(400, 503)},
                parameters=_page_parameters(),
            )
        },
    }


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
            _with_security(
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
                                    "The attendee that this Idempotency-Key created has been "
                                    "deleted since (a replayed create)",
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
                            "responses": {
                                "204": {"description": "Deleted"},
                                **_errors(404, 412, 503),
                            },
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
                    "/api/attendees/{attendee_id}/history": {
                        **one,
                        "get": {
                            "tags": ["attendees"],
                            "operationId": "attendeeHistory",
                            "summary": "Who changed the attendee, when and how (newest first)",
                            "responses": {
                                "200": _json(schemas.History, "The newest entries"),
                                **_errors(404, 503),
                            },
                        },
                    },
                    **_account_paths(),
                    **_health_paths(),
                }
            )
        ),
        "components": {"schemas": definitions["$defs"], "securitySchemes": SECURITY_SCHEMES},
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
