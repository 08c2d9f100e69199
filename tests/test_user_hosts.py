"""What ordinary user hosts do to the container files, tested without building anything:
line endings of a CRLF checkout, the pull policy in the resolved compose config (v1 and v2), the
database healthcheck against a stub mongosh, the nginx worker bound, and the backend's advice
when MongoDB refuses its login. (A umask 077 checkout is built and run by test_containers.py.)
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure

import nginx_config
from attendee_directory.health import database_problem
from devtools.paths import REPO

HEALTHCHECK = REPO / "database/image/app-user-can-log-in.sh"
# Files that .gitattributes pins to LF: parsed by a shell, nginx, Python or Docker in Linux.
YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
LF_PATTERNS = ("*.sh", "*.template", "*.py", "*.yaml", "Dockerfile", ".ci/run")


def git(*args: str, cwd: Path) -> str:
    """Run git in CWD and return its output."""
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_a_crlf_checkout_keeps_lf_in_everything_a_container_parses(tmp_path):
    """core.autocrlf=true (a Windows checkout) converts the README, but none of the LF files."""
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--no-checkout", str(REPO), str(clone), cwd=tmp_path)
    git("config", "core.autocrlf", "true", cwd=clone)
    git("checkout", "--quiet", "HEAD", "--", ".", cwd=clone)
    # The conversion is really on: a file without an LF rule gets CRLF.
    assert b"\r\n" in (clone / "README.md").read_bytes()
    pinned = {path for pattern in LF_PATTERNS for path in clone.rglob(pattern) if path.is_file()}
    pinned |= {clone / "database/image/init/create-app-user.sh", clone / "scripts/make-secrets.sh"}
    assert len(pinned) > 20
    crlf = sorted(str(p.relative_to(clone)) for p in pinned if b"\r\n" in p.read_bytes())
    assert crlf == []


def compose_commands() -> list[tuple[str, list[str]]]:
    """(label, command) for each compose version installed here."""
    found = []
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            found.append(("v2", ["docker", "compose"]))
    if shutil.which("docker-compose"):
        found.append(("v1", ["docker-compose"]))
    return found


@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.offline.yaml"]])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_our_images_are_built_never_pulled(version, files, tmp_path):
    """Every built service: pull_policy build, and an image name under the .invalid domain."""
    commands = dict(compose_commands())
    if version not in commands:
        pytest.skip(f"compose {version} is not installed (scripts/install-compose-v2.sh for v2)")
    subprocess.run([REPO / "scripts/make-secrets.sh", tmp_path], capture_output=True, check=True)
    args = [arg for name in files for arg in ("-f", str(REPO / name))]
    env = {**os.environ, "SECRETS_DIR": str(tmp_path)}
    command = [*commands[version], *args, "config"]
    if version == "v2":
        command += ["--format", "json"]
    else:
        # v1 prints only YAML; the Python it runs on has PyYAML (its own dependency).
        command = ["sh", "-c", f"{shlex.join(command)} | python3 -c '{YAML_TO_JSON}'"]
    output = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    services = json.loads(output)["services"]
    built = {name: service for name, service in services.items() if "build" in service}
    # The monitoring profile's offline images are built too, and the backup profile's service
    # builds the backend's image; v1 lists them with the profiles off.
    profiles = {"prometheus", "alertmanager", "nginx-exporter", "node-exporter", "backup"}
    assert set(built) - profiles == {"webserver", "backend", "database"}
    # Compose v1 (1.29.2) drops pull_policy when it merges an override file: there, the name
    # under .invalid is what keeps a pull from finding anyone's image.
    v1_merge = version == "v1" and len(files) > 1
    for name, service in built.items():
        assert service.get("pull_policy") == (None if v1_merge else "build"), name
        registry = service["image"].split("/")[0]
        assert registry.endswith(".invalid"), service["image"]


def run_healthcheck(
    tmp_path: Path, mongosh_exit: int, init_running: bool = False, client: str = "mongosh"
):
    """Run the database healthcheck in a plain shell, with a stub CLIENT that records its call."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    record = tmp_path / "mongosh-call"
    (stubs / client).write_text(
        "#!/bin/sh\n"
        f'{{ echo "HOME=$HOME"; [ -d "$HOME" ] && echo home-exists; echo "ARGS=$*"; }} >{record}\n'
        f"exit {mongosh_exit}\n"
    )
    (stubs / client).chmod(0o755)
    password = tmp_path / "mongo_app_password"
    password.write_text("s3cret-password")
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    if init_running:
        (temp / "docker-entrypoint-temp-mongod.pid").write_text("42\n")
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "HOME": "/data/db",
        "TMPDIR": str(temp),
        "MONGO_INITDB_DATABASE": "vdt2023",
        "MONGO_APP_USERNAME": "vdt_app",
        "MONGO_APP_PASSWORD_FILE": str(password),
    }
    result = subprocess.run(
        ["sh", str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    call = record.read_text() if record.exists() else ""
    return result, call


def test_healthcheck_is_healthy_when_the_app_user_logs_in_with_home_outside_the_volume(tmp_path):
    """mongosh's success is health; HOME is a temporary directory, and no password in argv."""
    result, call = run_healthcheck(tmp_path, mongosh_exit=0)
    assert result.returncode == 0, result.stdout + result.stderr
    home = re.search(r"^HOME=(.*)$", call, re.MULTILINE).group(1)
    assert not home.startswith("/data/db")
    assert home.startswith(str(tmp_path / "tmp"))
    assert "home-exists" in call
    assert "mongodb://127.0.0.1:27017/vdt2023" in call
    assert "s3cret-password" not in call
    assert '"vdt_app"' in call  # the user as a JavaScript string literal
    assert not Path(home).exists()  # removed after the probe


def test_healthcheck_uses_the_legacy_mongo_shell_of_older_images(tmp_path):
    """Without mongosh (mongo:4.4, for CPUs without AVX) the legacy `mongo` shell is asked."""
    result, call = run_healthcheck(tmp_path, mongosh_exit=0, client="mongo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cat(file)" in call


def test_healthcheck_is_unhealthy_and_says_what_to_do_when_the_login_is_refused(tmp_path):
    """A refused login (e.g. no app user after a failed first init) is unhealthy, with advice."""
    result, call = run_healthcheck(tmp_path, mongosh_exit=1)
    assert result.returncode == 1
    assert call
    assert "docker compose down -v" in result.stdout


def test_healthcheck_is_unhealthy_while_the_entrypoints_init_mongod_runs(tmp_path):
    """While the temporary init mongod's pid file exists, unhealthy without asking mongosh."""
    result, call = run_healthcheck(tmp_path, mongosh_exit=0, init_running=True)
    assert result.returncode == 1
    assert call == ""
    assert "init" in result.stdout


def test_container_nginx_runs_a_fixed_number_of_workers():
    """The container config bounds the workers (not `auto`, one per host CPU)."""
    rendered = nginx_config.render_container()
    workers = re.findall(r"^worker_processes (\S+);$", rendered, re.MULTILINE)
    assert workers == [str(nginx_config.CONTAINER_WORKER_PROCESSES)]
    assert 1 <= nginx_config.CONTAINER_WORKER_PROCESSES <= 4


def test_a_refused_login_tells_the_operator_to_recreate_the_volume():
    """MongoDB's AuthenticationFailed (code 18) gets the way out; other errors do not."""
    refused = OperationFailure("Authentication failed.", code=18)
    assert "docker compose down -v" in database_problem(refused)
    other = OperationFailure("not primary", code=10107)
    assert "down -v" not in database_problem(other)
    assert "not primary" in database_problem(other)
