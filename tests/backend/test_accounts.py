"""Accounts: who may do what (a table of every route and method by role), sessions and their
CSRF check, API tokens, revocation, sign-in throttling, the audit trail, and bad input."""

import statistics
import time

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient

from attendee_directory import accounts
from attendee_directory.collection_names import USERS
from attendee_directory.db import get_db
from tests.backend.signed_in import ADMIN_PASSWORD, token_for

PASSWORD = "a long enough password"
ATTENDEE = "/api/attendees/{id}"


def _client(app, token: str | None = None) -> FlaskClient:
    """A test client with TOKEN as its bearer credential, or none."""
    client = FlaskClient(app, app.response_class, use_cookies=True)
    if token:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def people(app, client, created):
    """A viewer, an editor, a second admin and a disabled editor, a token each (the disabled
    one's made before it was disabled), a revoked token, and an attendee to act on."""
    attendee = created()
    tokens = {"admin": client.environ_base["HTTP_AUTHORIZATION"].split()[1]}
    for name, role in (("viewer", "viewer"), ("editor", "editor"), ("admin2", "admin")):
        answer = client.post(
            "/api/users", json={"username": name, "password": PASSWORD, "role": role}
        )
        assert answer.status_code == 201, answer.get_json()
        tokens[name] = token_for(app, name)
    client.post("/api/users", json={"username": "gone", "password": PASSWORD, "role": "editor"})
    tokens["disabled"] = token_for(app, "gone")
    assert client.patch("/api/users/gone", json={"disabled": True}).status_code == 200
    editor = _client(app, tokens["editor"])
    made = editor.post("/api/tokens", json={"name": "to revoke"}).get_json()
    assert editor.delete(f"/api/tokens/{made['id']}").status_code == 204
    tokens["revoked"] = made["token"]
    return attendee, tokens


NEW = {
    "full_name": "Tran Thi Binh",
    "email": "binh@example.edu",
    "year_of_birth": 2000,
    "gender": "female",
    "university": "VNU",
    "major": "Physics",
}
# (method, path, body) -> the status for each of: anonymous, viewer, editor, admin, disabled
# user, revoked token. {id} is the attendee's id.
MATRIX = [
    ("GET", "/api/attendees", None, (401, 200, 200, 200, 401, 401)),
    ("GET", ATTENDEE, None, (401, 200, 200, 200, 401, 401)),
    ("GET", ATTENDEE + "/history", None, (401, 200, 200, 200, 401, 401)),
    ("POST", "/api/attendees", NEW, (401, 403, 201, 201, 401, 401)),
    ("PUT", ATTENDEE, {**NEW, "email": "put@example.edu"}, (401, 403, 200, 200, 401, 401)),
    ("PATCH", ATTENDEE, {"major": "Law"}, (401, 403, 200, 200, 401, 401)),
    ("DELETE", ATTENDEE, None, (401, 403, 204, 204, 401, 401)),
    ("GET", "/api/tokens", None, (401, 200, 200, 200, 401, 401)),
    ("POST", "/api/tokens", {"name": "script"}, (401, 201, 201, 201, 401, 401)),
    ("DELETE", "/api/tokens/nosuchtoken", None, (401, 404, 404, 404, 401, 401)),
    ("GET", "/api/users", None, (401, 403, 403, 200, 401, 401)),
    ("GET", "/api/users/viewer", None, (401, 403, 403, 200, 401, 401)),
    (
        "POST",
        "/api/users",
        {"username": "new", "password": PASSWORD, "role": "viewer"},
        (401, 403, 403, 201, 401, 401),
    ),
    ("PATCH", "/api/users/viewer", {"role": "viewer"}, (401, 403, 403, 200, 401, 401)),
    ("GET", "/api/audit", None, (401, 403, 403, 200, 401, 401)),
    ("GET", "/api/session", None, (401, 200, 200, 200, 401, 401)),
    ("GET", "/api/whoami", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/replicas", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/healthz", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/openapi.json", None, (200, 200, 200, 200, 200, 200)),
]
WHO = ("anonymous", "viewer", "editor", "admin2", "disabled", "revoked")
ERRORS = {401: ("authentication_required", "invalid_token"), 403: ("forbidden",)}


@pytest.mark.parametrize("who", WHO)
def test_each_role_gets_exactly_its_routes(app, people, who):
    """Every route and method, for each kind of caller: the status, and the error code."""
    attendee, tokens = people
    client = _client(app, tokens.get(who))
    for method, path, body, statuses in MATRIX:
        expected = statuses[WHO.index(who)]
        # A write of the editor's is followed by the admin's: each row starts from a fresh email.
        if body is not None and "email" in body:
            body = {**body, "email": f"{who}.{body['email']}"}
        if body is not None and body.get("username") == "new":
            body = {**body, "username": f"new-{who}"}
        url = path.replace("{id}", attendee["id"])
        answer = client.open(url, method=method, json=body)
        assert answer.status_code == expected, (who, method, path, answer.get_json())
        if expected in ERRORS:
            assert answer.get_json()["error"] in ERRORS[expected], (method, path)
        if expected == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        if method == "DELETE" and expected == 204:
            break  # the attendee is gone: the rows after it were checked on the way


def test_sessions_need_the_csrf_token_and_the_same_origin_for_writes(app, anonymous):
    """A cookie signs in; a write with it needs X-CSRF-Token, and a foreign Origin or a
    cross-site fetch is refused even with the token. Nothing is stored by a refused write."""
    signed = anonymous.post("/api/session", json={"username": "ADMIN", "password": ADMIN_PASSWORD})
    assert signed.status_code == 200, signed.get_json()
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    csrf = signed.get_json()["csrf_token"]
    assert anonymous.get("/api/attendees").status_code == 200
    refused = [
        ({}, "csrf_token_missing"),
        ({"X-CSRF-Token": "wrong"}, "csrf_token_missing"),
        ({"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:9999"}, "cross_site_request"),
        ({"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-site"}, "cross_site_request"),
    ]
    for headers, error in refused:
        answer = anonymous.post("/api/attendees", json=NEW, headers=headers)
        assert (answer.status_code, answer.get_json()["error"]) == (403, error), headers
    assert anonymous.get("/api/attendees").get_json()["total"] == 0
    same = {"X-CSRF-Token": csrf, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert anonymous.post("/api/attendees", json=NEW, headers=same).status_code == 201


def test_https_makes_the_cookie_secure(anonymous):
    """Behind nginx on HTTPS (X-Forwarded-Proto: https) the cookie is Secure."""
    signed = anonymous.post(
        "/api/session",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in signed.headers["Set-Cookie"]


def test_sign_out_a_new_password_or_disabling_ends_sessions_at_once(app, client, make_app):
    """A session ends on every replica at once: after sign-out, a password reset or disabling
    the user, the next request (here on another app, standing for another replica) is 401."""
    other = make_app()
    client.post("/api/users", json={"username": "ed", "password": PASSWORD, "role": "editor"})
    for end in ("sign-out", "password", "disable"):
        browser = _client(app)
        signed = browser.post("/api/session", json={"username": "ed", "password": PASSWORD})
        assert signed.status_code == 200, (end, signed.get_json())
        csrf = {"X-CSRF-Token": signed.get_json()["csrf_token"]}
        elsewhere = _client(other)
        elsewhere.set_cookie("vdt_session", browser.get_cookie("vdt_session").value)
        assert elsewhere.get("/api/attendees").status_code == 200
        if end == "sign-out":
            assert browser.delete("/api/session", headers=csrf).status_code == 204
        elif end == "password":
            new = {"password": PASSWORD + "!"}
            assert client.patch("/api/users/ed", json=new).status_code == 200
            client.patch("/api/users/ed", json={"password": PASSWORD})
        else:
            assert client.patch("/api/users/ed", json={"disabled": True}).status_code == 200
        answer = elsewhere.get("/api/attendees")
        assert answer.status_code == 401, end
        assert "vdt_session=;" in answer.headers.get("Set-Cookie", ""), "the dead cookie is cleared"
    refused = _client(app).post("/api/session", json={"username": "ed", "password": PASSWORD})
    assert refused.status_code == 401  # disabled: the same answer as a wrong password


def test_a_role_change_applies_to_open_sessions_and_tokens(app, client):
    """Demote an editor: their token can no longer write, from the next request on."""
    client.post("/api/users", json={"username": "ed", "password": PASSWORD, "role": "editor"})
    editor = _client(app, token_for(app, "ed"))
    assert editor.post("/api/attendees", json=NEW).status_code == 201
    assert client.patch("/api/users/ed", json={"role": "viewer"}).status_code == 200
    refused = editor.post("/api/attendees", json={**NEW, "email": "x@example.edu"})
    assert (refused.status_code, refused.get_json()["error"]) == (403, "forbidden")


def test_tokens_are_shown_once_listed_without_secrets_and_revocable(app, client):
    """A created token works; the list never shows a secret; a revoked one is 401 at once."""
    made = client.post("/api/tokens", json={"name": "export", "days": 5000})
    assert made.status_code == 422  # days over 3650
    made = client.post("/api/tokens", json={"name": "export", "days": 7})
    assert made.status_code == 201
    secret, token_id = made.get_json()["token"], made.get_json()["id"]
    listed = client.get("/api/tokens").get_json()["items"]
    assert token_id in {t["id"] for t in listed}
    assert secret not in str(listed)
    script = _client(app, secret)
    assert script.get("/api/attendees").status_code == 200
    assert client.delete(f"/api/tokens/{token_id}").status_code == 204
    assert script.get("/api/attendees").get_json()["error"] == "invalid_token"
    with app.app_context():
        stored = get_db()["api_tokens"].find_one({"token_id": {"$exists": True}})
        assert secret not in str(stored)


def test_admins_cannot_lock_themselves_or_everyone_out(client):
    """The last enabled admin cannot be demoted or disabled; nobody demotes themselves."""
    for change in ({"role": "editor"}, {"disabled": True}):
        answer = client.patch("/api/users/admin", json=change)
        assert (answer.status_code, answer.get_json()["error"]) == (409, "own_account")
    assert client.patch("/api/users/nobody", json={"role": "viewer"}).status_code == 404
    taken = client.post(
        "/api/users", json={"username": "Admin", "password": PASSWORD, "role": "viewer"}
    )
    assert (taken.status_code, taken.get_json()["error"]) == (409, "username_taken")


def test_the_audit_trail_names_who_changed_what(client, created):
    """Every attendee write records its author on the attendee and an entry in the trail."""
    attendee = created()
    assert attendee["created_by"] == "admin"
    url = f"/api/attendees/{attendee['id']}"
    changed = client.patch(url, json={"major": "Law"}, headers={"X-Request-ID": "req-42"})
    assert changed.get_json()["updated_by"] == "admin"
    history = client.get(f"{url}/history").get_json()["items"]
    assert [e["action"] for e in history] == ["attendee.update", "attendee.create"]
    assert history[0]["changes"] == {"major": {"from": "Computer Science", "to": "Law"}}
    assert history[0]["request_id"] == "req-42" and history[0]["actor"] == "admin"
    assert client.delete(url).status_code == 204
    assert client.get(f"{url}/history").status_code == 404  # gone, like the attendee
    trail = client.get("/api/audit?per_page=100").get_json()
    assert trail["items"][0]["action"] == "attendee.delete"
    assert trail["items"][0]["changes"]["major"] == {"from": "Law"}
    assert "user.create" in {e["action"] for e in trail["items"]}  # the first admin


def test_failed_sign_ins_are_throttled_with_growing_delays(app, make_app, anonymous):
    """Fail past the allowance: 429 with Retry-After, growing with each further failure; the
    right password is refused too while locked; another account signs in unaffected; an
    unknown user gets the same answers as a wrong password."""
    quick = make_app(signin_account_attempts=3, signin_delay_seconds=0.2)
    client = _client(quick)
    with quick.app_context():
        accounts.create_user(get_db(), "victim", PASSWORD, "editor", ("test", "cli"))
        accounts.create_user(get_db(), "bystander", PASSWORD, "viewer", ("test", "cli"))
    locks = []
    for name in ("victim", "nobody-at-all"):
        answers = []
        for _ in range(6):
            answer = client.post("/api/session", json={"username": name, "password": "wrong guess"})
            answers.append((answer.status_code, answer.get_json()["error"]))
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) >= 1
                began = time.monotonic()
                while (
                    client.post(
                        "/api/session", json={"username": name, "password": "wrong guess"}
                    ).status_code
                    == 429
                ):
                    time.sleep(0.02)
                locks.append((name, time.monotonic() - began))
        # The same answers, in the same order, for a known and an unknown username.
        assert answers[:3] == [(401, "invalid_credentials")] * 3, answers
        assert (429, "too_many_attempts") in answers
        locked = client.post("/api/session", json={"username": name, "password": PASSWORD})
        assert locked.status_code == 429, name
    victim_locks = [took for name, took in locks if name == "victim"]
    # The last lock against the first: each is its delay plus one password check (noisy).
    assert len(victim_locks) >= 2 and victim_locks[-1] > victim_locks[0] * 1.5, locks
    assert (
        client.post(
            "/api/session", json={"username": "bystander", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_an_unknown_user_costs_the_same_time_as_a_wrong_password(client):
    """Both verify one argon2 hash: the times are alike (medians of 7, within a factor of 2;
    taken in turns, so that load from elsewhere on the machine falls on both alike)."""
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for index in range(7):  # a user of each kind per sample: no account reaches its throttle
        user = {"username": f"known{index}", "password": PASSWORD, "role": "viewer"}
        client.post("/api/users", json=user)
        for kind, taken in times.items():
            began = time.perf_counter()
            answer = client.post(
                "/api/session",
                json={"username": f"{kind}{index}", "password": "wrong password"},
                environ_base={"REMOTE_ADDR": f"10.0.{len(taken)}.{index}"},
            )
            taken.append(time.perf_counter() - began)
            assert answer.status_code == 401
    known, unknown = (statistics.median(taken) for taken in times.values())
    assert 0.5 < known / unknown < 2, times


def test_a_changed_hash_parameter_is_rehashed_at_sign_in(app, anonymous):
    """A password stored with other argon2 parameters is rehashed with today's on sign-in."""
    with app.app_context():
        database = get_db()
        user = accounts.create_user(database, "old", PASSWORD, "viewer", ("test", "cli"))
        old_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
        database[USERS].update_one({"_id": user["_id"]}, {"$set": {"password_hash": old_hash}})
    assert (
        anonymous.post("/api/session", json={"username": "old", "password": PASSWORD}).status_code
        == 200
    )
    with app.app_context():
        stored = get_db()[USERS].find_one({"_id": user["_id"]})["password_hash"]
    assert stored != old_hash and "m=19456,t=2,p=1" in stored


BAD = [
    ("POST", "/api/session", {"username": "", "password": "x"}, 422),
    ("POST", "/api/session", {"username": "admin", "password": "é" * 600}, 422),
    ("POST", "/api/session", {"username": "a" * 65, "password": "x"}, 422),
    ("POST", "/api/session", {"username": 5, "password": None}, 422),
    ("POST", "/api/session", [1, 2], 422),
    ("POST", "/api/session", b"\xff\xfe not utf-8", 400),
    ("POST", "/api/tokens", {"name": "", "days": 1}, 422),
    ("POST", "/api/tokens", {"name": "x" * 500}, 422),
    ("POST", "/api/tokens", {"name": "x", "days": "7"}, 422),
    ("POST", "/api/users", {"username": "bad name", "password": PASSWORD, "role": "viewer"}, 422),
    ("POST", "/api/users", {"username": "short", "password": "short", "role": "viewer"}, 422),
    ("POST", "/api/users", {"username": "x", "password": "p" * 1025, "role": "viewer"}, 422),
    ("POST", "/api/users", {"username": "x", "password": PASSWORD, "role": "root"}, 422),
    ("PATCH", "/api/users/admin", {}, 422),
    ("PATCH", "/api/users/admin", {"disabled": "yes"}, 422),
    ("GET", "/api/users?page=0", None, 400),
    ("GET", "/api/audit?per_page=1000", None, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD)
def test_bad_input_on_the_new_endpoints_is_a_clear_4xx(client, method, path, body, status):
    """Each bad input answers its 4xx with the error shape, never a 500."""
    if isinstance(body, bytes):
        answer = client.open(path, method=method, data=body, content_type="application/json")
    else:
        answer = client.open(path, method=method, json=body)
    assert answer.status_code == status, answer.get_json()
    assert set(answer.get_json()) >= {"error", "message"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46cGFzcw=="},
        {"Authorization": "Bearer vdt_" + "x" * 4000},
        {"Authorization": "Bearer vdt_" + "\u00e9" * 43},
        {"Authorization": "Bearer vdt_" + "a" * 43},
        {"Cookie": "vdt_session=" + "a" * 43},
        {"Cookie": "vdt_session=%%%; other=1"},
        {"Cookie": "vdt_session=" + "b" * 5000},
    ],
)
def test_malformed_credentials_are_a_401_never_a_500(anonymous, headers):
    """A malformed, unknown or overlong token or cookie: 401 in the error shape."""
    answer = anonymous.get("/api/attendees", headers=headers)
    assert answer.status_code == 401, answer.get_json()
    assert answer.get_json()["error"] in ("authentication_required", "invalid_token")
