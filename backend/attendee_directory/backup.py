"""Backup and restore: the whole directory in one verified, compressed file.

The archive is gzip-compressed text: a header line (JSON: the format's name and version, the
app's version, when and from which database, the collections' names), then per collection its
documents, one canonical MongoDB Extended JSON document per line in _id order (so ObjectIds,
dates and binaries come back exactly), followed by a line with its count and SHA-256; then an
end line. A backup streams (nothing is held in memory or in a temporary file). A collection's
checksum is the SHA-256 of its lines, so the same hash computed over a live collection
(content_hash) says whether a restore brought back exactly what was saved.

What a backup holds: every collection of the database except the ones in NOT_KEPT (sessions,
idempotency keys, sign-in throttling, per-replica counters), so a collection that a later
version adds is kept without a change here, and user documents go as stored, every field. API
tokens are in the archive but a restore brings them back only when asked (restore_tokens): a
token revoked after the backup would otherwise work again.

A restore refuses, before it changes anything, a file that is not an archive, is truncated or
corrupted, or comes from a newer format; and a database that holds data unless told to replace
it. While it writes, a marker in `meta` says so: a replica answers /readyz 503 until a restore
has finished (unfinished_restore), and the marker stays if the restore dies midway.
"""

import argparse
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from ._version import __version__
from .accounts import GENERATION_ID
from .audit_log import SECURITY_ACTIONS
from .bootstrap import prepare
from .collection_names import (
    API_TOKENS,
    ATTENDEES,
    AUDIT,
    META,
    REPLICAS,
    SESSIONS,
    SIGNIN_THROTTLE,
    USERS,
)
from .config import ConfigError, Settings
from .idempotency import IDEMPOTENCY_KEYS
from .seed import SEED_MARKER, sample_attendees

log = logging.getLogger(__name__)

FORMAT = "attendee-directory-backup"
FORMAT_VERSION = 1
SUFFIX = ".backup"
# The collections a backup leaves out, and why (docs/operations.md repeats the reasons).
NOT_KEPT = {
    SESSIONS: "a browser session never comes back: sign in again",
    IDEMPOTENCY_KEYS: "they expire within a day, and a replayed key could name a lost attendee",
    SIGNIN_THROTTLE: "failed sign-in counters: short-lived protection, not data",
    REPLICAS: "each replica's request counts: statistics of processes, not data",
}
# meta documents that describe this database's own history, never carried to another one.
RESTORE_MARKER = "restore"
BACKUP_STATUS = "backup"
LOCAL_META = (RESTORE_MARKER, BACKUP_STATUS)
INSERT_BATCH = 1000
# After a failed scheduled backup, the next try comes this soon (or after BACKUP_EVERY if sooner).
RETRY_SECONDS = 300
FIRST_START_ACTOR = "startup"  # the audit actor of the first admin's creation (accounts.py)


class ArchiveError(ValueError):
    """The file is not an archive this version can restore; the message names the problem."""


class RestoreRefused(RuntimeError):
    """The database is not in a state to restore into; the message says what to do."""


@dataclass
class Manifest:
    """The header of an archive: what it holds."""

    format_version: int
    app_version: str
    created_at: str
    database: str
    # {"name"} in the header; "count" and "sha256" once read (they follow each collection).
    collections: list[dict] = field(default_factory=list)

    def header(self) -> bytes:
        """The archive's first line."""
        fields = {"format": FORMAT, **self.__dict__}
        return json.dumps(fields, sort_keys=True).encode() + b"\n"

    def counts(self) -> dict[str, int]:
        """Each collection's document count."""
        return {c["name"]: c.get("count", 0) for c in self.collections}


def document_line(document: dict) -> bytes:
    """One document as the archive stores it: canonical Extended JSON, one line, _id first, as
    MongoDB stores every document (the stand-in keeps an upserted document's _id last)."""
    if "_id" in document:
        document = {"_id": document["_id"], **document}
    return json_util.dumps(document, json_options=CANONICAL_JSON_OPTIONS).encode() + b"\n"


def kept_collections(database: Database) -> list[str]:
    """The collections a backup holds: all but NOT_KEPT and the server's own, sorted."""
    names = database.list_collection_names()
    return sorted(n for n in names if n not in NOT_KEPT and not n.startswith("system."))


def _documents(database: Database, name: str) -> Iterator[dict]:
    """A collection's documents in _id order (meta without this database's own records)."""
    query = {"_id": {"$nin": list(LOCAL_META)}} if name == META else {}
    return database[name].find(query).sort("_id", 1)


def content_hash(database: Database, name: str) -> tuple[int, str]:
    """(count, SHA-256) of a collection as a backup would write it."""
    digest = hashlib.sha256()
    count = 0
    for document in _documents(database, name):
        digest.update(document_line(document))
        count += 1
    return count, digest.hexdigest()


def unfinished_restore(database: Database) -> dict | None:
    """The marker of a restore that has not finished, if there is one."""
    return database[META].find_one({"_id": RESTORE_MARKER})


def last_success(database: Database) -> datetime | None:
    """When a backup of this database last succeeded, if ever."""
    status = database[META].find_one({"_id": BACKUP_STATUS})
    return status["last_success_at"] if status else None


def _control(kind: str, **fields: object) -> bytes:
    """A line that is not a document: its first key is "#" (a document's is always "_id")."""
    return json.dumps({"#": kind, **fields}).encode() + b"\n"


def write_backup(database: Database, out: BinaryIO) -> Manifest:
    """Stream DATABASE's archive to OUT, collection after collection; each collection's count and
    checksum follow its documents, so nothing is held in memory or in a temporary file."""
    if (marker := unfinished_restore(database)) is not None:
        raise RestoreRefused(
            f"a restore into {database.name} started at {marker['started_at']:%Y-%m-%d %H:%M:%S} "
            "has not finished: finish it (restore --replace) before backing up"
        )
    names = kept_collections(database)
    manifest = Manifest(
        FORMAT_VERSION,
        __version__,
        datetime.now(UTC).isoformat(),
        database.name,
        [{"name": name} for name in names],
    )
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as archive:
        archive.write(manifest.header())
        for collection in manifest.collections:
            digest = hashlib.sha256()
            count = 0
            for document in _documents(database, collection["name"]):
                line = document_line(document)
                digest.update(line)
                archive.write(line)
                count += 1
            collection.update(count=count, sha256=digest.hexdigest())
            archive.write(_control("collection", **collection))
        archive.write(_control("end", collections=len(names)))
    return manifest


def record_success(database: Database, manifest: Manifest, size: int) -> None:
    """Note the backup in meta: every replica's /metrics reports when the last one succeeded."""
    database[META].update_one(
        {"_id": BACKUP_STATUS},
        {
            "$set": {
                "last_success_at": datetime.now(UTC),
                "bytes": size,
                "counts": manifest.counts(),
            }
        },
        upsert=True,
    )


def read_manifest(archive: gzip.GzipFile) -> Manifest:
    """The header of an open (decompressed) archive; ArchiveError if it is not one of ours."""
    line = archive.readline(1 << 20)
    try:
        fields = json.loads(line)
    except ValueError:
        raise ArchiveError("not an attendee-directory backup (no header line)") from None
    if not isinstance(fields, dict) or fields.pop("format", None) != FORMAT:
        raise ArchiveError("not an attendee-directory backup (its header names another format)")
    version = fields.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArchiveError(
            f"made by format version {version} (app {fields.get('app_version')}); this version "
            f"({__version__}) reads up to {FORMAT_VERSION}: restore it with a newer version"
        )
    try:
        manifest = Manifest(**fields)
    except TypeError as exc:
        raise ArchiveError(f"the header is malformed: {exc}") from None
    if not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in manifest.collections
    ):
        raise ArchiveError("the header is malformed: its collections have no names")
    return manifest


def _opened(path: Path) -> gzip.GzipFile:
    """The archive at PATH, decompressed as it is read."""
    return gzip.GzipFile(filename=path, mode="rb")


def _read_checked(path: Path, work: Callable[[gzip.GzipFile], None]) -> None:
    """Run WORK on the decompressed archive, turning every decoding problem into ArchiveError
    (a file that cannot be opened at all raises its OSError)."""
    opened = _opened(path)
    try:
        with opened as archive:
            work(archive)
    except gzip.BadGzipFile as exc:
        if "not a gzipped file" in str(exc).lower():
            raise ArchiveError("not an attendee-directory backup (not gzip-compressed)") from None
        raise ArchiveError(f"the file is corrupted ({exc})") from None
    except EOFError:
        raise ArchiveError("the file is truncated (the compressed stream ends early)") from None
    except (zlib.error, OSError) as exc:
        raise ArchiveError(f"the file is corrupted ({exc})") from None


def _sections(archive: gzip.GzipFile, manifest: Manifest) -> Iterator[tuple[str, list[bytes]]]:
    """Each collection's name and document lines, in batches of INSERT_BATCH (an empty batch
    closes a collection), checking its count and checksum against the line that follows it."""
    for expected in manifest.collections:
        name = expected["name"]
        digest = hashlib.sha256()
        count = 0
        batch: list[bytes] = []
        while True:
            line = archive.readline()
            if not line.endswith(b"\n"):
                raise ArchiveError(f"the file is truncated: it ends inside {name}")
            if line.startswith(b'{"#"'):
                break
            digest.update(line)
            count += 1
            batch.append(line)
            if len(batch) == INSERT_BATCH:
                yield name, batch
                batch = []
        if batch:
            yield name, batch
        footer = _parsed(line)
        if footer.get("name") != name:
            raise ArchiveError(f"the file is corrupted: {name}'s documents end without its count")
        if footer.get("count") != count or footer.get("sha256") != digest.hexdigest():
            raise ArchiveError(
                f"the file is corrupted: {name} has {count} documents whose checksum does not "
                f"match the {footer.get('count')} it was written with"
            )
        expected.update(count=count, sha256=footer["sha256"])
        yield name, []
    end = archive.readline()
    if not end.endswith(b"\n"):
        raise ArchiveError("the file is truncated: it ends before its end line")
    if _parsed(end) != {"#": "end", "collections": len(manifest.collections)}:
        raise ArchiveError("the file is corrupted: its end line is not where it should be")
    if archive.read(1):
        raise ArchiveError("the file has data after its end line")


def _parsed(line: bytes) -> dict:
    """A control line's fields; ArchiveError if it is not one."""
    try:
        fields = json.loads(line)
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or "#" not in fields:
        raise ArchiveError("the file is corrupted: a line is neither a document nor a count")
    return fields


def verify(path: Path) -> Manifest:
    """Read the whole archive at PATH and check every count and checksum; ArchiveError names the
    first problem. Nothing is written anywhere."""
    found: list[Manifest] = []

    def check(archive: gzip.GzipFile) -> None:
        manifest = read_manifest(archive)
        for _ in _sections(archive, manifest):
            pass
        found.append(manifest)

    _read_checked(path, check)
    return found[0]


def holdings(database: Database) -> dict[str, int]:
    """What DATABASE holds beyond a first start's own writes (sample attendees, the first admin,
    the seed marker): {collection: documents}; empty means a restore needs no --replace."""
    audit = database[AUDIT]
    changes = {"actor": {"$ne": FIRST_START_ACTOR}, "action": {"$nin": list(SECURITY_ACTIONS)}}
    if audit.count_documents(changes, limit=1) == 0:
        # Nothing anyone changed (sign-ins aside): every attendee is a sample, the users are the
        # first admin.
        samples = {a["email"] for a in sample_attendees()}
        extra = [
            e["email"]
            for e in database[ATTENDEES].find({}, {"email": 1})
            if e.get("email") not in samples
        ]
        admins = audit.count_documents({"action": "user.create"})
        users_extra = database[USERS].count_documents({}) - admins
        meta = database[META].count_documents(
            {"_id": {"$nin": [SEED_MARKER, BACKUP_STATUS, GENERATION_ID]}}
        )
        if not extra and users_extra <= 0 and meta == 0 and not _other_data(database):
            return {}
    counted = {}
    for name in kept_collections(database):
        count = database[name].count_documents(
            {"_id": {"$ne": BACKUP_STATUS}} if name == META else {}
        )
        if count:
            counted[name] = count
    return counted


def _other_data(database: Database) -> bool:
    """Whether a kept collection that a first start does not write holds anything."""
    first_start = {ATTENDEES, USERS, AUDIT, META}
    return any(
        database[name].count_documents({}, limit=1)
        for name in kept_collections(database)
        if name not in first_start
    )


@dataclass
class RestoreReport:
    """What a restore did."""

    manifest: Manifest
    replaced: dict[str, int]
    restored: dict[str, int]
    skipped: list[str]
    seconds: float


def restore(
    database: Database,
    path: Path,
    replace: bool = False,
    restore_tokens: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> RestoreReport:
    """Restore the archive at PATH into DATABASE: verify it all, check the database, mark it,
    write, index, unmark. ArchiveError and RestoreRefused come before any change."""
    started = time.monotonic()
    manifest = verify(path)
    marker = unfinished_restore(database)
    held = holdings(database)
    if marker is not None and not replace:
        raise RestoreRefused(
            f"{database.name} holds an unfinished restore (started {marker['started_at']}): "
            "run the restore again with --replace to finish it"
        )
    if held and not replace:
        listed = ", ".join(f"{name} ({count})" for name, count in held.items())
        raise RestoreRefused(
            f"{database.name} holds data: {listed}. Restore into an empty database, or add "
            "--replace to replace it"
        )
    if held:
        say("replacing " + ", ".join(f"{n} ({c} documents)" for n, c in held.items()))
    run = _mark(database, marker, path, manifest)
    names = [c["name"] for c in manifest.collections]
    skipped = [] if restore_tokens else [API_TOKENS]
    # Every kept collection of this database that the archive does not hold is emptied too, as
    # are sessions and idempotency keys: after a restore nothing refers to data that is gone.
    emptied = sorted(set(kept_collections(database)) - set(names) | {SESSIONS, IDEMPOTENCY_KEYS})
    for name in emptied + [n for n in names if n in skipped]:
        database[name].delete_many({"_id": {"$nin": list(LOCAL_META)}} if name == META else {})
    restored: dict[str, int] = {}

    def write(archive: gzip.GzipFile) -> None:
        cleared: set[str] = set()
        for name, lines in _sections(archive, read_manifest(archive)):
            if name in skipped:
                continue
            target = database[name]
            if name not in cleared:
                target.delete_many({"_id": {"$nin": list(LOCAL_META)}} if name == META else {})
                cleared.add(name)
            if lines:
                documents = [json_util.loads(x, json_options=CANONICAL_JSON_OPTIONS) for x in lines]
                target.insert_many(documents, ordered=True)
                restored[name] = restored.get(name, 0) + len(documents)
            else:
                say(f"restored {name}: {restored.get(name, 0)} documents")

    _read_checked(path, write)
    prepare(database, seed=False)  # the indexes, as a replica's first start makes them
    database[META].delete_one({"_id": RESTORE_MARKER, "run": run})
    return RestoreReport(manifest, held, restored, skipped, time.monotonic() - started)


def _mark(database: Database, seen: dict | None, path: Path, manifest: Manifest) -> str:
    """Set the unfinished-restore marker, atomically: a new one only if there is none, and an
    unfinished one taken over only if it is still the one SEEN; so two restores started at once
    cannot both write (the second is refused). The marker's run id, for removing it at the end
    (a string: the stand-in matches no ObjectId outside _id, see standin.py)."""
    run = secrets.token_hex(12)
    fields = {
        "run": run,
        "started_at": datetime.now(UTC),
        "archive": path.name,
        "archive_created_at": manifest.created_at,
    }
    busy = RestoreRefused(f"another restore into {database.name} has just started")
    if seen is None:
        try:
            database[META].insert_one({"_id": RESTORE_MARKER, **fields})
        except DuplicateKeyError:
            raise busy from None
    elif (
        database[META].find_one_and_update(
            {"_id": RESTORE_MARKER, "run": seen.get("run")}, {"$set": fields}
        )
        is None
    ):
        raise busy
    return run


def how_to_finish(marker: dict) -> str:
    """The log line that tells an operator how to finish an interrupted restore."""
    return (
        f"a restore of {marker.get('archive', 'an archive')} started at {marker.get('started_at')} "
        "has not finished, so the data may be incomplete: run `python -m attendee_directory "
        "restore --input FILE --replace` again (make restore FILE=..., or through docker compose "
        "run) to finish it"
    )


# ---- files: where backups go, how many are kept ----------------------------------------------

_NAME = re.compile(r"^attendee-directory-\d{8}T\d{6}\.\d{3}Z\.backup$")


def archive_name(now: datetime) -> str:
    """The file name of a backup taken at NOW (UTC), sortable by time."""
    return f"attendee-directory-{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z{SUFFIX}"


def write_file(database: Database, target: Path) -> Manifest:
    """Write the archive to TARGET through a temporary file beside it, renamed when complete, so
    that no half-written file ever carries the archive's name."""
    descriptor, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as out:
            manifest = write_backup(database, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return manifest


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the KEEP newest backups in DIRECTORY; return the deleted ones."""
    backups = sorted(p for p in directory.iterdir() if _NAME.match(p.name))
    doomed = backups[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink()
    return doomed


def backup_to_directory(database: Database, directory: Path, keep: int) -> Path:
    """One backup into DIRECTORY under a new time-stamped name, then prune to KEEP."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / archive_name(datetime.now(UTC))
    manifest = write_file(database, target)
    record_success(database, manifest, target.stat().st_size)
    for old in prune(directory, keep):
        log.info("deleted the old backup %s (BACKUP_KEEP=%d)", old.name, keep)
    return target


def spool_stdin() -> Path:
    """Standard input, copied to a temporary file: a restore reads the archive twice."""
    descriptor, name = tempfile.mkstemp(suffix=SUFFIX)
    with os.fdopen(descriptor, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return Path(name)


# ---- the commands: python -m attendee_directory backup | restore ------------------------------


def _database(settings: Settings) -> tuple[MongoClient, Database]:
    """A client for one command: the app's URI and database, without the app's short socket
    timeout (a backup's reads and a restore's writes may take minutes) and without preparing
    the database, which a restore must find as it is."""
    timeout = max(settings.mongo_timeout_ms, 5000)
    client: MongoClient = MongoClient(
        settings.mongo_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        appname="attendee-directory/backup",
    )
    return client, client[settings.mongo_db]


def _summary(manifest: Manifest) -> str:
    """Collections and counts, for one line of output."""
    return ", ".join(f"{name} {count}" for name, count in manifest.counts().items())


def _settings() -> Settings | None:
    """The app's settings from the environment; None (said on stderr) if one is bad."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def backup_command(args: argparse.Namespace) -> int:
    """Write one backup to a file or standard output, or to a directory (every BACKUP_EVERY)."""
    if (settings := _settings()) is None:
        return 2
    if args.repeat and args.output_dir is None:
        print("error: --repeat needs --output-dir", file=sys.stderr)
        return 2
    client, database = _database(settings)
    try:
        with client:
            return _backup(args, database, settings)
    except (PyMongoError, OSError, RestoreRefused) as exc:
        print(f"error: backup failed: {exc}", file=sys.stderr)
        return 1


def _backup(args: argparse.Namespace, database: Database, settings: Settings) -> int:
    """The backup command's work, on an open client."""
    if args.output_dir is not None:
        return _scheduled(database, Path(args.output_dir), settings, args.repeat)
    if args.output == "-":
        manifest = write_backup(database, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        size = 0
    else:
        target = Path(args.output)
        manifest = write_file(database, target)
        size = target.stat().st_size
    record_success(database, manifest, size)
    print(f"backup of {database.name}: {_summary(manifest)}", file=sys.stderr)
    if args.output != "-":
        print(args.output)
    return 0


def _scheduled(database: Database, directory: Path, settings: Settings, repeat: bool) -> int:
    """Backups into DIRECTORY: one, or one every BACKUP_EVERY until SIGTERM or SIGINT."""
    stopping = threading.Event()
    if repeat:  # as PID 1 in a container, SIGTERM has no default action: stop between backups
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
    while True:
        try:
            path = backup_to_directory(database, directory, settings.backup_keep)
        except (PyMongoError, OSError, RestoreRefused) as exc:
            log.error("backup failed: %s", exc)
            if not repeat:
                print(f"error: backup failed: {exc}", file=sys.stderr)
                return 1
            wait = min(settings.backup_every, RETRY_SECONDS)
        else:
            print(path, flush=True)
            wait = settings.backup_every
        if not repeat or stopping.wait(wait):
            return 0


def restore_command(args: argparse.Namespace) -> int:
    """Restore an archive from a file or standard input."""
    if (settings := _settings()) is None:
        return 2
    path = spool_stdin() if args.input == "-" else Path(args.input)
    client, database = _database(settings)
    try:
        with client:
            report = restore(
                database,
                path,
                replace=args.replace,
                restore_tokens=args.with_tokens,
                say=lambda line: print(line, file=sys.stderr, flush=True),
            )
    except (ArchiveError, RestoreRefused) as exc:
        print(f"error: {exc}; nothing was changed", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot read {args.input}: {exc}; nothing was changed", file=sys.stderr)
        return 1
    except PyMongoError as exc:
        print(
            f"error: the database failed: {exc}. If the restore had begun, the database is "
            "marked unfinished (replicas answer /readyz 503): run it again with --replace",
            file=sys.stderr,
        )
        return 1
    finally:
        if args.input == "-":
            path.unlink(missing_ok=True)
    tokens = "" if args.with_tokens else "; API tokens not restored (--with-tokens restores them)"
    print(
        f"restored {database.name} from the backup of {report.manifest.created_at} in "
        f"{report.seconds:.1f} s: {_summary(report.manifest)}{tokens}; sessions are not kept "
        "in backups: everyone signs in again",
        file=sys.stderr,
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The `backup` and `restore` commands."""
    backup = commands.add_parser("backup", help="write the directory's data to one archive file")
    target = backup.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", metavar="FILE", help="the archive's path, or - for stdout")
    target.add_argument(
        "--output-dir",
        metavar="DIR",
        help="a new time-stamped archive in DIR, keeping the BACKUP_KEEP newest",
    )
    backup.add_argument(
        "--repeat", action="store_true", help="with --output-dir: again every BACKUP_EVERY"
    )
    backup.set_defaults(run=backup_command)
    restore_parser = commands.add_parser("restore", help="restore an archive that backup wrote")
    restore_parser.add_argument("--input", metavar="FILE", required=True, help="or - for stdin")
    restore_parser.add_argument(
        "--replace", action="store_true", help="replace the data the database holds (listed)"
    )
    restore_parser.add_argument(
        "--with-tokens",
        action="store_true",
        help="restore API tokens too (a token revoked since the backup works again)",
    )
    restore_parser.set_defaults(run=restore_command)
