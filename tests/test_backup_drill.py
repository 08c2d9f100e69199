"""The restore drill on `make run`: a backup under concurrent writes, the data directory deleted,
a fresh start, `make restore`; everything acknowledged before the backup began is back."""

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from pymongo import MongoClient

from attendee_directory import backup
from attendee_directory.collection_names import API_TOKENS
from devtools.local_stack.nginx import NginxMissing, find_nginx
from devtools.paths import REPO
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token, browser_session, token_session
from tests.tls import tls_dir

pytestmark = pytest.mark.stack

WRITERS = 3
WRITES_BEFORE = 24  # acknowledged creates before the backup begins
WRITE_LIMIT = 400  # per writer: the loops are bounded in count ...
WRITE_SECONDS = 120  # ... and in time
STOP_BOUND_S = 60
EDITOR = ("drill-editor", "the drill editor's long password")


class Run:
    """`python -m devtools.local_stack` (what `make run` runs) on free ports in STATE_DIR."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.ca = str(tls_dir() / "ca.crt")
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start it and wait for its ready line (bounded: it prints a few lines, or exits)."""
        command = [
            sys.executable, "-m", "devtools.local_stack", "--replicas", "2",
            "--port", str(self.port), "--https-port", str(self.https_port),
            "--tls-dir", str(tls_dir()), "--state-dir", str(self.state_dir),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        output = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            output.append(line)
            if "Press Ctrl-C" in line:
                return "".join(output)
        pytest.fail("make run did not start:\n" + "".join(output))

    def stop(self) -> None:
        """Ctrl-C, as a user stops it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.communicate(timeout=STOP_BOUND_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
        self.process = None

    def admin_password(self) -> str:
        """The first admin's password, kept in the state directory across runs."""
        return (self.state_dir / "admin_password").read_text(encoding="utf-8").strip()

    def admin(self) -> requests.Session:
        """A session acting as the first admin."""
        return token_session(
            api_token(self.url, ADMIN, self.admin_password(), verify=self.ca), self.ca
        )


def make(*args: str) -> subprocess.CompletedProcess:
    """`make ARGS` in the checkout, as a user runs it."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def attendee_body(tag: str) -> dict:
    """A valid new attendee, unique by TAG."""
    return {
        "full_name": "Drill Writer",
        "email": f"drill-{tag}@example.org",
        "year_of_birth": 2000,
        "gender": "female",
        "university": "Drill University",
        "major": "Backups",
    }


def writer(run: Run, token: str, acked: list, stop: threading.Event) -> None:
    """Create attendees until told to stop (bounded), noting each acknowledged one and when."""
    session = token_session(token, run.ca)
    deadline = time.monotonic() + WRITE_SECONDS
    for _ in range(WRITE_LIMIT):
        if stop.is_set() or time.monotonic() > deadline:
            return
        body = attendee_body(uuid.uuid4().hex[:12])
        answer = session.post(f"{run.url}/api/attendees", json=body, timeout=10)
        if answer.status_code == 201:
            acked.append((time.monotonic(), answer.json()["id"]))
        elif answer.status_code in (429, 503):  # the front door's write limit: wait as told
            time.sleep(float(answer.headers.get("Retry-After", "0.2")) or 0.2)
        else:
            raise AssertionError(f"{answer.status_code}: {answer.text}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A `make run` stack of 2 replicas in a directory of its own (skipped without nginx)."""
    try:
        find_nginx()
    except NginxMissing as exc:
        pytest.skip(f"the drill needs nginx: {exc}")
    stack = Run(tmp_path_factory.mktemp("drill"))
    yield stack
    stack.stop()


def test_the_make_run_drill(run, tmp_path):
    """48 attendees and writes from 3 clients during `make backup`; stop, delete the data,
    start, `make restore`: acknowledged writes, content hashes, sign-in and history are back."""
    run.start()
    admin = run.admin()
    assert admin.get(f"{run.url}/api/attendees", timeout=10).json()["total"] == 48
    created = admin.post(
        f"{run.url}/api/users",
        json={"username": EDITOR[0], "password": EDITOR[1], "role": "editor"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    added = admin.post(f"{run.url}/api/attendees", json=attendee_body("history"), timeout=10)
    assert added.status_code == 201, added.text
    path = f"{run.url}/api/attendees/{added.json()['id']}"
    edited = admin.patch(
        path, json={"major": "Restored Science"}, headers={"If-Match": added.headers["ETag"]}
    )
    assert edited.status_code == 200, edited.text

    acked: list[tuple[float, str]] = []
    stop = threading.Event()
    tokens = [
        api_token(run.url, ADMIN, run.admin_password(), verify=run.ca) for _ in range(WRITERS)
    ]
    threads = [threading.Thread(target=writer, args=(run, t, acked, stop)) for t in tokens]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(acked) < WRITES_BEFORE and time.monotonic() < deadline:
            time.sleep(0.05)
        began = time.monotonic()
        made = make("backup", f"STATE_DIR={run.state_dir}", f"BACKUP_DIR={tmp_path}")
        during = len([a for a in acked if a[0] > began])
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip().splitlines()[-1])
    assert archive.parent == tmp_path and archive.exists(), made.stdout
    before = [i for when, i in acked if when < began]
    assert len(before) >= WRITES_BEFORE, len(acked)
    print(f"\n[backup drill] {len(before)} writes acknowledged before the backup, {during} during")
    manifest = backup.verify(archive)

    run.stop()
    shutil.rmtree(run.state_dir / "db")
    run.start()
    fresh = browser_session(run.url, ADMIN, run.admin_password(), verify=run.ca)  # no token
    assert fresh.get(f"{run.url}/api/attendees", timeout=10).json()["total"] == 48
    restored = make("restore", f"STATE_DIR={run.state_dir}", f"FILE={archive}")
    assert restored.returncode == 0, restored.stderr
    assert "replacing" not in restored.stderr  # a fresh start counts as empty

    noted = json.loads((run.state_dir / "database.json").read_text(encoding="utf-8"))
    with MongoClient(noted["mongo_uri"], tz_aware=True) as client:
        database = client[noted["mongo_db"]]
        for collection in manifest.collections:
            if collection["name"] != API_TOKENS:  # not restored without --with-tokens
                count, digest = backup.content_hash(database, collection["name"])
                assert (count, digest) == (collection["count"], collection["sha256"]), collection
    editor = browser_session(run.url, *EDITOR, verify=run.ca)
    for attendee_id in before:
        assert editor.get(f"{run.url}/api/attendees/{attendee_id}", timeout=10).status_code == 200
    history = editor.get(f"{path}/history", timeout=10)
    assert history.status_code == 200, history.text
    actions = sorted(entry["action"] for entry in history.json()["items"])
    assert actions == ["attendee.create", "attendee.update"], actions
    assert editor.get(f"{run.url}/readyz", timeout=10).status_code == 200
