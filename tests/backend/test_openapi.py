"""The OpenAPI document and the docs page."""

import re

from attendee_directory.schemas import AttendeeIn


def test_openapi_document_comes_from_the_request_schemas(client):
    """The document's AttendeeIn schema is the one that validates requests, field for field."""
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    schema = doc["components"]["schemas"]["AttendeeIn"]
    assert schema == AttendeeIn.model_json_schema(ref_template="#/components/schemas/{model}")
    assert set(schema["required"]) == {
        "full_name",
        "email",
        "year_of_birth",
        "gender",
        "university",
        "major",
    }
    assert schema["additionalProperties"] is False
    assert schema["properties"]["year_of_birth"]["minimum"] == 1950
    paths = doc["paths"]
    assert set(paths["/api/attendees"]) == {"get", "post"}
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/attendees/{attendee_id}"])
    assert {p["name"] for p in paths["/api/attendees"]["get"]["parameters"]} == {
        "page",
        "per_page",
        "q",
        "sort",
        "order",
        "after",
    }


def test_every_ref_resolves(client):
    """Every $ref in the document points at a schema that the document defines."""
    doc = client.get("/api/openapi.json").get_json()
    defined = set(doc["components"]["schemas"])

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value.rsplit("/", 1)[-1]
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = set(refs(doc))
    assert found and found <= defined


def test_docs_page_and_its_assets_are_served(client):
    """The docs page loads Swagger UI from the package and our init script, with no inline JS."""
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script>" not in html
    for asset in (
        "/api/docs/vendor/swagger-ui-bundle.js",
        "/api/docs/vendor/swagger-ui.css",
        "/api/docs/init.js",
    ):
        assert asset in html
        assert client.get(asset).status_code == 200
    assert "/api/openapi.json" in client.get("/api/docs/init.js").get_data(as_text=True)


# The routes that serve the document and its docs page: about the API, not part of it.
DOCUMENTATION_ROUTES = {
    "/api/openapi.json",
    "/api/docs",
    "/api/docs/init.js",
    "/api/docs/vendor/{name}",
}


def _documented_operations(doc: dict) -> set[tuple[str, str]]:
    """Every (METHOD, path) the document declares."""
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }


def _served_operations(app) -> set[tuple[str, str]]:
    """Every (METHOD, path) the app's URL map routes, in OpenAPI's {name} path syntax."""
    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        if rule.endpoint == "static" or path in DOCUMENTATION_ROUTES:
            continue
        served |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return served


def test_the_document_declares_exactly_the_routes_the_app_serves(app, client):
    """Every route of the URL map is in the document and every documented path is routed."""
    doc = client.get("/api/openapi.json").get_json()
    assert _documented_operations(doc) == _served_operations(app)
    assert {"/healthz", "/readyz"} <= set(doc["paths"])


def test_every_api_operation_declares_the_proxys_answers(client):
    """nginx's 502/503/504 on every /api operation, and its 413/429 on every write, in JSON."""
    doc = client.get("/api/openapi.json").get_json()
    for method, path in _documented_operations(doc):
        if not path.startswith("/api/"):
            continue
        responses = doc["paths"][path][method.lower()]["responses"]
        expected = {"502", "503", "504"}
        if method in {"POST", "PUT", "PATCH", "DELETE"}:
            expected |= {"413", "429"}
        assert expected <= set(responses), (method, path)
        for status in expected:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}


def test_patch_needs_a_field_in_the_document_too(client, created):
    """The document's PATCH body has minProperties 1, and the API refuses {} accordingly."""
    doc = client.get("/api/openapi.json").get_json()
    assert doc["components"]["schemas"]["AttendeePatch"]["minProperties"] == 1
    response = client.patch(f"/api/attendees/{created()['id']}", json={})
    assert response.status_code == 422
