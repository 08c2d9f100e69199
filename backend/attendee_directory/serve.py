"""Serve the API with granian, the WSGI server that docs/benchmarks.md measured fastest here.

`attendee-directory-serve` (or `python -m attendee_directory.serve`) is what the image's CMD,
`make run` and the benchmark start. One optional argument names another WSGI app to serve
with the same settings (the benchmark's hello-world ceiling). The settings come from the
environment, through config.ServerSettings (defaults and meanings there): HOST and PORT,
WEB_CONCURRENCY, WEB_THREADS, GRACEFUL_TIMEOUT (compose's stop_grace_period, 30 s, is longer)
and LOG_LEVEL (the server's own log level; the app's log, access lines included, is configured
by the app, see attendee_directory.request_log). Besides:

- PROMETHEUS_MULTIPROC_DIR: where several workers keep their metrics (emptied at start); unset,
  a fresh directory under the temporary directory, removed at exit; ignored with one worker,
  which keeps in-process values. See metrics_dir.
"""

import multiprocessing
import sys

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from .config import ConfigError, ServerSettings
from .metrics_dir import prepare_metrics_dir, remove_metrics_dir
from .worker_process import mark_server_process

WSGI_APP = "attendee_directory.wsgi:app"
# granian closes a keep-alive connection that stays idle this long. nginx's upstream
# keepalive_timeout (webserver/nginx.conf.template) must be shorter, so that nginx drops an
# idle connection first and never sends a request down one that granian is closing.
IDLE_TIMEOUT_SECONDS = 30


def server_options(target: str = WSGI_APP) -> dict:
    """granian's settings for TARGET, from the environment; ConfigError names a bad value."""
    settings = ServerSettings.from_env()
    return {
        "target": target,
        "interface": Interfaces.WSGI,
        "address": settings.host,
        "port": settings.port,
        "workers": settings.web_concurrency,
        "blocking_threads": settings.web_threads,
        # nginx speaks HTTP/1.1 to the replicas; no protocol sniffing, no websockets.
        "http": HTTPModes.http1,
        "websockets": False,
        "http1_settings": HTTP1Settings(header_read_timeout=IDLE_TIMEOUT_SECONDS * 1000),
        "workers_kill_timeout": settings.graceful_timeout,
        # A worker that dies is started again, as gunicorn's master would.
        "respawn_failed_workers": True,
        "log_level": LogLevels(settings.log_level),
        # The app writes the access log itself: granian's cannot show X-Request-ID.
        "log_access": False,
    }


def main(argv: list[str] | None = None) -> int:
    """Start granian in the foreground; it stops gracefully on SIGTERM or SIGINT."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: attendee-directory-serve [MODULE:APP]", file=sys.stderr)
        return 2
    try:
        options = server_options(*args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Workers are started fresh (spawn), not forked: the same on every Python (3.14's default
    # would make granian spawn anyway), nothing inherited from this process, and a worker's
    # normal exit runs its atexit hooks, so the replica's last request counts are written.
    multiprocessing.set_start_method("spawn", force=True)
    mark_server_process()
    # Before any worker starts: the workers inherit the variable and write their files there.
    made = prepare_metrics_dir(options["workers"])
    try:
        Server(**options).serve()
    finally:
        remove_metrics_dir(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
