"""The benchmark's credentials: our stacks' routes under /api/attendees need a signed-in user,
so each of our stacks, once up, gets an API token of its first admin, and every request the
benchmark sends there (wrk, urllib) carries it. The practice-style setups have no accounts and
get none."""

import urllib.parse
import urllib.request

from devtools.signin import ADMIN, api_token

# Origin (scheme://host:port) -> the bearer token that requests there send.
_TOKENS: dict[str, str] = {}


def _origin(url: str) -> str:
    """The scheme, host and port of URL."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(urls: list[str], password: str) -> None:
    """Make a token of the first admin's at URLS[0] and send it to every one of URLS (nginx
    and the replicas behind it share one database, so one token is good at each)."""
    token = api_token(urls[0], ADMIN, password, name="benchmark")
    for url in urls:
        _TOKENS[_origin(url)] = token


def token_for(url: str) -> str | None:
    """The token that requests to URL send, if that origin is one of our signed-in stacks."""
    return _TOKENS.get(_origin(url))


def open_url(url: str, timeout: float):
    """urllib's urlopen of URL (loopback only), with the token of its origin if it has one."""
    token = token_for(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback only)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (loopback only)
