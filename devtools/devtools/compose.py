"""Drive compose projects for the tests and the benchmark: the docker and compose CLIs, the build
mode, bounded waits.

Compose v2 (`docker compose`) is used where it exists, else v1 (`docker-compose`): the same files
must give the same stack with both. Every call has a timeout; nothing here talks to a container
over the network (traffic goes to the published port on 127.0.0.1 only).
"""

import functools
import json
import os
import secrets
import shlex
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .paths import REPO
from .processes import free_port

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

# The official images compose.yaml and the Dockerfiles name by default.
OFFICIAL_IMAGES = ("python:3.14-alpine", "nginx:1.30-alpine", "mongo:8.0")
# What scripts/build-base-images.sh makes from Debian packages for the offline mode.
OFFLINE_PYTHON = "vdt-local/python:3.14"
OFFLINE_NGINX = "vdt-local/nginx:1.30"
# Our stack in the offline mode: compose.yaml with the override of local bases and nx-27017.
OFFLINE_FILES = ("compose.yaml", "compose.offline.yaml")
PULL_TIMEOUT = 20  # seconds per official image before falling back to the offline mode
# Our images: built, never pulled (the .invalid domain resolves nowhere; compose.yaml).
OUR_IMAGES = "vdt2023.invalid"


def run(
    args: list[str],
    timeout: float,
    env: dict | None = None,
    check: bool = True,
    cwd: Path = REPO,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; raise with its output if it fails and CHECK."""
    result = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-3000:]}"
        )
    return result


def docker(
    *args: str, timeout: float = 60, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS`."""
    return run(["docker", *args], timeout=timeout, check=check, stdin=stdin)


def remove_stack(name: str, timeout: float = 90) -> None:
    """`docker stack rm NAME`, then wait (at most TIMEOUT) until its services, containers and
    networks are gone, and remove its volumes on this engine (stack rm keeps them, as compose's
    `down` without -v does)."""
    label = f"label=com.docker.stack.namespace={name}"
    docker("stack", "rm", name, check=False, timeout=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [
            docker("service", "ls", "-q", "--filter", label, check=False).stdout.split(),
            docker("ps", "-aq", "--filter", label).stdout.split(),
            docker("network", "ls", "-q", "--filter", label).stdout.split(),
        ]
        if not any(left):
            break
        time.sleep(1)
    for volume in docker("volume", "ls", "-q", "--filter", label).stdout.split():
        docker("volume", "rm", "-f", volume, check=False)


def engine_problem() -> str | None:
    """None when a Docker engine answers, else why not, with the way out."""
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    else:
        if result.returncode == 0:
            return None
        problem = result.stderr.strip() or "docker info failed"
    return f"no Docker engine: {problem} (scripts/start-docker.sh starts one)"


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
    return BuildMode("offline", OFFLINE_FILES, OFFLINE_PYTHON, OFFLINE_NGINX, why)


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
    run([str(REPO / "scripts/build-base-images.sh")], timeout=900)


# The README marks the block that holds its headline command: the container suite runs what
# stands between these markers, verbatim.
README_COMMAND_START = "<!-- headline-command:start -->"
README_COMMAND_END = "<!-- headline-command:end -->"


def readme_command() -> list[str]:
    """The README's headline `docker compose up` command (its marked block's last line), as argv."""
    text = (REPO / "README.md").read_text()
    block = text.split(README_COMMAND_START, 1)[1].split(README_COMMAND_END, 1)[0]
    lines = [line for line in block.splitlines() if line and not line.startswith("```")]
    command = shlex.split(lines[-1])
    assert command[:3] == ["docker", "compose", "up"], f"not the headline command: {lines}"
    return command


def copy_under_umask_077(destination: Path) -> Path:
    """The repository's files (tracked or not ignored) written as a checkout under umask 077
    writes them: files 0600 (0700 if executable), directories 0700."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], 60)
    previous = os.umask(0o077)
    try:
        for name in filter(None, listed.stdout.split("\0")):
            source = REPO / name
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
    """One compose project: its files, a unique name, a free published port, extra environment."""

    files: Sequence[str | Path]  # compose files, relative to root (or absolute)
    http_port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"vdt_{secrets.token_hex(4)}")
    root: Path = REPO  # the checkout whose compose files and build contexts are used
    https_port: int = field(default_factory=free_port)
    # Whether the webserver serves the app over HTTPS (compose.yaml's); False: on plain HTTP
    # (the benchmark's TLS=off config, the practice-style stack).
    tls: bool = True

    @property
    def url(self) -> str:
        """Where the app is served, on a published port: the only addresses traffic goes to."""
        return f"https://127.0.0.1:{self.https_port}" if self.tls else self.http_url

    @property
    def http_url(self) -> str:
        """The published plain-HTTP port (a redirect to url, with TLS)."""
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        """The environment compose interpolates the files with."""
        return {
            **os.environ,
            "HTTP_BIND": "127.0.0.1",
            "HTTP_PORT": str(self.http_port),
            "HTTPS_PORT": str(self.https_port),
            **self.extra_env,
        }

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run compose for this project with its files (STDIN: what the command reads)."""
        files = [arg for name in self.files for arg in ("-f", str(self.root / name))]
        command = [*compose_command(), "-p", self.name, *files, *args]
        return run(
            command, timeout=timeout, env=self.env(), check=check, cwd=self.root, stdin=stdin
        )

    def verbatim(self, argv: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run ARGV, a `docker compose ...` command exactly as a user types it in the checkout:
        the project name and the files come from COMPOSE_PROJECT_NAME and COMPOSE_FILE, which
        compose reads when no -p and no -f are given."""
        assert argv[:2] == ["docker", "compose"], argv
        env = {
            **self.env(),
            "COMPOSE_PROJECT_NAME": self.name,
            "COMPOSE_FILE": os.pathsep.join(map(str, self.files)),
        }
        return run(argv, timeout=timeout, env=env, cwd=self.root)

    def containers(self, service: str | None = None, running: bool = False) -> list[dict]:
        """`docker inspect` of the project's containers (only the RUNNING ones, if asked), or of
        one service's."""
        filters = ["--filter", f"label={PROJECT_LABEL}={self.name}"]
        if service:
            filters += ["--filter", f"label={SERVICE_LABEL}={service}"]
        ids = docker("ps", "-q" if running else "-aq", *filters).stdout.split()
        return json.loads(docker("inspect", *ids).stdout) if ids else []

    def health(
        self, expected: dict[str, int], unchecked: bool = False
    ) -> tuple[bool, list[dict], dict[str, list[str]]]:
        """Whether each service runs EXPECTED[service] containers, all healthy (or, if UNCHECKED
        is allowed, running without a healthcheck); the containers found and each service's
        "status/health" states."""
        found = self.containers()
        states: dict[str, list[str]] = {}
        for container in found:
            service = container["Config"]["Labels"][SERVICE_LABEL]
            health = container["State"].get("Health", {}).get("Status", "none")
            states.setdefault(service, []).append(f"{container['State']['Status']}/{health}")
        good = {"running/healthy", "running/none"} if unchecked else {"running/healthy"}
        ready = all(
            len(states.get(service, [])) == count
            and all(state in good for state in states[service])
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

    def down(self, stop_timeout: int = 30) -> None:
        """Remove the project's containers, networks and volumes (named and anonymous)."""
        self.compose("down", "-v", "--remove-orphans", "--timeout", str(stop_timeout), timeout=180)


@dataclass
class StackProject(ComposeProject):
    """Our stack (compose.yaml, plus the offline override in that mode) with its own secrets."""

    mode: BuildMode = field(kw_only=True)
    secrets_dir: Path = field(kw_only=True)
    tag: str = field(default="test", kw_only=True)

    def env(self) -> dict[str, str]:
        """compose.yaml's variables: where the secrets are and which tag the images get."""
        return {**super().env(), "SECRETS_DIR": str(self.secrets_dir), "TAG": self.tag}

    def admin_password(self) -> str:
        """The first admin's password (scripts/make-secrets.sh's admin_password)."""
        return (self.secrets_dir / "admin_password").read_text(encoding="utf-8").strip()

    def image(self, service: str) -> str:
        """The image compose builds for SERVICE in this project."""
        return f"{OUR_IMAGES}/{service}:{self.tag}"


def stack_project(
    mode: BuildMode, secrets_dir: Path, http_port: int, tag: str = "test", root: Path = REPO
) -> StackProject:
    """Our stack in MODE, under a fresh test project name."""
    return StackProject(
        mode.files,
        http_port,
        name=f"vdt_test_{secrets.token_hex(4)}",
        root=root,
        mode=mode,
        secrets_dir=secrets_dir,
        tag=tag,
    )
