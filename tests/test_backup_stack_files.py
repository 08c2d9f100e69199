"""The backup service as compose and Swarm resolve it (no engine needed): only with its profile,
on the database's network only, writing to its volume, and on the Swarm manager."""

import json
import os
import shutil
import subprocess

import pytest

from devtools.paths import REPO
from tests.stack_helpers import container_secrets


def _resolved(tmp_path, *files: str, profile: bool) -> dict:
    """`docker compose config` of FILES (with the backup profile if PROFILE), as JSON."""
    if shutil.which("docker") is None:
        pytest.skip("needs compose v2 (scripts/install-compose-v2.sh)")
    args = [arg for name in files for arg in ("-f", str(REPO / name))]
    command = ["docker", "compose", *args, *(["--profile", "backup"] if profile else [])]
    env = {**os.environ, "SECRETS_DIR": str(container_secrets(tmp_path / "secrets"))}
    done = subprocess.run(
        [*command, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "is not a docker command" in done.stderr:
        pytest.skip("needs compose v2 (scripts/install-compose-v2.sh)")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_backup_service_comes_only_with_its_profile(tmp_path):
    """Plain `up` starts no backup; the profile's service runs the backend image's scheduled
    backup into the backups volume, reaches only the database and knows no admin password."""
    assert "backup" not in _resolved(tmp_path, "compose.yaml", profile=False)["services"]
    resolved = _resolved(tmp_path, "compose.yaml", "compose.offline.yaml", profile=True)
    service = resolved["services"]["backup"]
    assert service["image"] == resolved["services"]["backend"]["image"]
    assert service["command"][-4:] == ["backup", "--output-dir", "/backups", "--repeat"]
    assert list(service["networks"]) == ["back"]
    assert [s["source"] for s in service["secrets"]] == ["mongo_app_uri"]
    assert [(v["source"], v["target"]) for v in service["volumes"]] == [("backups", "/backups")]
    assert service["environment"]["MONGO_URI"] == "mongodb://database:27017/"  # offline override
    assert service["read_only"] and service["cap_drop"] == ["ALL"]


def test_swarm_runs_the_backup_on_the_manager(tmp_path):
    """With COMPOSE_PROFILES=backup, swarm/deploy.sh's stack file has the service, on the manager
    beside the database's volume, its own volume declared."""
    resolved = _resolved(tmp_path, "compose.yaml", "swarm/compose.swarm.yaml", profile=True)
    converted = subprocess.run(
        ["python3", str(REPO / "swarm" / "stack_file.py")],
        input=json.dumps(resolved),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stack = json.loads(converted.stdout)
    backup = stack["services"]["backup"]
    assert backup["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert backup["deploy"]["replicas"] == 1
    assert "backups" in stack["volumes"]
    assert "profiles" not in backup
