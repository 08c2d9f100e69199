"""The OpenAPI document and the docs page."""

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
