"""Local images that the benchmark and the image report both need."""

import subprocess

PIP_BASE = "vdt2023/python-with-pip:local"


def base_with_pip(python_image: str, offline: bool) -> str:
    """The base the practice-style Dockerfile can use: it calls `pip`, which the official image
    has and the offline Debian base lacks (Debian also refuses system-wide installs). There, pip
    comes in a venv on PATH, a layer of a few MB that the report counts as part of the base."""
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
