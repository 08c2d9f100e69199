"""`make run` with the webserver image's variables and `make dev`'s reload, run as a user runs
them (`python -m devtools.local_stack`, what the Makefile calls): the front door's settings come
from the environment and are checked by the same code as the image's, and with RELOAD=1 a
change to the backend's code or the UI reaches clients through nginx without a restart.

The dev loop edits a temporary copy of the backend package (first on PYTHONPATH, so the run and
its replicas import it) and of the UI (UI_ROOT), never the tracked files."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from devtools.paths import REPO
from devtools.processes import free_port
from tests.stack_helpers import _nginx_or_skip
from tests.tls import ca_file, tls_dir

pytestmark = pytest.mark.stack

STARTED = "Press Ctrl-C"
# A replica's restart is its graceful stop plus the app's start, which the CPU bounds: the
# figures are in docs/operations.md (make dev); these bounds leave room for a shared machine.
FIRST_EDITED_BOUND_S = 30
RELOAD_BOUND_S = 60


class Run:
    """`python -m devtools.local_stack` in the background, its output collected line by line."""

    def __init__(self, state_dir: Path, env: dict[str, str], replicas: int = 1):
        self.port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        command = [
            sys.executable, "-m", "devtools.local_stack", "--replicas", str(replicas),
            "--port", str(self.port), "--https-port", str(self.https_port),
            "--tls-dir", str(tls_dir()), "--state-dir", str(state_dir),
        ]  # fmt: skip
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Everything the run printed so far."""
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        """Until the run prints TEXT; fails if it exits or TIMEOUT passes first."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, f"the run exited:\n{self.output}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{self.output}"
            time.sleep(0.1)

    def stop(self) -> None:
        """Ctrl-C, as a user stops it; killed if it does not stop within a minute."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(10)


def get(url: str, host: str | None = None) -> requests.Response:
    """GET URL, verified against the session's CA, with another Host header if given."""
    headers = {"Host": host} if host else {}
    return requests.get(url, headers=headers, verify=str(ca_file()), timeout=10)


def test_make_run_takes_the_front_door_from_its_environment(tmp_path):
    """SERVER_NAMES and READ_RATE/READ_BURST as environment variables: the default names now
    get a 421, the one listed is served, and reads beyond the tiny rate are refused."""
    _nginx_or_skip()
    run = Run(
        tmp_path,
        {"SERVER_NAMES": "devbox.test, 127.0.0.1", "READ_RATE": "1r/s", "READ_BURST": "2"},
    )
    try:
        run.wait_for(STARTED, 120)
        assert get(f"{run.url}/api/whoami").status_code == 200
        refused = get(f"{run.url}/api/whoami", host="localhost")
        assert refused.status_code == 421 and refused.json()["error"] == "misdirected_request"
        statuses = [get(f"{run.url}/api/whoami").status_code for _ in range(8)]
        assert 429 in statuses and statuses.count(200) <= 4, statuses
    finally:
        run.stop()
    config = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert "server_name devbox.test 127.0.0.1;" in config
    assert "rate=1r/s;" in config


def test_make_run_refuses_a_bad_setting_naming_it_before_starting_anything(tmp_path):
    """READ_RATE=fast: the run exits at once with 2 and a message naming READ_RATE, and has
    started nothing (no database, no state)."""
    run = Run(tmp_path / "state", {"READ_RATE": "fast"})
    try:
        assert run.process.wait(60) == 2
    finally:
        run.stop()
    assert "READ_RATE must look like 50r/s or 600r/m, got 'fast'" in run.output
    assert not (tmp_path / "state" / "db").exists()


def test_make_dev_reloads_backend_code_and_serves_ui_edits_at_once(tmp_path):
    """RELOAD=1 on copies of the package and the UI: an edited page is served on the next
    request; an edited string of the backend is served by every replica within seconds, no
    request fails meanwhile, and the supervisor counts no failure (no restart for a reason)."""
    _nginx_or_skip()
    source = tmp_path / "src"
    shutil.copytree(
        REPO / "backend" / "attendee_directory",
        source / "attendee_directory",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # Where nginx's workers (www-data, when the suite runs as root) may read it: not under
    # pytest's private temporary directory.
    ui_parent = Path(tempfile.mkdtemp(prefix="vdt-dev-ui-"))
    ui_parent.chmod(0o755)
    ui = shutil.copytree(REPO / "webserver" / "ui", ui_parent / "ui")
    env = {
        "RELOAD": "1",
        "UI_ROOT": str(ui),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
    }
    run = Run(tmp_path / "state", env, replicas=2)
    try:
        run.wait_for(STARTED, 120)
        assert f"reload: watching {source / 'attendee_directory'}" in run.output

        page = ui / "index.html"
        page.write_text(page.read_text().replace("VDT 2023 attendee directory", "Edited UI", 1))
        assert "<title>Edited UI</title>" in get(f"{run.url}/").text

        health = source / "attendee_directory" / "health.py"
        text = health.read_text()
        assert text.count('jsonify(status="ok")') == 1
        health.write_text(text.replace('jsonify(status="ok")', 'jsonify(status="ok-edited")'))
        edited_at = time.monotonic()
        statuses, seen = [], []
        # Bounded in count and time: the reload restarts 2 replicas, fail_timeout apart.
        while len(statuses) < 2000 and time.monotonic() - edited_at < RELOAD_BOUND_S:
            response = get(f"{run.url}/healthz")
            statuses.append(response.status_code)
            seen.append((time.monotonic() - edited_at, response.json().get("status")))
            if (
                "reloaded: 2 replicas" in run.output
                and [s for _, s in seen[-4:]] == ["ok-edited"] * 4
            ):
                break
            time.sleep(0.2)
        first = next((at for at, status in seen if status == "ok-edited"), None)
        print(f"\n[dev loop] first edited answer after {first} s; {len(statuses)} requests")
        assert first is not None and first < FIRST_EDITED_BOUND_S, (seen[-5:], run.output)
        assert [s for _, s in seen[-4:]] == ["ok-edited"] * 4, run.output
        failed = [
            (round(at, 2), code)
            for (at, _), code in zip(seen, statuses, strict=True)
            if code != 200
        ]
        assert failed == [], (failed, run.output)
    finally:
        run.stop()
        shutil.rmtree(ui_parent, ignore_errors=True)
    assert "changed (health.py)" in run.output
    assert not re.search(r"exited; nginx routes around it|is stuck", run.output), run.output
