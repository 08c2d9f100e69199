"""The supply chain, on paper: every third-party image the tree names is one that Renovate's
configuration keeps current and pins by digest; the build tools are pinned by hash and
installed so; nothing of the build host's pip configuration is copied into an image."""

import json
import re
from pathlib import Path

import pytest

from devtools.paths import REPO

RENOVATE = json.loads((REPO / "renovate.json").read_text())
# Images built only here (never pulled), which Renovate leaves alone.
OWN = re.compile(r"^(vdt2023\.invalid|vdt-local)/")
# The practice's own files, measured as they were written (the benchmark's "before").
SKIPPED = "devtools/devtools/bench/practice_style/"


def _tracked(pattern: str) -> list[Path]:
    """Files of the tree matching PATTERN, but the practice's."""
    return [
        path
        for path in REPO.rglob(pattern)
        if SKIPPED not in str(path) and ".venv" not in str(path)
    ]


def _python_regex(renovate_regex: str) -> re.Pattern:
    """A Renovate (JavaScript) regex with named groups, in Python's syntax."""
    return re.compile(renovate_regex.replace("(?<", "(?P<"))


def _custom(file_kind: str) -> list[re.Pattern]:
    """The custom managers' patterns for Dockerfiles or compose files."""
    found = []
    for manager in RENOVATE["customManagers"]:
        if any(file_kind in pattern for pattern in manager["managerFilePatterns"]):
            found += [_python_regex(text) for text in manager["matchStrings"]]
    return found


def _image_references() -> list[tuple[str, str, str]]:
    """(file, how it is named, the image) for every image reference in Dockerfiles and compose
    files: ARG defaults, FROM lines, `image:` keys and ${..._IMAGE:-...} defaults."""
    found = []
    for dockerfile in _tracked("Dockerfile"):
        text = dockerfile.read_text()
        for image in re.findall(r"^ARG [A-Z_]+_IMAGE=(\S+)", text, re.M):
            found.append((str(dockerfile), "arg", image))
        for image in re.findall(r"^FROM (\S+)", text, re.M):
            if not image.startswith("$"):
                found.append((str(dockerfile), "from", image))
    for compose in _tracked("compose*.yaml"):
        text = compose.read_text()
        for image in re.findall(r"\$\{[A-Z_]+_IMAGE:-([^}]+)\}", text):
            found.append((str(compose), "default", image))
        for image in re.findall(r"^\s+image: (\S+)$", text, re.M):
            if "${" not in image:
                found.append((str(compose), "image", image))
    return found


def test_renovate_pins_digests_and_covers_every_third_party_image():
    """docker:pinDigests is on, and each third-party image is found by a manager: ARG defaults
    and compose defaults by the custom regexes (which must match them), `image:` keys and literal
    FROM lines by Renovate's own docker-compose and dockerfile managers."""
    assert "docker:pinDigests" in RENOVATE["extends"]
    third_party = [ref for ref in _image_references() if not OWN.match(ref[2])]
    assert {kind for _, kind, _ in third_party} >= {"arg", "default", "image"}
    for path, kind, image in third_party:
        if kind in ("image", "from"):
            continue  # Renovate's built-in managers parse these
        patterns = _custom("Dockerfile" if kind == "arg" else "compose")
        line = f"ARG X_IMAGE={image}\n" if kind == "arg" else f"${{X_IMAGE:-{image}}}"
        matched = [pattern.search(line) for pattern in patterns]
        assert any(
            m and f"{m['depName']}:{m['currentValue']}" == image.split("@")[0] for m in matched
        ), (
            path,
            image,
        )


def test_our_images_are_left_to_us():
    """The images built here are excluded from Renovate's updates (they exist in no registry)."""
    (rule,) = [rule for rule in RENOVATE["packageRules"] if rule.get("enabled") is False]
    for name in ("vdt2023.invalid/backend", "vdt-local/python"):
        assert any(re.search(pattern[1:-1], name) for pattern in rule["matchPackageNames"])


def test_the_build_tools_are_pinned_by_hash_and_installed_so():
    """backend/build-tools.txt pins each tool to one version with hashes, and both the backend
    image and the Makefile install it with --require-hashes."""
    text = (REPO / "backend/build-tools.txt").read_text()
    requirements = re.findall(
        r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[a-f0-9]{64}\s*\\?\n?)+)", text, re.M
    )
    assert {name for name, _, _ in requirements} == {"uv", "setuptools"}
    for name, _, hashes in requirements:
        assert hashes.count("--hash=sha256:") >= 1, name
    for installer in ("backend/Dockerfile", "Makefile"):
        body = (REPO / installer).read_text()
        assert "--require-hashes" in body and "build-tools.txt" in body, installer


@pytest.mark.parametrize(
    "path",
    ["scripts/build-base-images.sh", *(str(p.relative_to(REPO)) for p in _tracked("Dockerfile"))],
)
def test_no_pip_configuration_of_the_build_host_goes_into_an_image(path):
    """No script or Dockerfile copies a pip configuration file into an image."""
    text = (REPO / path).read_text()
    assert not re.search(r"^[^#]*\bpip\.conf\b", text, re.M), path
