"""Concurrent creates of the same email: the unique index lets exactly one win."""

from concurrent.futures import ThreadPoolExecutor


def test_concurrent_creates_of_one_email_have_exactly_one_winner(make_app, attendee_body):
    """Eight replicas post the same email at once: one 201, seven 409, one stored."""
    apps = [make_app(replica_name=f"r{i}") for i in range(8)]
    for app in apps:  # connect and build indexes first, so the posts really race
        app.test_client().get("/api/attendees")

    def post(app):
        return (
            app.test_client()
            .post("/api/attendees", json=attendee_body(email="race@example.edu"))
            .status_code
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(post, apps))
    assert statuses == [201] + [409] * 7
    listing = apps[0].test_client().get("/api/attendees?q=").get_json()
    assert [a["email"] for a in listing["items"]] == ["race@example.edu"]
