"""Render nginx.conf from nginx.conf.template, for the container image or for a local run.

The template is the one source of truth for the nginx settings; this renderer fills in only
what differs between the two: paths, the listen port and the upstream server list. Container
mode needs nginx 1.27.3+ (upstream `resolve`), so it follows `--scale` without a reload; the
local run lists its replicas' ports, which Debian 12's nginx 1.22 understands.

    python3 nginx_config.py container > /etc/nginx/nginx.conf
"""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("nginx.conf.template")

# Passive health checks: one failure takes a replica out of the pool for 5 s.
FAILOVER = "max_fails=1 fail_timeout=5s"
MAX_BODY = "16k"  # the backend's MAX_BODY_BYTES default is the same 16 KiB
WRITE_RATE = "10r/s"
WRITE_BURST = 20
# Proxy timeouts (the template explains how they fit together): a replica that has not answered
# a read in READ_TIMEOUT is hung and the read goes on to the next one, within READ_BUDGET for all
# tries; a write is never retried and gets its 504 after WRITE_TIMEOUT.
READ_TIMEOUT = "2s"
READ_BUDGET = "5s"
WRITE_TIMEOUT = "5s"
# LOG_FORMAT (the app's setting too) -> the template's log_format name.
NGINX_LOG_FORMATS = {"text": "stack", "json": "stack_json"}
# The container's stub_status listener for the nginx exporter; compose never publishes it.
STATUS_PORT = 8081

# The errors nginx produces itself, as the API's JSON error shape: status -> (error, message).
# 494 is nginx's "request header too large", sent to the client as 400.
JSON_ERRORS = {
    400: ("bad_request", "the request could not be parsed"),
    405: ("method_not_allowed", "the method is not allowed for this resource"),
    408: ("request_timeout", "the request was not received in time"),
    411: ("length_required", "send a Content-Length or a chunked body"),
    413: ("payload_too_large", f"request body larger than {MAX_BODY}"),
    414: ("uri_too_long", "the request URI is too long"),
    429: ("too_many_requests", "write rate limit exceeded; retry shortly"),
    500: ("internal_error", "unexpected server error"),
    501: ("not_implemented", "the request uses a feature this server does not support"),
    502: ("bad_gateway", "no backend replica could answer"),
    503: ("service_unavailable", "the service is unavailable; retry shortly"),
    504: ("gateway_timeout", "the backend did not answer in time"),
    505: ("http_version_not_supported", "use HTTP/1.0 or HTTP/1.1"),
}
ALSO_SENT_AS = {494: 400}


def _error_pages(indent: str, **redirects: str) -> str:
    """error_page lines sending each status of JSON_ERRORS to its JSON location; REDIRECTS
    (e.g. s502="= @api_retry") send a status elsewhere instead."""
    targets = {status: _error_uri(status) for status in JSON_ERRORS}
    targets.update({status: _error_uri(sent) for status, sent in ALSO_SENT_AS.items()})
    targets.update({int(key.removeprefix("s")): target for key, target in redirects.items()})
    by_target: dict[str, list[str]] = {}
    for status, target in sorted(targets.items()):
        by_target.setdefault(target, []).append(str(status))
    return "\n".join(
        f"{indent}error_page {' '.join(codes)} {target};" for target, codes in by_target.items()
    )


def _error_uri(status: int) -> str:
    """The internal URI that answers STATUS in JSON. A URI, not a named location: nginx cannot
    redirect a request whose line it could not read (414, 400) to a named location."""
    return f"/.errors/{status}"


def _error_locations(indent: str) -> str:
    """One internal location per status of JSON_ERRORS, answering it in the JSON error shape."""
    blocks = []
    for status, (error, message) in JSON_ERRORS.items():
        body = json.dumps({"error": error, "message": message}, separators=(",", ":"))
        blocks.append(
            f"{indent}location = {_error_uri(status)} {{\n"
            f"{indent}    internal;\n"
            f"{indent}    default_type application/json;\n"
            f"{indent}    return {status} '{body}';\n"
            f"{indent}}}"
        )
    return "\n".join(blocks)


# The container's nginx workers: a fixed bound, not `auto` (one per host CPU, e.g. 64 on a big
# host, each with worker_connections pre-allocated), so that the busy workers' buffers fit the
# container's mem_limit (256m in compose.yaml) whatever the host. The official image's
# auto-tuning entrypoint script is bypassed (ENTRYPOINT [] in webserver/Dockerfile).
CONTAINER_WORKER_PROCESSES = 2


@dataclass(frozen=True)
class Upstream:
    """One `server` line of the backend pool."""

    address: str
    weight: int = 1
    resolve: bool = False

    def line(self) -> str:
        """The server directive for this upstream."""
        options = [self.address]
        if self.weight != 1:
            options.append(f"weight={self.weight}")
        options.append(FAILOVER)
        if self.resolve:
            options.append("resolve")
        return f"        server {' '.join(options)};"


def render(
    *,
    listen: str,
    ui_root: str,
    runtime_dir: str,
    upstreams: list[Upstream],
    resolver: str | None = None,
    access_log: str = "/dev/stdout",
    error_log: str = "/dev/stderr",
    mime_types: str = "/etc/nginx/mime.types",
    user: str | None = None,
    write_rate: str = WRITE_RATE,
    write_burst: int = WRITE_BURST,
    worker_processes: str = "auto",
    status_listen: str | None = None,
    log_format: str | None = None,
) -> str:
    """Fill the template; every placeholder must be given (Template.substitute raises if not)."""
    return Template(TEMPLATE.read_text()).substitute(
        user_line=f"user {user};" if user else "# runs as the user that starts it (non-root)",
        worker_processes=worker_processes,
        listen=listen,
        # stub_status: a unix socket in the runtime directory unless told (no port to collide).
        status_listen=status_listen or f"unix:{runtime_dir}/status.sock",
        # LOG_FORMAT=json (read when the config is rendered) switches nginx's line with the app's.
        access_log_format=NGINX_LOG_FORMATS[log_format or os.environ.get("LOG_FORMAT") or "text"],
        ui_root=ui_root,
        runtime_dir=runtime_dir,
        access_log=access_log,
        error_log=error_log,
        mime_types=mime_types,
        max_body=MAX_BODY,
        write_rate=write_rate,
        write_burst=write_burst,
        resolver=f"    resolver {resolver};\n" if resolver else "",
        upstream_servers="\n".join(upstream.line() for upstream in upstreams),
        read_timeout=READ_TIMEOUT,
        read_budget=READ_BUDGET,
        write_timeout=WRITE_TIMEOUT,
        server_error_pages=_error_pages(" " * 8),
        # A read that no replica answered gets one more pass; writes leave for their locations.
        json_error_pages_read=_error_pages(
            " " * 12, s502="= @api_retry", s418="= @api_write", s419="= @api_write_once"
        ),
        json_error_locations=_error_locations(" " * 8),
    )


# Where the container's nginx finds the replicas: Docker's DNS and the compose service name by
# default. Elsewhere (Kubernetes) the image is built with other values, e.g. the cluster DNS and
# the headless Service's full name: nginx's resolver does not apply search domains.
RESOLVER = "127.0.0.11 valid=2s ipv6=off"
BACKEND_ADDRESS = "backend:5000"


def render_container(**overrides) -> str:
    """The image's config: Docker's DNS re-resolves `backend` every 2 s, so scaling needs no reload.

    NGINX_RESOLVER and BACKEND_ADDRESS, when set (the Dockerfile's build arguments), replace
    RESOLVER and BACKEND_ADDRESS. OVERRIDES go to render (the container benchmark raises the
    write limit, as the benchmark does for its local nginx).

    No canary in the pool here (the local run has one): while a `resolve` server's name does not
    exist, nginx logs "could not be resolved" at error level every few seconds, so an optional
    `backend-canary` service would fill the error log whenever it is not running.
    """
    return render(
        listen="8080",
        status_listen=f"{STATUS_PORT}",
        ui_root="/usr/share/nginx/html",
        runtime_dir="/tmp",  # noqa: S108 (a tmpfs of its own in the container)
        resolver=os.environ.get("NGINX_RESOLVER") or RESOLVER,
        upstreams=[Upstream(os.environ.get("BACKEND_ADDRESS") or BACKEND_ADDRESS, resolve=True)],
        worker_processes=str(CONTAINER_WORKER_PROCESSES),
        **overrides,
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["container"]:
        sys.exit("usage: nginx_config.py container  (the local run renders its own from Python)")
    sys.stdout.write(render_container())
