"""Render nginx.conf from nginx.conf.template, for the container image or for a local run.

The template is the one source of truth for the nginx settings; this renderer fills in only
what differs between the two: paths, the listen port and the upstream server list. Container
mode needs nginx 1.27.3+ (upstream `resolve`), so it follows `--scale` without a reload; the
local run lists its replicas' ports, which Debian 12's nginx 1.22 understands.

    python3 nginx_config.py container > /etc/nginx/nginx.conf
"""

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
) -> str:
    """Fill the template; every placeholder must be given (Template.substitute raises if not)."""
    return Template(TEMPLATE.read_text()).substitute(
        user_line=f"user {user};" if user else "# runs as the user that starts it (non-root)",
        worker_processes=worker_processes,
        listen=listen,
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
    )


def render_container() -> str:
    """The image's config: Docker's DNS re-resolves `backend` every 2 s, so scaling needs no reload.

    No canary in the pool here (the local run has one): while a `resolve` server's name does not
    exist, nginx logs "could not be resolved" at error level every few seconds, so an optional
    `backend-canary` service would fill the error log whenever it is not running.
    """
    return render(
        listen="8080",
        ui_root="/usr/share/nginx/html",
        runtime_dir="/tmp/nginx",  # noqa: S108 (a tmpfs of its own in the container)
        resolver="127.0.0.11 valid=2s ipv6=off",
        upstreams=[Upstream("backend:5000", resolve=True)],
        worker_processes=str(CONTAINER_WORKER_PROCESSES),
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["container"]:
        sys.exit("usage: nginx_config.py container  (the local run renders its own from Python)")
    sys.stdout.write(render_container())
