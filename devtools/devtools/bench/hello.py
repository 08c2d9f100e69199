"""A bare WSGI hello-world: the ceiling of one replica's server with no Flask and no database."""

BODY = b'{"hello":"world"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    """Answer every request, /readyz included, with the same small JSON body."""
    start_response("200 OK", HEADERS)
    return [BODY]
