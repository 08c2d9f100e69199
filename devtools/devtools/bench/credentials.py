"""The benchmark's credentials: our stacks' routes under /api/attendees need a signed-in user,
so each of our stacks, once up, signs its first admin in, and every request the benchmark
sends there (wrk, urllib) carries the credential: an API token by default, or the browser's
session cookie. The practice-style setups have no accounts and get none."""

import ssl
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from devtools.signin import ADMIN, api_token, browser_session

Credential = Literal["token", "session"]
SESSION_COOKIE = "vdt_session"  # attendee_directory.auth.SESSION_COOKIE, as a browser sends it

# Origin (scheme://host:port) -> the headers that requests there send.
_HEADERS: dict[str, dict[str, str]] = {}
# Origin -> the certificate authority that verifies its HTTPS (only for origins that have one).
_AUTHORITIES: dict[str, str] = {}


def _origin(url: str) -> str:
    """The scheme, host and port of URL."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _signed_in_headers(
    url: str, password: str, credential: Credential, verify: str | bool
) -> dict[str, str]:
    """The headers of a request signed in at URL as the first admin, with CREDENTIAL: a new API
    token, or a new session's cookie (the session stays open)."""
    if credential == "token":
        token = api_token(url, ADMIN, password, name="benchmark", verify=verify)
        return {"Authorization": f"Bearer {token}"}
    with browser_session(url, ADMIN, password, verify=verify) as browser:
        return {"Cookie": f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"}


def sign_in(
    urls: list[str],
    password: str,
    credential: Credential = "token",
    authority: Path | None = None,
) -> None:
    """Sign the first admin in at URLS[0] and send the credential to every one of URLS (nginx
    and the replicas behind it share one database, so it is good at each). AUTHORITY: the
    certificate authority that verifies the HTTPS ones among them."""
    verify: str | bool = str(authority) if authority else True
    headers = _signed_in_headers(urls[0], password, credential, verify)
    for url in urls:
        also_send(url, headers)
        if authority and url.startswith("https:"):
            _AUTHORITIES[_origin(url)] = str(authority)


def also_send(url: str, headers: dict[str, str]) -> None:
    """Add HEADERS to what requests to URL's origin send (a replica's front-door secret)."""
    _HEADERS[_origin(url)] = {**_HEADERS.get(_origin(url), {}), **headers}


def headers_for(url: str) -> dict[str, str]:
    """The headers that requests to URL send: its origin's credential, if it has one."""
    return _HEADERS.get(_origin(url), {})


def open_url(url: str, timeout: float):
    """urllib's urlopen of URL (loopback only), with the credential of its origin if it has one
    (and, over HTTPS, verified against its authority)."""
    request = urllib.request.Request(url, headers=headers_for(url))  # noqa: S310 (loopback only)
    authority = _AUTHORITIES.get(_origin(url))
    context = ssl.create_default_context(cafile=authority) if authority else None
    return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
