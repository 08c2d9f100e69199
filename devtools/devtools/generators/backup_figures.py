"""`make backup-figures`: time a backup and a restore of 100,000 generated attendees (the growth
benchmark's) on this machine's database server (mongod if installed, else nx-27017), and write
the figures into docs/operations.md's "Backup and restore" between the block's markers."""

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pymongo import MongoClient

from attendee_directory import backup
from attendee_directory.bootstrap import prepare
from attendee_directory.collection_names import ATTENDEES

from ..bench.people import bulk_insert
from ..local_stack.mongo_server import start_mongo
from ..paths import DOCS

ATTENDEES_COUNT = 100_000
DOCUMENT = DOCS / "operations.md"
START = "<!-- backup-figures:start (make backup-figures writes this block) -->"
END = "<!-- backup-figures:end -->"


def measure(count: int, work: Path) -> dict:
    """Seed COUNT attendees, back them up to a file, verify it, restore it into a new database."""
    server = start_mongo(work / "db")
    try:
        client: MongoClient[dict] = MongoClient(server.uri, tz_aware=True)
        with client:
            source = client["figures_source"]
            prepare(source, seed=False, admin=("admin", "the figures' admin password"))
            started = time.perf_counter()
            bulk_insert(source[ATTENDEES], count)
            seeded = time.perf_counter() - started
            archive = work / "figures.backup"
            started = time.perf_counter()
            backup.write_file(source, archive)
            backed_up = time.perf_counter() - started
            started = time.perf_counter()
            backup.verify(archive)
            verified = time.perf_counter() - started
            target = client["figures_target"]
            started = time.perf_counter()
            backup.restore(target, archive)
            restored = time.perf_counter() - started
            assert backup.content_hash(target, ATTENDEES) == backup.content_hash(source, ATTENDEES)
        return {
            "load": os.getloadavg()[0],
            "attendees": count,
            "database": server.describe().split(" on ")[0],
            "insert_seconds": seeded,
            "backup_seconds": backed_up,
            "verify_seconds": verified,
            "restore_seconds": restored,
            "archive_bytes": archive.stat().st_size,
        }
    finally:
        server.stop()


def render(figures: dict) -> str:
    """The block: a table and the line saying where and when it was measured."""
    megabytes = figures["archive_bytes"] / 1e6
    rows = [
        ("backup (`backup --output FILE`)", f"{figures['backup_seconds']:.1f} s"),
        ("archive size (gzip)", f"{megabytes:.1f} MB"),
        (
            "checking the archive alone (a restore's first pass)",
            f"{figures['verify_seconds']:.1f} s",
        ),
        (
            "restore into an empty database (check, write, indexes)",
            f"{figures['restore_seconds']:.1f} s",
        ),
        (
            "for comparison: inserting them in batches of 1,000",
            f"{figures['insert_seconds']:.1f} s",
        ),
    ]
    table = "\n".join(f"| {what} | {value} |" for what, value in rows)
    return (
        f"{START}\n"
        f"{figures['attendees']:,} generated attendees (the growth benchmark's), on "
        f"{figures['database']}, {platform.machine()} with {os.cpu_count()} CPUs (load average "
        f"{figures['load']:.1f} at the end: other work shared them), measured "
        f"{figures['measured']} by `make backup-figures`:\n\n"
        f"| step | time or size |\n| --- | --- |\n{table}\n"
        f"{END}"
    )


def main(argv: list[str] | None = None) -> int:
    """Measure and write the block (or print it with --print)."""
    parser = argparse.ArgumentParser(prog="python -m devtools.generators.backup_figures")
    parser.add_argument("--attendees", type=int, default=ATTENDEES_COUNT)
    parser.add_argument("--print", action="store_true", help="print the block, write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        figures = measure(args.attendees, Path(work))
    figures["measured"] = datetime.now(UTC).strftime("%Y-%m-%d")
    block = render(figures)
    print(block)
    if not args.print:
        text = DOCUMENT.read_text(encoding="utf-8")
        if START not in text or END not in text:
            print(f"error: {DOCUMENT} has no {START} ... {END} block", file=sys.stderr)
            return 1
        before, rest = text.split(START, 1)
        DOCUMENT.write_text(before + block + rest.split(END, 1)[1], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
