"""`python -m local_stack`: start the whole stack here, print the URL, stop it all on Ctrl-C."""

import argparse
import signal
import sys
import threading
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from attendee_directory.config import Settings, default
from nginx_config import FrontDoor, FrontDoorError

from ..paths import STATE_DIR
from .nginx import UI_ROOT, NginxMissing, find_nginx, nginx_version
from .reload import CodeWatcher
from .stack import LocalStack
from .supervisor import Supervisor


class RunSettings(BaseSettings):
    """What `make run` reads from the environment; the command line's options override it."""

    replicas: int = Field(LocalStack.replicas, ge=1)
    port: int = LocalStack.port
    https_port: int = LocalStack.https_port
    mongo_uri: str | None = None  # unset: a database of our own under the state directory
    mongo_db: str = default(Settings, "mongo_db")
    # MONITORING=1: Prometheus beside the stack (prometheus.py); empty means off.
    monitoring: bool = LocalStack.monitoring
    prometheus_port: int = LocalStack.prometheus_port
    # RELOAD=1 (make dev): replicas restart one by one when the backend's code changes.
    reload: bool = False
    # The directory nginx serves the UI from; another one lets a copy be edited and served.
    ui_root: Path = UI_ROOT

    @field_validator("monitoring", "reload", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        """MONITORING= or RELOAD= (set but empty) is off, as unset is."""
        return False if value == "" else value


def main() -> int:
    """Parse the command line, start the stack, and wait for Ctrl-C or SIGTERM."""
    environment = RunSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=environment.replicas)
    parser.add_argument("--port", type=int, default=environment.port, help="plain HTTP")
    parser.add_argument("--https-port", type=int, default=environment.https_port)
    parser.add_argument(
        "--tls-dir",
        type=Path,
        default=LocalStack.tls_dir,
        help="where tls.crt and tls.key are (made there if missing), default secrets/",
    )
    parser.add_argument("--canary", action="store_true", help="add a canary replica at weight 1")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per replica")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument(
        "--monitoring",
        action="store_true",
        default=environment.monitoring,
        help="also start Prometheus (Debian's package) scraping the replicas (MONITORING=1)",
    )
    parser.add_argument("--prometheus-port", type=int, default=environment.prometheus_port)
    parser.add_argument(
        "--reload",
        action="store_true",
        default=environment.reload,
        help="restart the replicas one by one when the backend's code changes (RELOAD=1)",
    )
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if not (environment.ui_root / "index.html").is_file():
        parser.error(f"UI_ROOT={environment.ui_root} has no index.html")
    try:
        # The webserver image's variables, checked by the same code: SERVER_NAMES, READ_RATE,
        # READ_BURST, WRITE_RATE, WRITE_BURST, CONN_LIMIT, LIMIT_STATUS, TRUSTED_PROXIES.
        front_door = FrontDoor.from_env()
    except FrontDoorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stack = LocalStack(
        state_dir=args.state_dir,
        replicas=args.replicas,
        port=args.port,
        https_port=args.https_port,
        tls_dir=args.tls_dir,
        canary=args.canary,
        workers=args.workers,
        mongo_uri=environment.mongo_uri,
        mongo_db=environment.mongo_db,
        monitoring=args.monitoring,
        prometheus_port=args.prometheus_port,
        front_door=front_door,
        ui_root=environment.ui_root,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # Python leaves SIGINT ignored when it starts that way, as a job that a non-interactive shell
    # put in the background does (CI runners, `cmd &` in scripts): Ctrl-C, or a SIGINT sent to
    # stop the run, must stop it all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
    except NginxMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:  # from here on, a Ctrl-C at any moment stops what was started
        print(f"\nThe VDT 2023 attendee directory is up: {stack.url}/")
        print(f"API docs: {stack.url}/api/docs   nginx {nginx_version(find_nginx(install=False))}")
        print(stack.describe())
        print("Press Ctrl-C to stop everything.", flush=True)
        if args.reload:
            print(f"reload: watching {CodeWatcher().root}; nginx serves {stack.ui_root} as is")
        Supervisor(
            stack,
            say=lambda line: print(line, flush=True),
            reloader=CodeWatcher() if args.reload else None,
        ).run(until=stopping)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
        stopped = "Prometheus, nginx" if args.monitoring else "nginx"
        print(f"stopped: {stopped}, replicas and database; data kept in", stack.state_dir / "db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
