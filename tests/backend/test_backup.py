"""Backup and restore against a real database server: exact round trips, what is kept, the
refusals that change nothing, an interrupted restore, the command line and the metric."""

import gzip
import hashlib
import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import Binary, ObjectId
from flask.testing import FlaskClient
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from attendee_directory import backup
from attendee_directory.collection_names import API_TOKENS, ATTENDEES, AUDIT, SESSIONS, USERS
from attendee_directory.config import ConfigError, Settings
from attendee_directory.db import get_db
from tests.backend.signed_in import ADMIN_PASSWORD


@pytest.fixture
def mongo(mongo_server):
    """A client of the test server; the databases made through new_db are dropped after."""
    made: list[str] = []
    client: MongoClient = MongoClient(mongo_server.uri, tz_aware=True)

    def new_db():
        name = f"test_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return client[name]

    client.new_db = new_db  # type: ignore[attr-defined]
    yield client
    for name in made:
        client.drop_database(name)
    client.close()


def hashes(database) -> dict[str, tuple[int, str]]:
    """Every kept collection's (count, content hash)."""
    return {n: backup.content_hash(database, n) for n in backup.kept_collections(database)}


def indexes(database, name: str) -> dict:
    """A collection's indexes by their keys (each server names them its own way): unique?"""
    found = database[name].index_information().values()
    return {tuple(map(tuple, index["key"])): bool(index.get("unique")) for index in found}


@pytest.fixture
def filled(app, client, attendee_body):
    """The app's database after real use: attendees created and edited, a second user, a
    session, an API token, an extra user field, and a collection of the awkward BSON types
    (no Decimal128: the stand-in cannot store it)."""
    created = [
        client.post("/api/attendees", json=attendee_body(email=f"p{i}@example.org"))
        for i in range(5)
    ]
    assert all(r.status_code == 201 for r in created)
    first = created[0].get_json()
    edited = client.patch(
        f"/api/attendees/{first['id']}",
        json={"major": "Data Science"},
        headers={"If-Match": created[0].headers["ETag"]},
    )
    assert edited.status_code == 200, edited.get_json()
    assert client.post(
        "/api/users",
        json={"username": "ed", "password": "a long editor password", "role": "editor"},
    ).status_code in (200, 201)
    signed = app.test_client().post(
        "/api/session", json={"username": "ed", "password": "a long editor password"}
    )
    assert signed.status_code in (200, 201), signed.get_json()
    with app.app_context():
        database = get_db()
        # A field this version does not know (the lead's credential version, say) goes along.
        database[USERS].update_one({"username": "ed"}, {"$set": {"credential_version": 3}})
        database["extras"].insert_one(
            {
                "_id": ObjectId(),
                "binary": Binary(b"\x00\x01\xffbinary", 0),
                "uuid": Binary(uuid.uuid4().bytes, 4),
                "when": datetime(2023, 6, 1, 12, 30, 15, 123000, tzinfo=UTC),
                "big": 2**40,
                "nested": {"list": [1, "two", 3.5, None, True]},
            }
        )
        assert database[SESSIONS].count_documents({}) >= 1
        assert database[API_TOKENS].count_documents({}) >= 1
        yield database, first["id"]


def write_archive(database, tmp_path) -> Path:
    """A backup of DATABASE in a file."""
    path = tmp_path / "one.backup"
    backup.write_file(database, path)
    return path


def test_a_restore_brings_back_every_kept_collection_exactly(filled, mongo, tmp_path):
    """Counts and content hashes match the archive's; every document is equal, types included;
    sessions never come back, tokens only when asked; the indexes are there."""
    source, _ = filled
    path = write_archive(source, tmp_path)
    manifest = backup.verify(path)
    names = {c["name"] for c in manifest.collections}
    assert {ATTENDEES, USERS, AUDIT, API_TOKENS, "extras"} <= names
    assert SESSIONS not in names and "idempotency_keys" not in names

    target = mongo.new_db()
    report = backup.restore(target, path)
    assert report.replaced == {}
    for collection in manifest.collections:
        if collection["name"] == API_TOKENS:
            continue
        count, digest = backup.content_hash(target, collection["name"])
        assert (count, digest) == (collection["count"], collection["sha256"]), collection["name"]
    assert list(target["extras"].find()) == list(source["extras"].find())
    assert target[USERS].find_one({"username": "ed"})["credential_version"] == 3
    assert target[SESSIONS].count_documents({}) == 0
    assert target[API_TOKENS].count_documents({}) == 0
    assert backup.unfinished_restore(target) is None
    for name in (ATTENDEES, USERS, AUDIT, API_TOKENS, SESSIONS):
        assert indexes(target, name) == indexes(source, name), name
    assert (("email", 1),) in indexes(target, ATTENDEES)

    with_tokens = mongo.new_db()
    backup.restore(with_tokens, path, restore_tokens=True)
    assert hashes(with_tokens)[API_TOKENS] == backup.content_hash(source, API_TOKENS)


def test_the_restored_directory_works(filled, mongo, tmp_path, make_app):
    """An app on the restored database signs the old user in and shows the edited history."""
    source, attendee_id = filled
    path = write_archive(source, tmp_path)
    target = mongo.new_db()
    backup.restore(target, path)
    restored = make_app(mongo_db=target.name)
    browser = restored.test_client()
    signed = browser.post("/api/session", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert signed.status_code in (200, 201), signed.get_json()
    history = browser.get(f"/api/attendees/{attendee_id}/history")
    assert history.status_code == 200, history.get_json()
    actions = [entry["action"] for entry in history.get_json()["items"]]
    assert actions.count("attendee.update") == 1 and actions.count("attendee.create") == 1
    assert restored.test_client().get("/readyz").status_code == 200


def test_a_database_with_data_needs_replace_which_says_what_it_replaces(filled, tmp_path):
    """Without --replace nothing changes and the message lists the data; with it, it is named."""
    source, _ = filled
    path = write_archive(source, tmp_path)
    source[ATTENDEES].delete_many({})
    before = hashes(source)
    with pytest.raises(backup.RestoreRefused, match=r"holds data: .*users \(2\).*--replace"):
        backup.restore(source, path)
    assert hashes(source) == before
    said: list[str] = []
    backup.restore(source, path, replace=True, say=said.append)
    assert said[0].startswith("replacing ") and "users (2 documents)" in said[0]
    assert source[ATTENDEES].count_documents({}) == 5


def test_a_freshly_started_database_counts_as_empty(make_app, mongo, filled, tmp_path):
    """A first start's own writes (the sample attendees, the first admin) need no --replace."""
    source, _ = filled
    path = write_archive(source, tmp_path)
    fresh = mongo.new_db()
    started = make_app(mongo_db=fresh.name, seed_on_start=True)
    assert FlaskClient(started).get("/readyz").status_code == 200  # no token: the admin's own
    assert fresh[ATTENDEES].count_documents({}) == 48 and fresh[USERS].count_documents({}) == 1
    assert backup.holdings(fresh) == {}
    backup.restore(fresh, path)
    assert hashes(fresh)[ATTENDEES] == backup.content_hash(source, ATTENDEES)


def _gzip(tmp_path, name: str, lines: list[bytes]) -> Path:
    """A gzip file of LINES."""
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"".join(lines)))
    return path


def bad_archives(good: Path, tmp_path) -> dict[str, tuple[Path, str]]:
    """Broken versions of GOOD: {kind: (file, what the refusal must say)}."""
    data = good.read_bytes()
    text = gzip.decompress(data).splitlines(keepends=True)
    header = json.loads(text[0])
    newer = dict(header, format_version=backup.FORMAT_VERSION + 1)
    document = next(i for i, line in enumerate(text) if line.startswith(b'{"_id"'))
    corrupted_line = [
        *text[:document],
        text[document].replace(b'"}', b'x"}', 1),
        *text[document + 1 :],
    ]
    return {
        "truncated": (_write(tmp_path, "truncated", data[: len(data) // 2]), "truncated"),
        "truncated after a whole line": (
            _gzip(tmp_path, "cut", text[: len(text) // 2]),
            "truncated",
        ),
        "corrupted compressed bytes": (_flip(tmp_path, data), "corrupted"),
        "corrupted document": (_gzip(tmp_path, "doc", corrupted_line), "checksum does not"),
        "newer format": (
            _gzip(tmp_path, "newer", [json.dumps(newer).encode() + b"\n", *text[1:]]),
            "reads up to 1",
        ),
        "not an archive": (_write(tmp_path, "text", b"name,email\nA,a@b.c\n"), "not gzip"),
        "a foreign gzip": (_gzip(tmp_path, "foreign", [b'{"hello": 1}\n']), "another format"),
        "empty": (_write(tmp_path, "empty", b""), "not an attendee-directory backup"),
    }


def _write(tmp_path, name: str, data: bytes) -> Path:
    """A file of DATA."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _flip(tmp_path, data: bytes) -> Path:
    """DATA with bytes in the middle of the compressed stream changed."""
    middle = len(data) // 2
    changed = (
        data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 8]) + data[middle + 8 :]
    )
    return _write(tmp_path, "flipped", changed)


def test_refused_files_change_nothing_even_with_replace(filled, tmp_path):
    """Truncated, corrupted, newer-format and non-archive files: refused before any change."""
    source, _ = filled
    good = write_archive(source, tmp_path)
    before = hashes(source)
    for kind, (path, said) in bad_archives(good, tmp_path).items():
        with pytest.raises(backup.ArchiveError, match=said):
            backup.restore(source, path, replace=True)
        assert hashes(source) == before, kind
        assert backup.unfinished_restore(source) is None, kind


def test_a_restore_that_dies_midway_leaves_the_database_marked(filled, tmp_path, make_app, caplog):
    """A restore that fails while writing leaves the marker: /readyz is 503 naming it, the log
    says how to finish, and a restore with --replace finishes it."""
    source, _ = filled
    good = write_archive(source, tmp_path)
    lines = gzip.decompress(good.read_bytes()).splitlines(keepends=True)
    # The same attendee twice, with a count and checksum that match: the file is sound, the
    # write fails.
    first = next(i for i, x in enumerate(lines) if x.startswith(b'{"_id"') and b"@example" in x)
    footer = next(i for i in range(first, len(lines)) if lines[i].startswith(b'{"#"'))
    lines.insert(first + 1, lines[first])
    footer += 1
    fields = json.loads(lines[footer])
    assert fields["name"] == ATTENDEES
    block = b"".join(lines[first:footer])
    fields.update(count=footer - first, sha256=hashlib.sha256(block).hexdigest())
    lines[footer] = json.dumps(fields).encode() + b"\n"
    broken = _gzip(tmp_path, "duplicate", lines)
    backup.verify(broken)  # sound as a file

    target = source.client[f"{source.name}_r"]
    try:
        with pytest.raises(PyMongoError):  # the duplicate _id
            backup.restore(target, broken)
        assert backup.unfinished_restore(target) is not None
        app = make_app(mongo_db=target.name)
        caplog.set_level(logging.WARNING, logger="attendee_directory")
        ready = app.test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["error"] == "restore_unfinished"
        assert any("--replace" in r.getMessage() for r in caplog.records)
        with pytest.raises(backup.RestoreRefused, match="unfinished restore"):
            backup.restore(target, good)
        with pytest.raises(backup.RestoreRefused, match="has not finished"):
            backup.write_backup(target, open(os.devnull, "wb"))
        backup.restore(target, good, replace=True)
        assert app.test_client().get("/readyz").status_code == 200
        assert hashes(target)[ATTENDEES] == backup.content_hash(source, ATTENDEES)
    finally:
        source.client.drop_database(target.name)


def _command(settings: Settings, *args: str, stdin: bytes | None = None, extra: dict | None = None):
    """Run `python -m attendee_directory ARGS` as a user would, against SETTINGS' database."""
    env = {
        **os.environ,
        "MONGO_URI": settings.mongo_uri,
        "MONGO_DB": settings.mongo_db,
        **(extra or {}),
    }
    env.pop("ADMIN_PASSWORD", None)
    return subprocess.run(
        [sys.executable, "-m", "attendee_directory", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_commands_stream_through_stdout_and_stdin(filled, settings, mongo):
    """`backup --output -` writes the archive to stdout; `restore --input -` reads it back; a
    refused file exits 1 saying what is wrong and that nothing changed."""
    source, _ = filled
    written = _command(settings, "backup", "--output", "-")
    assert written.returncode == 0, written.stderr
    assert written.stdout[:2] == b"\x1f\x8b" and b"backup of" in written.stderr
    target = mongo.new_db()
    restored = _command(
        settings.model_copy(update={"mongo_db": target.name}),
        "restore",
        "--input",
        "-",
        stdin=written.stdout,
    )
    assert restored.returncode == 0, restored.stderr
    assert b"API tokens not restored" in restored.stderr
    assert hashes(target)[ATTENDEES] == backup.content_hash(source, ATTENDEES)
    again = _command(
        settings.model_copy(update={"mongo_db": target.name}),
        "restore",
        "--input",
        "-",
        stdin=written.stdout[:-40],
    )
    assert again.returncode == 1
    assert b"truncated" in again.stderr and b"nothing was changed" in again.stderr


def test_the_cronjob_form_writes_one_time_stamped_archive(settings, tmp_path):
    """`backup --output-dir DIR` (the CronJob's command): one new archive in DIR, its path printed,
    the BACKUP_KEEP newest kept."""
    (tmp_path / "attendee-directory-20000101T000000.000Z.backup").write_bytes(b"old")
    done = _command(settings, "backup", "--output-dir", str(tmp_path), extra={"BACKUP_KEEP": "1"})
    assert done.returncode == 0, done.stderr
    (made,) = tmp_path.iterdir()
    assert done.stdout.decode().strip() == str(made)
    assert made.stat().st_mode & 0o777 == 0o600  # password hashes: the owner's only
    backup.verify(made)


def test_the_commands_say_what_went_wrong(settings, tmp_path):
    """A missing input and an unwritable output: exit 1 with the reason, no traceback."""
    missing = _command(settings, "restore", "--input", str(tmp_path / "nope.backup"))
    assert missing.returncode == 1
    assert b"cannot read" in missing.stderr and b"nothing was changed" in missing.stderr
    assert b"Traceback" not in missing.stderr
    nowhere = _command(settings, "backup", "--output", str(tmp_path / "no" / "x.backup"))
    assert nowhere.returncode == 1 and b"backup failed" in nowhere.stderr
    assert b"Traceback" not in nowhere.stderr


def test_the_last_success_is_a_metric_of_every_replica(app, client, tmp_path, make_app):
    """No series before any backup; after one, each replica reports its time from the database."""
    assert backup.BACKUP_STATUS  # the series comes from meta, not from the process
    assert b"backup_last_success" not in client.get("/metrics").data
    with app.app_context():
        database = get_db()
        path = backup.backup_to_directory(database, tmp_path, keep=7)
        when = backup.last_success(database)
    assert path.exists() and when is not None
    other = make_app(replica_name="another")
    for replica in (app, other):
        lines = replica.test_client().get("/metrics").data.decode().splitlines()
        (value,) = [
            float(line.split()[1])
            for line in lines
            if line.startswith("attendee_directory_backup_last_success_timestamp_seconds ")
        ]
        assert abs(value - when.timestamp()) < 0.01


def test_a_backup_directory_keeps_the_newest(app, tmp_path):
    """Each backup gets a new name; only BACKUP_KEEP of them stay, the newest; others are left."""
    (tmp_path / "notes.txt").write_text("mine")
    with app.app_context():
        database = get_db()
        made = [backup.backup_to_directory(database, tmp_path, keep=2) for _ in range(3)]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([made[1].name, made[2].name, "notes.txt"])


def test_backup_every_takes_units(monkeypatch):
    """BACKUP_EVERY: seconds, or with s/m/h/d; anything else is a clear configuration error."""
    base = {"mongo_uri": "mongodb://127.0.0.1:1/"}
    assert Settings(**base).backup_every == 86400
    assert Settings(**base, backup_every="90m").backup_every == 5400
    assert Settings(**base, backup_every="3600").backup_every == 3600
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:1/")
    monkeypatch.setenv("BACKUP_EVERY", "soon")
    with pytest.raises(ConfigError, match="BACKUP_EVERY"):
        Settings.from_env()


def test_two_restores_started_at_once_cannot_both_write(filled, tmp_path):
    """The marker is set atomically: of two restores that both found no marker (or the same
    unfinished one), the second is refused before it writes."""
    source, _ = filled
    path = write_archive(source, tmp_path)
    manifest = backup.verify(path)
    backup._mark(source, None, path, manifest)
    with pytest.raises(backup.RestoreRefused, match="another restore"):
        backup._mark(source, None, path, manifest)
    seen = backup.unfinished_restore(source)
    backup._mark(source, seen, path, manifest)  # the first to take it over wins
    with pytest.raises(backup.RestoreRefused, match="another restore"):
        backup._mark(source, seen, path, manifest)
