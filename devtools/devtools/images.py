"""Local images that the benchmark and the image report both need."""

import subprocess

PIP_BASE = "vdt2023/python-with-pip:local"


def base_with_pip(python_image: str, offline: bool) -> str:
    """The base the practice-style Dockerfile can use: one whose `pip` works."""
    # The official image has pip; the offline Debian base lacks it (and Debian refuses
    # system-wide installs), so there pip comes in a venv on PATH, a layer of a few MB that the
    # image report counts as part of the base.
    if not offline:
        return python_image
    dockerfile = f"FROM {python_image}\nRUN python3 -m venv /opt/pip\nENV PATH=/opt/pip/bin:$PATH\n"
    subprocess.run(
        ["docker", "build", "-q", "-t", PIP_BASE, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return PIP_BASE
