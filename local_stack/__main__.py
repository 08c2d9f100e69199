"""`python -m local_stack`: start the whole stack here, print the URL, stop it all on Ctrl-C."""

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from .nginx import NginxMissing, find_nginx, nginx_version
from .stack import LocalStack
from .supervisor import Supervisor

STATE_DIR = Path(__file__).resolve().parent.parent / ".local-stack"


def main() -> int:
    """Parse the command line, start the stack, and wait for Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "2")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--canary", action="store_true", help="add a canary replica at weight 1")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per replica")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument(
        "--monitoring",
        action="store_true",
        default=os.environ.get("MONITORING", "") not in ("", "0"),
        help="also start Prometheus (Debian's package) scraping the replicas (MONITORING=1)",
    )
    parser.add_argument(
        "--prometheus-port", type=int, default=int(os.environ.get("PROMETHEUS_PORT", "9090"))
    )
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")

    stack = LocalStack(
        state_dir=args.state_dir,
        replicas=args.replicas,
        port=args.port,
        canary=args.canary,
        workers=args.workers,
        mongo_uri=os.environ.get("MONGO_URI"),
        mongo_db=os.environ.get("MONGO_DB", "vdt2023"),
        monitoring=args.monitoring,
        prometheus_port=args.prometheus_port,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
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
        Supervisor(stack, say=lambda line: print(line, flush=True)).run(until=stopping)
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
