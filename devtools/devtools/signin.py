"""Signing in to a running stack over HTTP, as a browser (session cookie + CSRF token) or as a
script (an API token): for the tests, the benchmark and the generators."""

import time

import requests
from requests.adapters import HTTPAdapter

ADMIN = "admin"


def _session(verify: str | bool) -> requests.Session:
    """A requests session that verifies HTTPS with VERIFY: True for the usual trust (which
    REQUESTS_CA_BUNDLE may name), or a certificate authority's file, which then wins over
    REQUESTS_CA_BUNDLE (requests lets that variable override a session's own setting)."""
    session = requests.Session()
    session.verify = verify
    if verify is not True:
        session.trust_env = False
    return session


def browser_session(
    base_url: str, username: str, password: str, verify: str | bool = True
) -> requests.Session:
    """A session signed in with USERNAME/PASSWORD: the cookie, and the CSRF token on every
    request (as the UI sends it on writes). Raises for a refused sign-in."""
    session = _session(verify)
    answer = session.post(
        f"{base_url}/api/session", json={"username": username, "password": password}, timeout=10
    )
    answer.raise_for_status()
    session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return session


def api_token(
    base_url: str, username: str, password: str, name: str = "devtools", verify: str | bool = True
) -> str:
    """A new API token of USERNAME's: signs in, creates the token, signs out again."""
    with browser_session(base_url, username, password, verify) as session:
        created = session.post(f"{base_url}/api/tokens", json={"name": name, "days": 1}, timeout=10)
        created.raise_for_status()
        end_session(session, base_url)
    return created.json()["token"]


def end_session(session: requests.Session, base_url: str, attempts: int = 5) -> None:
    """Sign SESSION out, again after Retry-After while the replica is busy with another
    revocation (429 revocation_busy)."""
    for _ in range(attempts):
        answer = session.delete(f"{base_url}/api/session", timeout=10)
        if answer.status_code != 429:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    answer.raise_for_status()


def token_session(token: str, verify: str | bool = True) -> requests.Session:
    """A requests session that sends TOKEN as its bearer credential on every request."""
    session = _session(verify)
    session.headers["Authorization"] = f"Bearer {token}"
    return session


class _FromAddress(HTTPAdapter):
    """Connects from one source address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        """Bind every connection to the address."""
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str, verify: str | bool = True) -> requests.Session:
    """A requests session whose connections come from ADDRESS (a loopback address such as
    127.0.3.7: nginx then counts its per-address limits apart, as for another client)."""
    session = _session(verify)
    for scheme in ("http://", "https://"):
        session.mount(scheme, _FromAddress(address))
    return session
