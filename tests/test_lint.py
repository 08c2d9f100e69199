"""Linters for the container files; no Docker engine needed.

hadolint on the Dockerfiles (not the benchmark's practice_style/Dockerfile: it is the "before"
picture and is meant to break the rules), the Compose Spec schema on the compose files,
shellcheck on the shell scripts when it is installed (Debian package `shellcheck`).
"""

import json
import subprocess

import pytest
import yaml

from devtools.paths import REPO
from devtools.processes import find_executable

DOCKERFILES = [
    "backend/Dockerfile",
    "webserver/Dockerfile",
    "database/Dockerfile",
    "database/standin/Dockerfile",
]
COMPOSE_FILES = [
    "compose.yaml",
    "compose.offline.yaml",
    "compose.dev.yaml",
    "devtools/devtools/bench/practice_style/compose.practice.yaml",
]


def tool(name: str) -> str:
    """The linter NAME from this virtualenv or PATH; skip, visibly, when it is not installed."""
    found = find_executable(name)
    if not found:
        pytest.skip(f"{name} is not installed (make .venv/.installed, or apt-get install {name})")
    return found


def lint(*args: str) -> None:
    """Run a linter on files of the repository; fail with its findings."""
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_passes_hadolint(dockerfile):
    """No hadolint finding at all, warnings and style included (exceptions are inline)."""
    lint(tool("hadolint"), dockerfile)


class _ComposeTags(yaml.SafeLoader):
    """YAML with compose's merge tags (`!override`, `!reset`) read as the plain values they tag."""


_ComposeTags.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)
    ),
)


def test_compose_files_follow_the_compose_spec(tmp_path):
    """The compose files, and Swarm's override (its merge tags read as plain values, which
    check-jsonschema's own YAML reader does not know), validate against the Compose Spec."""
    swarm = tmp_path / "compose.swarm.json"
    swarm.write_text(
        json.dumps(yaml.load((REPO / "swarm/compose.swarm.yaml").read_text(), _ComposeTags))  # noqa: S506 (a SafeLoader)
    )
    lint(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        *COMPOSE_FILES,
        str(swarm),
    )


def test_shell_scripts_pass_shellcheck():
    """The scripts (Swarm's deploy script too), and the database image's init script and
    healthcheck."""
    scripts = sorted(
        str(p.relative_to(REPO)) for p in [*REPO.glob("scripts/*.sh"), *REPO.glob("swarm/*.sh")]
    )
    lint(
        tool("shellcheck"),
        *scripts,
        "database/image/init/create-app-user.sh",
        "database/image/app-user-can-log-in.sh",
    )


def _make_lint_commands() -> list[str]:
    """The commands of the Makefile's lint target, with $(VENV) spelled out."""
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    return [line.strip().replace("$(VENV)", ".venv") for line in recipe]


def test_pre_commit_runs_what_make_lint_runs():
    """Every command of `make lint` is a pre-commit hook, so a commit is checked as CI checks it."""
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    commands = _make_lint_commands()
    assert commands and all(command.startswith(".venv/bin/") for command in commands), commands
    for command in commands:
        # The same tool and mode; a hook gets the changed files instead of "." and may add flags
        # after them (ruff's --force-exclude).
        words = [word for word in command.split() if word != "."]
        assert any(entry.split()[: len(words)] == words for entry in entries), command


# ---- Ansible (ansible/): what `make lint` runs on it, kept here so that `make test` fails too.
ANSIBLE_INVENTORY = "ansible/inventory/hosts.yml"


def test_ansible_lint_production_profile():
    """ansible-lint's strictest profile, offline (nothing is fetched), finds nothing in ansible/."""
    lint(tool("ansible-lint"), "--offline", "--profile", "production", "ansible/")


def test_ansible_playbook_syntax_check():
    """site.yml and its roles parse with the example inventory."""
    lint(tool("ansible-playbook"), "--syntax-check", "-i", ANSIBLE_INVENTORY, "ansible/site.yml")
