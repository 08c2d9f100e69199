"""`make backup` and `make restore FILE=...`: the product's backup and restore commands against
the database of the running `make run` stack, which it names in its state directory."""

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from attendee_directory import backup, cli

from ..paths import REPO, STATE_DIR

BACKUPS = REPO / "backups"


def _use_stack_database(state_dir: Path) -> str | None:
    """Point MONGO_URI and MONGO_DB at the running stack's database; an error text if none."""
    noted = state_dir / "database.json"
    try:
        database = json.loads(noted.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no `make run` stack is running ({noted} is missing): start one with `make run`"
    os.environ["MONGO_URI"] = database["mongo_uri"]
    os.environ["MONGO_DB"] = database["mongo_db"]
    return None


def main(argv: list[str] | None = None) -> int:
    """Back up into BACKUPS (printing the path), or restore a file, through the product's CLI."""
    parser = argparse.ArgumentParser(prog="python -m devtools.local_stack.backup")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument("--dir", type=Path, default=BACKUPS, help="where backups go")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("backup")
    restore = actions.add_parser("restore")
    restore.add_argument("file", nargs="?", default="")
    restore.add_argument("--replace", action="store_true")
    restore.add_argument("--with-tokens", action="store_true")
    args = parser.parse_args(argv)
    problem = _use_stack_database(args.state_dir)
    if problem is None and args.action == "restore" and not args.file:
        problem = "name the archive: make restore FILE=backups/attendee-directory-....backup"
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.action == "backup":
        args.dir.mkdir(parents=True, exist_ok=True)
        target = args.dir / backup.archive_name(datetime.now(UTC))
        return cli.main(["backup", "--output", str(target)])
    options = ["--replace"] * args.replace + ["--with-tokens"] * args.with_tokens
    return cli.main(["restore", "--input", args.file, *options])


if __name__ == "__main__":
    sys.exit(main())
