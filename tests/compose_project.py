"""Drive the compose stack from tests: the docker and compose CLIs, the build mode, bounded waits.

Compose v2 (`docker compose`) is used where it exists, else v1 (`docker-compose`): the same files
must give the same stack with both. Every call has a timeout; nothing here talks to a container
over the network (tests send their traffic to the published port on 127.0.0.1 only).
"""

import functools
import json
import os
import re
import secrets
import shlex
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

# The official images compose.yaml and the Dockerfiles name by default.
OFFICIAL_IMAGES = ("python:3.14-alpine", "nginx:1.30-alpine", "mongo:8.0")
# What scripts/build-base-images.sh makes from Debian packages for the offline mode.
OFFLINE_PYTHON = "vdt-local/python:3.14"
OFFLINE_NGINX = "vdt-local/nginx:1.30"
PULL_TIMEOUT = 20  # seconds per official image before falling back to the offline mode
# Our images: built, never pulled (the .invalid domain resolves nowhere; compose.yaml).
OUR_IMAGES = "vdt2023.invalid"


def run(
    args: list[str],
    timeout: float,
    env: dict | None = None,
    check: bool = True,
    cwd: Path = ROOT,
):
    """Run a command, capturing text output; raise with its output if it fails and CHECK."""
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-3000:]}"
        )
    return result


def docker(*args: str, timeout: float = 60, check: bool = True):
    """Run `docker ARGS`."""
    return run(["docker", *args], timeout=timeout, check=check)


def engine_problem() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if result.returncode == 0 else (result.stderr.strip() or "docker info failed")


def skip_without_engine() -> None:
    """Skip the calling suite, visibly and with the way out, when no Docker engine answers."""
    problem = engine_problem()
    if problem:
        pytest.skip(
            f"no Docker engine: {problem} (scripts/start-docker.sh starts one)",
            allow_module_level=True,
        )


@functools.cache
def compose_command() -> list[str]:
    """`docker compose` (v2) if the plugin exists, else `docker-compose` (v1); asked once."""
    if docker("compose", "version", timeout=20, check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def image_exists(image: str) -> bool:
    """True when IMAGE is in the local image store."""
    return docker("image", "inspect", image, timeout=20, check=False).returncode == 0


def can_have(image: str) -> bool:
    """True when IMAGE is here already or can be pulled within PULL_TIMEOUT seconds."""
    if image_exists(image):
        return True
    try:
        return docker("pull", "-q", image, timeout=PULL_TIMEOUT, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@dataclass(frozen=True)
class BuildMode:
    """Registry mode (the official images) or offline mode (local bases + nx-27017)."""

    name: str
    files: tuple[str, ...]
    python_image: str
    nginx_image: str
    why: str

    @property
    def offline(self) -> bool:
        """True in the offline mode."""
        return self.name == "offline"


def choose_mode() -> BuildMode:
    """The official images if all can be had (CONTAINER_MODE=offline|registry forces a mode)."""
    forced = os.environ.get("CONTAINER_MODE", "")
    missing = [] if forced else [image for image in OFFICIAL_IMAGES if not can_have(image)]
    if forced == "registry" or (not forced and not missing):
        why = "forced by CONTAINER_MODE" if forced else "official images available"
        return BuildMode("registry", ("compose.yaml",), *OFFICIAL_IMAGES[:2], why)
    why = "forced by CONTAINER_MODE" if forced else f"cannot pull {', '.join(missing)}"
    return BuildMode(
        "offline", ("compose.yaml", "compose.offline.yaml"), OFFLINE_PYTHON, OFFLINE_NGINX, why
    )


def image_ids(references: list[str]) -> set[str]:
    """The ids of those REFERENCES that exist locally."""
    found = [docker("images", "-q", "--no-trunc", ref).stdout.split() for ref in references]
    return {image for ids in found for image in ids}


def remove_replaced(before: set[str], references: list[str]) -> None:
    """Remove the images that REFERENCES named before a rebuild and no longer name (best effort:
    an image a container still uses stays), so repeated runs leave no untagged images."""
    for image in before - image_ids(references):
        docker("rmi", image, check=False)


def ensure_offline_base_images() -> None:
    """Build the local base images unless they exist (scripts/build-base-images.sh skips them)."""
    run([str(ROOT / "scripts/build-base-images.sh")], timeout=900)


def readme_command() -> list[str]:
    """The README's headline command (its Docker section's first `docker compose up`), as argv."""
    docker_section = (ROOT / "README.md").read_text().split("\n## Docker\n", 1)[1]
    line = re.search(r"^docker compose up .*$", docker_section, re.MULTILINE).group(0)
    return shlex.split(line)


def copy_under_umask_077(destination: Path) -> Path:
    """The repository's files (tracked or not ignored) written as a checkout under umask 077
    writes them: files 0600 (0700 if executable), directories 0700."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], 60)
    previous = os.umask(0o077)
    try:
        for name in filter(None, listed.stdout.split("\0")):
            source = ROOT / name
            if not source.is_file():
                continue  # deleted in the work tree
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            if source.stat().st_mode & stat.S_IXUSR:
                target.chmod(0o700)
    finally:
        os.umask(previous)
    return destination


@dataclass
class ComposeProject:
    """One compose project with a unique name, its own secrets and a free published port."""

    mode: BuildMode
    secrets_dir: Path
    http_port: int
    tag: str = "test"
    name: str = field(default_factory=lambda: f"vdt_test_{secrets.token_hex(4)}")
    root: Path = ROOT  # the checkout whose compose files and build contexts are used

    @property
    def url(self) -> str:
        """The published port: the only address the tests send traffic to."""
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        """The environment compose interpolates compose.yaml with."""
        return {
            **os.environ,
            "HTTP_BIND": "127.0.0.1",
            "HTTP_PORT": str(self.http_port),
            "SECRETS_DIR": str(self.secrets_dir),
            "TAG": self.tag,
        }

    def image(self, service: str) -> str:
        """The image compose builds for SERVICE in this project."""
        return f"{OUR_IMAGES}/{service}:{self.tag}"

    def compose(self, *args: str, timeout: float = 300, check: bool = True):
        """Run compose for this project with this mode's files."""
        files = [arg for name in self.mode.files for arg in ("-f", str(self.root / name))]
        command = [*compose_command(), "-p", self.name, *files, *args]
        return run(command, timeout=timeout, env=self.env(), check=check, cwd=self.root)

    def verbatim(self, argv: list[str], timeout: float = 900):
        """Run ARGV, a `docker compose ...` command exactly as a user types it in the checkout:
        the project name and this mode's files come from COMPOSE_PROJECT_NAME and COMPOSE_FILE,
        which compose reads when no -p and no -f are given."""
        assert argv[:2] == ["docker", "compose"], argv
        env = {
            **self.env(),
            "COMPOSE_PROJECT_NAME": self.name,
            "COMPOSE_FILE": os.pathsep.join(self.mode.files),
        }
        return run(argv, timeout=timeout, env=env, cwd=self.root)

    def containers(self, service: str | None = None) -> list[dict]:
        """`docker inspect` of the project's containers (running or not), or of one service's."""
        filters = ["--filter", f"label={PROJECT_LABEL}={self.name}"]
        if service:
            filters += ["--filter", f"label={SERVICE_LABEL}={service}"]
        ids = docker("ps", "-aq", *filters).stdout.split()
        return json.loads(docker("inspect", *ids).stdout) if ids else []

    def health(self, expected: dict[str, int]) -> tuple[bool, list[dict], dict[str, list[str]]]:
        """Whether each service runs EXPECTED[service] containers, all healthy; the containers
        found and each service's "status/health" states."""
        found = self.containers()
        states: dict[str, list[str]] = {}
        for container in found:
            service = container["Config"]["Labels"][SERVICE_LABEL]
            health = container["State"].get("Health", {}).get("Status", "none")
            states.setdefault(service, []).append(f"{container['State']['Status']}/{health}")
        ready = all(
            len(states.get(service, [])) == count
            and all(state == "running/healthy" for state in states[service])
            for service, count in expected.items()
        )
        return ready, found, states

    def wait_healthy(self, expected: dict[str, int], timeout: float = 120) -> list[dict]:
        """Wait until each service runs EXPECTED[service] containers, all healthy."""
        deadline = time.monotonic() + timeout
        states: dict[str, list[str]] = {}
        while time.monotonic() < deadline:
            ready, found, states = self.health(expected)
            if ready:
                return found
            time.sleep(1)
        logs = self.compose("logs", "--tail", "15", timeout=60, check=False).stdout
        raise TimeoutError(f"not all healthy after {timeout:.0f} s: {states}\n{logs[-6000:]}")

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes that still carry this project's label."""
        label = f"label={PROJECT_LABEL}={self.name}"
        return {
            "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
            "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
            "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
        }

    def down(self) -> None:
        """Remove the project's containers, networks and volumes (named and anonymous)."""
        self.compose("down", "-v", "--remove-orphans", "--timeout", "30", timeout=180)
