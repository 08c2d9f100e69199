"""The restore drill in containers: the backup profile writes an archive, `docker compose down -v`
deletes everything, `up` starts afresh, and the documented restore command brings it all back.
One stack for the module (it builds the images once); run under the engine's shared lock."""

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from attendee_directory import backup
from devtools.compose import (
    StackProject,
    choose_mode,
    ensure_offline_base_images,
    stack_project,
)
from devtools.paths import REPO
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token, browser_session, token_session
from tests.docker_engine import skip_without_engine
from tests.stack_helpers import SUITE_DOOR_ENV, container_secrets

pytestmark = pytest.mark.containers
skip_without_engine()

EDITOR = ("keeper", "the keeper's long password")
# What docs/operations.md tells compose users to type (its first code block of the section),
# run as written from the checkout, without the redirection.
SECTION = (REPO / "docs" / "operations.md").read_text().split("## Backup and restore", 1)[1]
BLOCK = SECTION.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
BACKUP_COMMAND = next(x for x in BLOCK if " backup --output - " in x).split(" > ")[0]
RESTORE_COMMAND = next(x for x in BLOCK if " restore --input - " in x).split(" < ")[0]


def shell(stack: StackProject, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """COMMAND in a shell, as a user types it, with this project's name and files."""
    env = {
        **stack.env(),
        "COMPOSE_PROJECT_NAME": stack.name,
        "COMPOSE_FILE": os.pathsep.join(map(str, stack.files)),
    }
    return subprocess.run(
        ["sh", "-c", command],
        cwd=stack.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Our stack with 2 replicas, its own secrets, images tagged for this suite; removed after."""
    mode = choose_mode()
    if mode.offline:
        ensure_offline_base_images()
    secrets_dir = container_secrets(tmp_path_factory.mktemp("secrets"))
    project = stack_project(mode, secrets_dir, free_port(), tag="backup-drill")
    project.extra_env.update(SUITE_DOOR_ENV)
    try:
        project.compose("up", "--build", "-d", "--scale", "backend=2", timeout=900)
        project.wait_healthy({"webserver": 1, "backend": 2, "database": 1}, timeout=180)
        yield project
    finally:
        project.compose("--profile", "backup", "down", "-v", "--remove-orphans", timeout=180)


def _archives(stack: StackProject) -> list[str]:
    """The archives in the backup service's volume."""
    listed = stack.compose(
        "--profile", "backup", "exec", "-T", "backup", "ls", "/backups", check=False
    )
    return sorted(n for n in listed.stdout.split() if n.endswith(backup.SUFFIX))


def test_down_v_up_and_restore_from_the_backup_profiles_file(stack, tmp_path):
    """Data written, the profile's first backup copied out, `down -v`, `up`, the documented
    restore: the user, the edited attendee and its history are back, tokens are not."""
    ca = str(Path(stack.secrets_dir) / "ca.crt")
    admin = token_session(api_token(stack.url, ADMIN, stack.admin_password(), verify=ca), ca)
    made = admin.post(
        f"{stack.url}/api/users",
        json={"username": EDITOR[0], "password": EDITOR[1], "role": "editor"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    added = admin.post(
        f"{stack.url}/api/attendees",
        json={
            "full_name": "Kept Safe",
            "email": "kept.safe@example.org",
            "year_of_birth": 1999,
            "gender": "other",
            "university": "Backup University",
            "major": "Archives",
        },
        timeout=10,
    )
    assert added.status_code == 201, added.text
    path = f"{stack.url}/api/attendees/{added.json()['id']}"
    edited = admin.patch(
        path, json={"major": "Restores"}, headers={"If-Match": added.headers["ETag"]}
    )
    assert edited.status_code == 200, edited.text

    stack.compose("--profile", "backup", "up", "-d", "backup", timeout=600)
    deadline = time.monotonic() + 120
    while not (names := _archives(stack)) and time.monotonic() < deadline:
        time.sleep(2)
    logs = stack.compose("--profile", "backup", "logs", "backup", check=False).stdout
    assert names, f"no archive in the backups volume after 120 s:\n{logs[-3000:]}"
    stack.compose("--profile", "backup", "cp", f"backup:/backups/{names[0]}", str(tmp_path))
    archive = tmp_path / names[0]
    manifest = backup.verify(archive)
    assert manifest.counts()["attendees"] == 49 and manifest.counts()["users"] == 2

    streamed = tmp_path / "my.backup"
    written = shell(stack, f"{BACKUP_COMMAND} > {shlex.quote(str(streamed))}")
    assert written.returncode == 0, written.stderr
    assert backup.verify(streamed).counts() == manifest.counts()

    stack.compose("--profile", "backup", "down", "-v", timeout=180)
    assert stack.leftovers()["volumes"] == []
    stack.compose("up", "-d", "--scale", "backend=2", timeout=600)
    stack.wait_healthy({"webserver": 1, "backend": 2, "database": 1}, timeout=180)
    fresh = browser_session(stack.url, ADMIN, stack.admin_password(), verify=ca)
    assert fresh.get(f"{stack.url}/api/attendees", timeout=10).json()["total"] == 48

    restored = shell(stack, f"{RESTORE_COMMAND} < {shlex.quote(str(archive))}")
    assert restored.returncode == 0, restored.stderr
    editor = browser_session(stack.url, *EDITOR, verify=ca)
    assert editor.get(f"{stack.url}/api/attendees", timeout=10).json()["total"] == 49
    attendee = editor.get(path, timeout=10)
    assert attendee.status_code == 200 and attendee.json()["major"] == "Restores"
    actions = sorted(e["action"] for e in editor.get(f"{path}/history", timeout=10).json()["items"])
    assert actions == ["attendee.create", "attendee.update"]
    assert admin.get(f"{stack.url}/api/attendees", timeout=10).status_code == 401  # token gone
    again = shell(stack, f"{RESTORE_COMMAND} < {shlex.quote(str(archive))}")
    assert again.returncode == 1 and "--replace" in again.stderr  # it holds data now
