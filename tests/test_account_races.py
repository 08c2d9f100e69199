"""Accounts between two requests, on the real stack (nginx, 2 replicas, the database): a sign-in
or token creation racing a disable, reset or demotion; tokens that end for good; the sign-in
throttle under parallel bursts and from several addresses; revocations that cannot hold a
replica's threads; two admins demoting each other; idempotency keys per user; what is audited;
and what may be cached. The races run threads through nginx, round after round.

Each client address is a loopback address of its own (127.0.x.y: the whole 127/8 is this
machine's), so each test has fresh per-address limits, as attackers with many addresses would."""

import itertools
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devtools.signin import session_from, token_session
from nginx_config import FrontDoor
from tests.stack_helpers import admin_token, new_stack

pytestmark = pytest.mark.stack

PASSWORD = "a long enough password"
ROUNDS = 8
# Writes are not rate limited here: these tests are about the app between requests, and
# attackers with many addresses are not held by a per-address write limit either.
OPEN_DOOR = FrontDoor(
    read_rate="10000r/s",
    read_burst=10000,
    write_rate="10000r/s",
    write_burst=10000,
    conn_limit=1000,
)
_addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(2, 250)))
_address_lock = threading.Lock()


def new_address() -> str:
    """A loopback address no other test of this module has used."""
    with _address_lock:
        return next(_addresses)


def client_at(address: str) -> requests.Session:
    """A requests session whose connections come from ADDRESS."""
    return session_from(address)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Two replicas behind nginx, writes unlimited."""
    with new_stack(tmp_path_factory, "races", replicas=2, front_door=OPEN_DOOR) as running:
        yield running


@pytest.fixture(scope="module")
def admin(stack) -> requests.Session:
    """The first admin, by API token."""
    return token_session(admin_token(stack))


def new_user(stack, admin, role: str) -> str:
    """A new user with ROLE and PASSWORD; its name."""
    name = f"u{uuid.uuid4().hex[:10]}"
    made = admin.post(
        f"{stack.url}/api/users",
        json={"username": name, "password": PASSWORD, "role": role},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    return name


def sign_in(stack, name: str, password: str = PASSWORD, address: str | None = None):
    """(status, session) of one sign-in from ADDRESS (a fresh one if not given)."""
    session = client_at(address or new_address())
    answer = session.post(
        f"{stack.url}/api/session", json={"username": name, "password": password}, timeout=10
    )
    if answer.status_code == 200:
        session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return answer.status_code, session


def patch_user(stack, admin, name: str, change: dict) -> requests.Response:
    """An admin's change to a user."""
    return admin.patch(f"{stack.url}/api/users/{name}", json=change, timeout=10)


def race(work, change, threads: int = 4, tail: float = 0.1) -> list:
    """Run WORK(stop, collected) in THREADS threads; once the first result is in (and more
    are in flight), CHANGE(); stop TAIL seconds after it answered. What WORK collected."""
    stop = threading.Event()
    collected: list = []
    with ThreadPoolExecutor(threads) as pool:
        runs = [pool.submit(work, stop, collected) for _ in range(threads)]
        deadline = time.monotonic() + 30
        while not collected and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)
        try:
            change()
        finally:
            time.sleep(tail)
            stop.set()
            for run in runs:
                run.result(timeout=60)
    return collected


CHANGES = {
    # change: (the user's role, the change, a request every surviving session must fail, status)
    "disable": ("editor", {"disabled": True}, ("GET", "/api/attendees"), 401),
    "password": ("editor", {"password": PASSWORD + " changed"}, ("GET", "/api/attendees"), 401),
    "demote": ("admin", {"role": "viewer"}, ("GET", "/api/audit"), 403),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_sign_in_racing_a_change_never_outlives_it(stack, admin, change):
    """Sign-ins in flight (each ~40 ms in argon2) while an admin disables, resets or demotes
    the user: once the change has answered, no session from before or during it may act as
    the user was (issue: a session copied from the read before the hash survived the sweep)."""
    role, body, (method, path), refused = CHANGES[change]
    checked = 0
    for _ in range(ROUNDS):
        name = new_user(stack, admin, role)
        address = new_address()

        def signing_in(stop, sessions, name=name, address=address) -> None:
            while not stop.is_set() and len(sessions) < 100:
                status, session = sign_in(stack, name, address=address)
                if status == 200:
                    sessions.append(session)

        def changed(name=name) -> None:
            answer = patch_user(stack, admin, name, body)
            assert answer.status_code == 200, answer.text

        sessions = race(signing_in, changed)
        assert sessions, "no sign-in got through before the change"
        for session in sessions:
            answer = session.request(method, f"{stack.url}{path}", timeout=10)
            assert answer.status_code == refused, (change, answer.status_code, answer.text)
        checked += len(sessions)
    print(f"\n[races] {change}: {checked} sessions opened around {ROUNDS} changes, none outlived")


def test_a_token_made_while_its_user_is_disabled_dies_with_the_user(stack, admin):
    """POST /api/tokens from a session in flight while an admin disables the user: every token
    made is refused once the disable answered, and stays refused after enabling the user."""
    made_total = 0
    for _ in range(ROUNDS // 2):
        name = new_user(stack, admin, "editor")
        status, browser = sign_in(stack, name)
        assert status == 200
        lock = threading.Lock()

        def making(stop, tokens, browser=browser, lock=lock) -> None:
            while not stop.is_set() and len(tokens) < 40:
                with lock:  # one requests.Session is not shared between threads unguarded
                    answer = browser.post(f"{stack.url}/api/tokens", json={"name": "t"}, timeout=10)
                if answer.status_code == 201:
                    tokens.append(answer.json()["token"])

        def disabled(name=name) -> None:
            assert patch_user(stack, admin, name, {"disabled": True}).status_code == 200

        tokens = race(making, disabled, threads=3)
        assert tokens, "no token was made before the disable"
        assert patch_user(stack, admin, name, {"disabled": False}).status_code == 200
        for token in tokens:
            answer = token_session(token).get(f"{stack.url}/api/attendees", timeout=10)
            assert answer.status_code == 401, answer.text
        made_total += len(tokens)
    print(f"\n[races] tokens made around a disable: {made_total}, none works after it")


def test_a_reset_or_disable_ends_tokens_for_good_and_admins_manage_them(stack, admin):
    """A password reset ends the user's tokens; so does a disable, and enabling brings none
    back. Admins list any user's tokens (never their secrets) and revoke one; others may not."""
    name = new_user(stack, admin, "editor")
    status, browser = sign_in(stack, name)
    assert status == 200
    first = browser.post(f"{stack.url}/api/tokens", json={"name": "before reset"}, timeout=10)
    assert first.status_code == 201
    first_token = token_session(first.json()["token"])
    assert first_token.get(f"{stack.url}/api/attendees", timeout=10).status_code == 200
    assert patch_user(stack, admin, name, {"password": PASSWORD + "!"}).status_code == 200
    assert first_token.get(f"{stack.url}/api/attendees", timeout=10).status_code == 401

    status, browser = sign_in(stack, name, PASSWORD + "!")
    assert status == 200
    made = [
        browser.post(f"{stack.url}/api/tokens", json={"name": f"t{n}"}, timeout=10).json()
        for n in range(2)
    ]
    listed = admin.get(f"{stack.url}/api/users/{name}/tokens", timeout=10)
    assert listed.status_code == 200
    assert {t["id"] for t in listed.json()["items"]} == {t["id"] for t in made}
    assert all(t["token"] not in listed.text for t in made), "a secret was listed"
    # Nobody but an admin sees or revokes another user's tokens.
    other = new_user(stack, admin, "editor")
    _, outsider = sign_in(stack, other)
    assert outsider.get(f"{stack.url}/api/users/{name}/tokens", timeout=10).status_code == 403
    revoke = f"{stack.url}/api/users/{name}/tokens/{made[0]['id']}"
    assert outsider.delete(revoke, timeout=10).status_code == 403
    assert admin.delete(revoke, timeout=10).status_code == 204
    assert admin.delete(revoke, timeout=10).status_code == 404
    gone = token_session(made[0]["token"]).get(f"{stack.url}/api/attendees", timeout=10)
    assert gone.status_code == 401
    kept = token_session(made[1]["token"])
    assert kept.get(f"{stack.url}/api/attendees", timeout=10).status_code == 200

    assert patch_user(stack, admin, name, {"disabled": True}).status_code == 200
    assert patch_user(stack, admin, name, {"disabled": False}).status_code == 200
    assert kept.get(f"{stack.url}/api/attendees", timeout=10).status_code == 401
    assert admin.get(f"{stack.url}/api/users/{name}/tokens", timeout=10).json()["items"] == []


def test_a_parallel_burst_checks_no_more_passwords_than_the_allowance(stack, admin):
    """20 wrong passwords at once on a fresh account from one address: at most 5 (the
    allowance) are checked (401); the rest are 429 before any hash is verified, and the right
    password straight after is refused too (issue: 8-14 were checked, and the right password
    got in inside the burst)."""
    for _ in range(3):
        name = new_user(stack, admin, "viewer")
        address = new_address()
        barrier = threading.Barrier(20)

        def attempt(_, address=address, barrier=barrier, name=name) -> int:
            session = client_at(address)
            barrier.wait(10)
            return session.post(
                f"{stack.url}/api/session",
                json={"username": name, "password": "wrong guess"},
                timeout=30,
            ).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(attempt, range(20)))
        assert set(statuses) <= {401, 429}, statuses
        assert statuses.count(401) <= 5, statuses
        assert sign_in(stack, name, address=address)[0] == 429


def test_a_stranger_cannot_lock_the_owner_out_but_spraying_is_still_stopped(stack, admin):
    """Failures from one address lock that address out of the account, not the owner at theirs
    (one they signed in from before, or a new one); one address failing on many accounts is
    still locked out of every account."""
    name = new_user(stack, admin, "editor")
    home = new_address()
    assert sign_in(stack, name, address=home)[0] == 200
    stranger = new_address()
    answers = [sign_in(stack, name, "wrong guess", stranger)[0] for _ in range(8)]
    assert answers[:5] == [401] * 5 and 429 in answers, answers
    assert sign_in(stack, name, address=stranger)[0] == 429  # the right password, too
    assert sign_in(stack, name, address=home)[0] == 200
    assert sign_in(stack, name, address=new_address())[0] == 200

    sprayer = new_address()
    sprayed = [sign_in(stack, f"nobody{n}", "wrong guess", sprayer)[0] for n in range(24)]
    assert sprayed[:20] == [401] * 20 and sprayed[-1] == 429, sprayed
    assert sign_in(stack, name, address=sprayer)[0] == 429


def test_revocations_cannot_hold_every_thread_of_a_replica(stack, admin):
    """Many users revoking at once: each replica lets one revocation wait at a time and
    refuses the others at once (429 revocation_busy, Retry-After), instead of each holding a
    worker thread; every revocation answered 204 is refused on both replicas straight after."""
    viewers = []
    for _ in range(8):
        name = new_user(stack, admin, "viewer")
        _, browser = sign_in(stack, name)
        viewers.append(browser)
    busy = 0
    for _ in range(5):
        tokens = [
            browser.post(f"{stack.url}/api/tokens", json={"name": "r"}, timeout=10).json()
            for browser in viewers
        ]
        barrier = threading.Barrier(len(viewers))

        def revoke(pair, barrier=barrier) -> requests.Response:
            browser, token = pair
            barrier.wait(10)
            return browser.delete(f"{stack.url}/api/tokens/{token['id']}", timeout=10)

        with ThreadPoolExecutor(len(viewers)) as pool:
            answers = list(pool.map(revoke, zip(viewers, tokens, strict=True)))
        assert {a.status_code for a in answers} <= {204, 429}, [a.text for a in answers]
        for answer, token in zip(answers, tokens, strict=True):
            if answer.status_code == 429:
                busy += 1
                assert answer.json()["error"] == "revocation_busy"
                assert int(answer.headers["Retry-After"]) >= 1
                continue
            script = token_session(token["token"])
            for _ in range(2):  # round robin: both replicas
                assert script.get(f"{stack.url}/api/attendees", timeout=10).status_code == 401
        if busy:
            break
    assert busy, "every revocation waited in a thread of its own"


def test_two_admins_demoting_each_other_leave_an_admin(stack, admin):
    """Two admins demote each other at the same moment, round after round: never both win;
    an enabled admin always remains (issue: both succeeded, leaving none)."""
    boss = new_user(stack, admin, "admin")
    _, boss_browser = sign_in(stack, boss)
    admins = {"admin": admin, boss: boss_browser}
    outcomes = []
    for _ in range(ROUNDS * 3):
        barrier = threading.Barrier(2)

        def demote(pair, barrier=barrier) -> int:
            actor, target = pair
            barrier.wait(10)
            return patch_user(stack, admins[actor], target, {"role": "viewer"}).status_code

        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(demote, [("admin", boss), (boss, "admin")]))
        outcomes.append(tuple(statuses))
        assert statuses.count(200) <= 1, statuses
        assert set(statuses) <= {200, 409}, statuses
        users = admin.get(f"{stack.url}/api/users?per_page=100", timeout=10)
        if users.status_code != 200:
            users = boss_browser.get(f"{stack.url}/api/users?per_page=100", timeout=10)
        assert users.status_code == 200, "neither is an admin any more"
        roles = {u["username"]: u["role"] for u in users.json()["items"]}
        assert "admin" in (roles["admin"], roles[boss])
        for name in ("admin", boss):  # the one left promotes the other back
            if roles[name] != "admin":
                keeper = admins[boss if name == "admin" else "admin"]
                assert patch_user(stack, keeper, name, {"role": "admin"}).status_code == 200
    print(f"\n[races] mutual demotions (statuses per round): {outcomes}")


def test_idempotency_keys_belong_to_the_user_who_sent_them(stack, admin):
    """Another editor's request with the same Idempotency-Key is their own: neither a replay
    of the first editor's answer nor a conflict with it."""
    editors = []
    for _ in range(2):
        _, browser = sign_in(stack, new_user(stack, admin, "editor"))
        editors.append(browser)
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    bodies = [
        {
            "full_name": f"Idem {n}",
            "email": f"idem{n}.{uuid.uuid4().hex[:8]}@example.edu",
            "year_of_birth": 2000,
            "gender": "female",
            "university": "VNU",
            "major": "Physics",
        }
        for n in range(2)
    ]
    first = editors[0].post(f"{stack.url}/api/attendees", json=bodies[0], headers=key, timeout=10)
    second = editors[1].post(f"{stack.url}/api/attendees", json=bodies[1], headers=key, timeout=10)
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second.headers
    again = editors[0].post(f"{stack.url}/api/attendees", json=bodies[0], headers=key, timeout=10)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"]


def test_security_events_are_audited_without_secrets(stack, admin):
    """Sign-in successes and failures (with the address and request id), lock-outs, token
    creation and revocation and a password change each leave an audit entry; no password or
    token secret is in the trail."""
    name = new_user(stack, admin, "editor")
    address = new_address()
    for _ in range(6):
        sign_in(stack, name, "wrong guess", address)
    status, browser = sign_in(stack, name)
    assert status == 200
    made = browser.post(f"{stack.url}/api/tokens", json={"name": "audited"}, timeout=10).json()
    assert browser.delete(f"{stack.url}/api/tokens/{made['id']}", timeout=10).status_code == 204
    assert patch_user(stack, admin, name, {"password": PASSWORD + "?"}).status_code == 200
    trail = admin.get(f"{stack.url}/api/audit?per_page=100", timeout=10)
    entries = [e for e in trail.json()["items"] if e["target"] == {"type": "user", "id": name}]
    actions = [e["action"] for e in entries]
    for action in ("signin.failure", "signin.locked", "signin.success", "token.create"):
        assert action in actions, actions
    assert "token.revoke" in actions and "user.update" in actions, actions
    failure = next(e for e in entries if e["action"] == "signin.failure")
    assert failure["changes"]["address"] == {"to": address}
    assert failure["request_id"] not in ("", "-")
    dump = json.dumps(entries)
    for secret in ("wrong guess", PASSWORD, made["token"]):
        assert secret not in dump


def test_answers_that_hold_secrets_or_data_are_never_cached(stack, admin):
    """Cache-Control: no-store on every /api answer that is not public (a new token's secret,
    the session's CSRF token, attendees, users); the public API document may be cached."""
    _, browser = sign_in(stack, new_user(stack, admin, "editor"))
    answers = {
        "token": browser.post(f"{stack.url}/api/tokens", json={"name": "c"}, timeout=10),
        "session": browser.get(f"{stack.url}/api/session", timeout=10),
        "attendees": browser.get(f"{stack.url}/api/attendees", timeout=10),
        "users": admin.get(f"{stack.url}/api/users", timeout=10),
        "refused": requests.get(f"{stack.url}/api/attendees", timeout=10),
    }
    for what, answer in answers.items():
        assert answer.headers.get("Cache-Control") == "no-store", what
    document = requests.get(f"{stack.url}/api/openapi.json", timeout=10)
    assert "no-store" not in document.headers.get("Cache-Control", "")
