"""Render nginx.conf from nginx.conf.template, for the container image or for a local run.

The template is the one source of truth for the nginx settings; this renderer fills in only
what differs between the two: paths, the listen port and the upstream server list. Container
mode needs nginx 1.27.3+ (upstream `resolve`), so it follows `--scale` without a reload; the
local run lists its replicas' ports, which Debian 12's nginx 1.22 understands.

    python3 nginx_config.py start /tmp/nginx.conf   # the image's command: render, exec nginx
    python3 nginx_config.py container               # print the container's config
"""

import ipaddress
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("nginx.conf.template")

# Passive health checks: one failure takes a replica out of the pool for 5 s.
FAILOVER = "max_fails=1 fail_timeout=5s"
MAX_BODY = "16k"  # the backend's MAX_BODY_BYTES default is the same 16 KiB
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
# The statuses a refused (rate or connection limited) request may get: LIMIT_STATUS.
LIMIT_STATUSES = (429, 409, 503)
MAX_CONN_LIMIT = 65535  # limit_conn's largest number
RETRY_AFTER_SECONDS = 1  # the limits are per second: a refused client may try again after one
# Mozilla's "intermediate" TLS settings (TLS 1.2 and 1.3, forward-secret AEAD suites only). The
# guideline's DHE suites are left out, so no Diffie-Hellman parameters file is needed; every
# client that TLS 1.2 admits has ECDHE.
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
HSTS_SECONDS = 63072000  # two years, as the guideline says; sent over HTTPS only
# nginx takes `http2 on;` from 1.25.1; older versions (Debian 12's 1.22) mark the listen socket.
HTTP2_DIRECTIVE_SINCE = (1, 25, 1)


class FrontDoorError(ValueError):
    """A front-door setting (SERVER_NAMES, READ_RATE, TRUSTED_PROXIES, ...) is invalid."""


def _checked_rate(name: str, value: str) -> str:
    """A limit_req rate such as 50r/s or 600r/m."""
    if not re.fullmatch(r"[1-9][0-9]*r/[sm]", value):
        raise FrontDoorError(f"{name} must look like 50r/s or 600r/m, got {value!r}")
    return value


def _checked_count(name: str, value: str | int) -> int:
    """A positive whole number."""
    if not str(value).isdigit() or int(value) < 1:
        raise FrontDoorError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def _checked_names(value: str) -> str:
    """server_name's list: host names or addresses, separated by spaces or commas."""
    names = value.replace(",", " ").split()
    if not names or not all(re.fullmatch(r"[A-Za-z0-9*.:\[\]-]{1,253}", n) for n in names):
        raise FrontDoorError(f"SERVER_NAMES must list host names or addresses, got {value!r}")
    return " ".join(names)


def _checked_proxies(value: str) -> tuple[str, ...]:
    """Addresses or networks (CIDR) of the proxies whose X-Forwarded-For is believed."""
    proxies = value.replace(",", " ").split()
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise FrontDoorError(
                f"TRUSTED_PROXIES must list addresses or networks (CIDR), got {proxy!r}"
            ) from None
    return tuple(proxies)


@dataclass(frozen=True)
class FrontDoor:
    """What nginx admits, with every default written once: the host names it serves, the
    per-address limits, the status a refused request gets, and the proxies it trusts."""

    server_names: str = "localhost 127.0.0.1"
    read_rate: str = "50r/s"
    read_burst: int = 100
    write_rate: str = "10r/s"
    write_burst: int = 20
    # Requests in progress at once per address (with HTTP/2, each stream counts).
    conn_limit: int = 64
    limit_status: int = 429
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _checked_names(self.server_names)
        _checked_rate("READ_RATE", self.read_rate)
        _checked_rate("WRITE_RATE", self.write_rate)
        for name in ("read_burst", "write_burst", "conn_limit"):
            _checked_count(name.upper(), getattr(self, name))
        if self.conn_limit > MAX_CONN_LIMIT:
            raise FrontDoorError(f"CONN_LIMIT must be at most {MAX_CONN_LIMIT} (nginx's bound)")
        if self.limit_status not in LIMIT_STATUSES:
            raise FrontDoorError(
                f"LIMIT_STATUS must be one of {', '.join(map(str, LIMIT_STATUSES))}, "
                f"got {self.limit_status!r}"
            )
        _checked_proxies(" ".join(self.trusted_proxies))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides) -> "FrontDoor":
        """The settings from SERVER_NAMES, READ_RATE, READ_BURST, WRITE_RATE, WRITE_BURST,
        CONN_LIMIT, LIMIT_STATUS and TRUSTED_PROXIES where set (and not empty); OVERRIDES win."""
        values: dict = {}
        if names := env.get("SERVER_NAMES"):
            values["server_names"] = _checked_names(names)
        for name in ("read_rate", "write_rate"):
            if rate := env.get(name.upper()):
                values[name] = rate
        for name in ("read_burst", "write_burst", "conn_limit", "limit_status"):
            if count := env.get(name.upper()):
                values[name] = _checked_count(name.upper(), count)
        if proxies := env.get("TRUSTED_PROXIES"):
            values["trusted_proxies"] = _checked_proxies(proxies)
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class Tls:
    """HTTPS at nginx: the certificate (with its chain) and key files, where to listen, and
    the port browsers reach HTTPS on (where plain HTTP redirects to)."""

    certificate: str
    key: str
    listen: str
    public_port: int


# The errors nginx produces itself, as the API's JSON error shape: status -> (error, message).
# 494 is nginx's "request header too large", sent to the client as 400. The limit status
# (429 unless LIMIT_STATUS says otherwise) is added by _json_errors.
JSON_ERRORS = {
    400: ("bad_request", "the request could not be parsed"),
    405: ("method_not_allowed", "the method is not allowed for this resource"),
    408: ("request_timeout", "the request was not received in time"),
    411: ("length_required", "send a Content-Length or a chunked body"),
    413: ("payload_too_large", f"request body larger than {MAX_BODY}"),
    414: ("uri_too_long", "the request URI is too long"),
    500: ("internal_error", "unexpected server error"),
    501: ("not_implemented", "the request uses a feature this server does not support"),
    502: ("bad_gateway", "no backend replica could answer"),
    503: ("service_unavailable", "the service is unavailable; retry shortly"),
    504: ("gateway_timeout", "the backend did not answer in time"),
    505: ("http_version_not_supported", "use HTTP/1.0 or HTTP/1.1"),
}
LIMITED = (
    "too_many_requests",
    "rate or connection limit exceeded; retry after Retry-After seconds",
)
ALSO_SENT_AS = {494: 400}


def _json_errors(limit_status: int) -> dict[int, tuple[str, str]]:
    """JSON_ERRORS with the limit status answering as a refused request."""
    return {**JSON_ERRORS, limit_status: LIMITED}


def _security_headers(indent: str, tls: bool) -> str:
    """The headers every answer of the app's server carries (HSTS over HTTPS only)."""
    headers = [
        "Content-Security-Policy $content_security_policy",
        "X-Content-Type-Options nosniff",
        "X-Frame-Options DENY",
        "Referrer-Policy strict-origin-when-cross-origin",
        'Permissions-Policy "camera=(), microphone=(), geolocation=()"',
        "X-Request-ID $req_id",
        "X-Upstream-Addr $upstream_addr",
        "Allow $allow_header",
    ]
    if tls:
        headers.append(f'Strict-Transport-Security "max-age={HSTS_SECONDS}"')
    return "\n".join(f"{indent}add_header {header} always;" for header in headers)


def _error_pages(indent: str, limit_status: int, **redirects: str) -> str:
    """error_page lines sending each status nginx may produce to its JSON location; REDIRECTS
    (e.g. s502="= @api_retry") send a status elsewhere instead."""
    targets = {status: _error_uri(status) for status in _json_errors(limit_status)}
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


def _error_locations(indent: str, limit_status: int, tls: bool) -> str:
    """One internal location per status nginx may produce, answering it in the JSON error shape.
    The refused request's also says when to try again; since an add_header of its own hides
    the server's, it repeats them."""
    blocks = []
    for status, (error, message) in _json_errors(limit_status).items():
        body = json.dumps({"error": error, "message": message}, separators=(",", ":"))
        headers = ""
        if status == limit_status:
            headers = _security_headers(indent + "    ", tls) + "\n"
            headers += f"{indent}    add_header Retry-After {RETRY_AFTER_SECONDS} always;\n"
        blocks.append(
            f"{indent}location = {_error_uri(status)} {{\n"
            f"{indent}    internal;\n"
            f"{headers}"
            f"{indent}    default_type application/json;\n"
            f"{indent}    return {status} '{body}';\n"
            f"{indent}}}"
        )
    return "\n".join(blocks)


def _listen(address: str, *, tls: bool, http2_directive: bool, default: bool = False) -> str:
    """A listen line (and, for HTTPS on nginx 1.25.1+, `http2 on;`)."""
    flags = (" ssl" if tls else "") + (" http2" if tls and not http2_directive else "")
    line = f"        listen {address}{flags}{' default_server' if default else ''};"
    if tls and http2_directive:
        line += "\n        http2 on;"
    return line


def _tls_settings(tls: "Tls | None") -> str:
    """The http-level TLS settings: every HTTPS server shares the certificate and the cache."""
    if tls is None:
        return ""
    lines = [
        "# HTTPS: Mozilla's intermediate settings (nginx_config.py says what differs).",
        f"ssl_certificate {tls.certificate};",
        f"ssl_certificate_key {tls.key};",
        f"ssl_protocols {TLS_PROTOCOLS};",
        f"ssl_ciphers {TLS_CIPHERS};",
        "ssl_prefer_server_ciphers off;",
        "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
        "ssl_session_timeout 1d;",
        "ssl_session_cache shared:TLS:10m;",
        "ssl_session_tickets off;",
    ]
    return "\n".join(f"    {line}" for line in lines) + "\n"


def _real_ip(trusted_proxies: tuple[str, ...]) -> str:
    """realip: behind TRUSTED_PROXIES, the client is the last X-Forwarded-For entry that no
    trusted proxy wrote; a header from anyone else changes nothing."""
    if not trusted_proxies:
        return "    # TRUSTED_PROXIES is empty: X-Forwarded-For from a client changes nothing."
    lines = [
        "    # The client behind the trusted proxies (TRUSTED_PROXIES): limits and logs key on it."
    ]
    lines += [f"    set_real_ip_from {proxy};" for proxy in trusted_proxies]
    lines += ["    real_ip_header X-Forwarded-For;", "    real_ip_recursive on;"]
    return "\n".join(lines)


def _redirect_server(http_listen: str, tls: "Tls | None", server_names: str) -> str:
    """With HTTPS: the plain-HTTP server that sends the served names to HTTPS (and answers
    nginx's liveness, for probes that speak HTTP)."""
    if tls is None:
        return ""
    port = "" if tls.public_port == 443 else f":{tls.public_port}"
    return f"""
    # Plain HTTP: the served names are redirected to HTTPS (308 keeps the method and body).
    server {{
        listen {http_listen};
        server_name {server_names};
        location = /nginx-health {{
            access_log off;
            default_type application/json;
            return 200 '{{"status":"ok"}}';
        }}
        location / {{
            return 308 https://$host{port}$request_uri;
        }}
    }}
"""


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
    front_door: FrontDoor | None = None,
    tls: Tls | None = None,
    http2_directive: bool = True,
    resolver: str | None = None,
    access_log: str = "/dev/stdout",
    error_log: str = "/dev/stderr",
    mime_types: str = "/etc/nginx/mime.types",
    user: str | None = None,
    worker_processes: str = "auto",
    status_listen: str | None = None,
    log_format: str | None = None,
) -> str:
    """Fill the template; every placeholder must be given (Template.substitute raises if not).

    LISTEN is plain HTTP's address; with TLS, HTTPS serves the app and HTTP redirects to it.
    HTTP2_DIRECTIVE: nginx is 1.25.1 or newer (`http2 on;`).
    """
    door = front_door or FrontDoor()
    https = tls is not None
    default_listen = _listen(listen, tls=False, http2_directive=http2_directive, default=True)
    if tls is not None:
        default_listen += "\n" + _listen(
            tls.listen, tls=True, http2_directive=http2_directive, default=True
        )
    app_listen = _listen(tls.listen if tls else listen, tls=https, http2_directive=http2_directive)
    return Template(TEMPLATE.read_text()).substitute(
        user_line=f"user {user};" if user else "# runs as the user that starts it (non-root)",
        worker_processes=worker_processes,
        default_listen=default_listen,
        app_listen=app_listen,
        redirect_server=_redirect_server(listen, tls, door.server_names),
        server_names=door.server_names,
        tls_settings=_tls_settings(tls),
        real_ip=_real_ip(door.trusted_proxies),
        # Behind a proxy that ends TLS (the Kubernetes Ingress), the scheme is the one it says.
        forwarded_proto="$scheme" if https else "$forwarded_proto",
        security_headers=_security_headers(" " * 8, https),
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
        read_rate=door.read_rate,
        read_burst=door.read_burst,
        write_rate=door.write_rate,
        write_burst=door.write_burst,
        conn_limit=door.conn_limit,
        limit_status=door.limit_status,
        resolver=f"    resolver {resolver};\n" if resolver else "",
        upstream_servers="\n".join(upstream.line() for upstream in upstreams),
        read_timeout=READ_TIMEOUT,
        read_budget=READ_BUDGET,
        write_timeout=WRITE_TIMEOUT,
        server_error_pages=_error_pages(" " * 8, door.limit_status),
        # A read that no replica answered gets one more pass; writes leave for their locations.
        json_error_pages_read=_error_pages(
            " " * 12,
            door.limit_status,
            s502="= @api_retry",
            s418="= @api_write",
            s419="= @api_write_once",
        ),
        json_error_locations=_error_locations(" " * 8, door.limit_status, https),
    )


# Where the container's nginx finds the replicas: Docker's DNS and the compose service name by
# default. Elsewhere (Kubernetes) the container is started with other values, e.g. the cluster
# DNS and the headless Service's full name: nginx's resolver does not apply search domains.
RESOLVER = "127.0.0.11 valid=2s ipv6=off"
BACKEND_ADDRESS = "backend:5000"

# A host name, an IPv4 address or a bracketed IPv6 address, then a port: what may follow
# `server` in an upstream. Nothing else gets into the config (no spaces, `;` or braces).
_HOST_PORT = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\]):(\d{1,5})"
)
# NGINX_RESOLVER: addresses or names (each with an optional port), then nginx's own options.
_RESOLVER_WORD = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
    r"|valid=\d{1,6}[smh]?|ipv4=(?:on|off)|ipv6=(?:on|off)|status_zone=[A-Za-z0-9_]{1,32}"
)
LOG_FORMATS = tuple(NGINX_LOG_FORMATS)


def _checked_host_port(name: str, value: str) -> str:
    """One host:port (a name, an IPv4 address or [IPv6]) with a port from 1 to 65535."""
    match = _HOST_PORT.fullmatch(value)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise FrontDoorError(f"{name} must be host:port (e.g. backend:5000), got {value!r}")
    return value


def checked_backend_servers(value: str) -> tuple[str, ...]:
    """BACKEND_SERVERS: host:port replicas separated by spaces or commas, each listed once."""
    servers = tuple(value.replace(",", " ").split())
    if not servers:
        raise FrontDoorError(f"BACKEND_SERVERS must list host:port replicas, got {value!r}")
    for server in servers:
        _checked_host_port("BACKEND_SERVERS", server)
    if len(set(servers)) != len(servers):
        raise FrontDoorError(f"BACKEND_SERVERS lists a replica twice: {value!r}")
    return servers


def _checked_resolver(value: str) -> str:
    """NGINX_RESOLVER: nginx's `resolver` arguments, at least one address first."""
    words = value.split()
    if not words or not all(_RESOLVER_WORD.fullmatch(word) for word in words) or "=" in words[0]:
        raise FrontDoorError(
            "NGINX_RESOLVER must be DNS server addresses, then options such as valid=5s "
            f"ipv6=off, got {value!r}"
        )
    return " ".join(words)


# The container's ports (compose publishes them on 127.0.0.1) and its certificate: the secrets
# tls_crt and tls_key (scripts/make-secrets.sh makes them unless you bring your own).
CONTAINER_HTTP_PORT = 8080
CONTAINER_HTTPS_PORT = 8443
CONTAINER_TLS_CERTIFICATE = "/run/secrets/tls_crt"
CONTAINER_TLS_KEY = "/run/secrets/tls_key"


def container_tls(env: Mapping[str, str] = os.environ) -> Tls | None:
    """HTTPS in the container unless TLS=off (behind a proxy that ends TLS itself); the
    redirect goes to HTTPS_PORT, the port that browsers reach (default: the container's)."""
    tls = env.get("TLS") or "on"
    if tls not in ("on", "off"):
        raise FrontDoorError(f"TLS must be on or off, got {tls!r}")
    if tls == "off":
        return None
    public_port = _checked_count("HTTPS_PORT", env.get("HTTPS_PORT") or CONTAINER_HTTPS_PORT)
    if public_port > 65535:
        raise FrontDoorError(f"HTTPS_PORT must be a port from 1 to 65535, got {public_port}")
    return Tls(CONTAINER_TLS_CERTIFICATE, CONTAINER_TLS_KEY, str(CONTAINER_HTTPS_PORT), public_port)


def container_upstreams(env: Mapping[str, str] = os.environ) -> tuple[str | None, list[Upstream]]:
    """The resolver and the upstream servers: BACKEND_SERVERS' static list when it is set (no
    resolver then), else BACKEND_ADDRESS re-resolved through NGINX_RESOLVER (Docker's DNS)."""
    if servers := env.get("BACKEND_SERVERS", "").strip():
        return None, [Upstream(server) for server in checked_backend_servers(servers)]
    resolver = _checked_resolver(env.get("NGINX_RESOLVER") or RESOLVER)
    address = _checked_host_port("BACKEND_ADDRESS", env.get("BACKEND_ADDRESS") or BACKEND_ADDRESS)
    return resolver, [Upstream(address, resolve=True)]


def container_log_format(env: Mapping[str, str] = os.environ) -> str:
    """LOG_FORMAT, text unless set: the app's switch, which picks nginx's access line too."""
    log_format = env.get("LOG_FORMAT") or "text"
    if log_format not in NGINX_LOG_FORMATS:
        raise FrontDoorError(
            f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
        )
    return log_format


def render_container(
    front_door: FrontDoor | None = None, env: Mapping[str, str] = os.environ
) -> str:
    """The image's config, rendered when the container starts from its environment: Docker's
    DNS re-resolves `backend` every 2 s, so scaling needs no reload.

    Read from ENV and validated (FrontDoorError names the variable): NGINX_RESOLVER and
    BACKEND_ADDRESS (replacing RESOLVER and BACKEND_ADDRESS) or BACKEND_SERVERS (a static list
    of replicas, container_upstreams), TLS and HTTPS_PORT (container_tls), LOG_FORMAT, and the
    front door's settings (FrontDoor.from_env). FRONT_DOOR replaces the latter (the container
    benchmark lifts the limits, as the benchmark does locally).

    No canary in the pool here (the local run has one): while a `resolve` server's name does not
    exist, nginx logs "could not be resolved" at error level every few seconds, so an optional
    `backend-canary` service would fill the error log whenever it is not running.
    """
    resolver, upstreams = container_upstreams(env)
    return render(
        listen=str(CONTAINER_HTTP_PORT),
        tls=container_tls(env),
        front_door=front_door or FrontDoor.from_env(env),
        status_listen=f"{STATUS_PORT}",
        ui_root="/usr/share/nginx/html",
        runtime_dir="/tmp",  # noqa: S108 (a tmpfs of its own in the container)
        resolver=resolver,
        upstreams=upstreams,
        worker_processes=str(CONTAINER_WORKER_PROCESSES),
        log_format=container_log_format(env),
    )


# Where the container's config is written at start: the tmpfs that nginx's pid and temp files
# use already (the root file system is read-only).
CONTAINER_CONFIG = "/tmp/nginx.conf"  # noqa: S108


def start_container(argv: list[str]) -> None:
    """Render the config from the environment into CONTAINER_CONFIG (or ARGV's path), then
    become nginx in the foreground on it (exec: nginx keeps PID 1 and gets docker stop's
    signal). A bad setting ends the start with a message naming the variable."""
    path = argv[0] if argv else CONTAINER_CONFIG
    try:
        config = render_container()
    except FrontDoorError as exc:
        sys.exit(f"nginx_config.py: refusing to start nginx: {exc}")
    Path(path).write_text(config)
    os.execvp("nginx", ["nginx", "-c", path, "-g", "daemon off;"])  # noqa: S606 (a fixed argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["container"]:
        try:
            sys.stdout.write(render_container())
        except FrontDoorError as exc:
            sys.exit(f"nginx_config.py: {exc}")
    elif sys.argv[1:2] == ["start"]:
        start_container(sys.argv[2:])
    else:
        sys.exit(
            "usage: nginx_config.py container  (print the container's config)\n"
            "       nginx_config.py start [PATH]  (render it to PATH, then exec nginx on it)"
        )
