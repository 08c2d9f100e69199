"""The image report: sizes, size added on top of each base, rebuild times, build stages, build
context sizes and the effect of precompiled bytecode, all measured in one run.

`make image-report` builds the stack's images (the container suite's mode) and writes
docs/images.md; tests/test_containers.py measures the same and checks it, writing its copy
under test-artifacts/ only. Rebuilds and context probes work on temporary copies of the build
contexts, so no tracked file is modified by a measurement.
"""

import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..compose import (
    BuildMode,
    StackProject,
    choose_mode,
    docker,
    ensure_offline_base_images,
    image_ids,
    remove_replaced,
    run,
    stack_project,
)
from ..images import base_with_pip
from ..paths import DOCS, REPO

REPORT = DOCS / "images.md"
# The backend is built from the repository's root (uv.lock is the workspace's); see .dockerignore.
BACKEND_DOCKERFILE = "backend/Dockerfile"
PRACTICE_STYLE = Path(__file__).resolve().parents[1] / "bench" / "practice_style"
MB = 1_000_000  # decimal megabytes, as `docker images` counts them


def size_and_layers(image: str) -> tuple[int, int]:
    """An image's size in bytes and its number of file system layers."""
    info = json.loads(docker("image", "inspect", image).stdout)[0]
    return info["Size"], len(info["RootFS"]["Layers"])


def added_bytes(image: str, base: str) -> int:
    """Bytes IMAGE adds on top of BASE (the sizes of the layers above the base's)."""
    return size_and_layers(image)[0] - size_and_layers(base)[0]


@dataclass(frozen=True)
class ImageRow:
    """One image of the report and what it was built on."""

    role: str
    image: str
    base: str | None
    rebuild_seconds: float | None = None


def build(
    context: Path,
    tag: str,
    args: dict[str, str],
    host_network: bool,
    target: str | None = None,
    dockerfile: str = "Dockerfile",
) -> None:
    """`docker build` CONTEXT (with DOCKERFILE, relative to it) as TAG (optionally only up to
    stage TARGET)."""
    command = ["docker", "build", "--force-rm", "-t", tag]  # no container left by a failed step
    command += ["-f", str(context / dockerfile)]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    if host_network:
        command += ["--network", "host"]
    if target:
        command += ["--target", target]
    run([*command, str(context)], timeout=600)


@contextlib.contextmanager
def scratch_copy(context: Path) -> Iterator[Path]:
    """A throw-away copy of the build context CONTEXT: the probes never touch the checkout."""
    with tempfile.TemporaryDirectory(prefix="vdt-probe-") as scratch:
        copy = Path(scratch) / context.name
        # The root (the backend's context) without what no image's context sends: git, venvs,
        # run state, caches.
        skipped = (".git", ".venv", ".uv", ".local-stack", "test-artifacts", "*cache*")
        shutil.copytree(context, copy, symlinks=True, ignore=shutil.ignore_patterns(*skipped))
        yield copy


def rebuild_seconds(
    context: Path,
    changed_file: str,
    args: dict[str, str],
    host_network: bool,
    dockerfile: str = "Dockerfile",
) -> float:
    """Seconds to rebuild CONTEXT after one line is appended to CHANGED_FILE (in a copy)."""
    with scratch_copy(context) as copy:
        with open(copy / changed_file, "a", encoding="utf-8") as handle:
            handle.write(f"# rebuild probe {uuid.uuid4().hex}\n")  # never seen by the cache
        tag = f"vdt2023/rebuild-probe:{uuid.uuid4().hex[:12]}"
        dangling = _dangling()
        started = time.monotonic()
        build(copy, tag, args, host_network, dockerfile=dockerfile)
        elapsed = time.monotonic() - started
        docker("rmi", tag, check=False)
        for image in _dangling() - dangling:  # the probe's own build stages: cache for nothing
            docker("rmi", image, check=False)
    return elapsed


def _dangling() -> set[str]:
    """Ids of the untagged images that nothing builds on."""
    return set(docker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split())


def context_bytes(context: Path, base_image: str, keep_dockerignore: bool) -> int:
    """Bytes of build context the legacy builder sends for CONTEXT, with or without its
    .dockerignore (on a copy, with a one-line Dockerfile that builds nothing new)."""
    with scratch_copy(context) as copy:
        if not keep_dockerignore:
            (copy / ".dockerignore").unlink()
        (copy / "Dockerfile.context-probe").write_text(f"FROM {base_image}\n")
        result = subprocess.run(
            ["docker", "build", "-f", str(copy / "Dockerfile.context-probe"), str(copy)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},  # BuildKit reports no context size
            check=True,
        )
    found = re.findall(
        r"Sending build context to Docker daemon\s+([\d.]+)\s*(B|kB|MB|GB)", result.stdout
    )
    if not found:
        raise ValueError(f"no build context size in:\n{result.stdout[-1000:]}")
    number, unit = found[-1]
    return round(float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit])


_IMPORT = (
    "import time; t = time.perf_counter(); import attendee_directory.wsgi; "
    "print(time.perf_counter() - t)"
)


def import_seconds(image: str, precompiled: bool, runs: int = 3) -> float:
    """Median seconds a worker takes to import the app, on the image's read-only root file
    system (Python cannot cache what it compiles there), with or without the shipped .pyc."""
    drop = "" if precompiled else "find /venv /app -name __pycache__ -prune -exec rm -rf {} +; "
    loop = f"for i in $(seq {runs}); do python3 -c '{_IMPORT}'; done"
    result = docker(
        "run", "--rm", "--user", "0", "--entrypoint", "sh",
        "-e", "MONGO_URI=mongodb://unused.invalid:27017/",
        image, "-c", drop + loop,
        timeout=300,
    )  # fmt: skip
    return statistics.median(float(line) for line in result.stdout.split())


@dataclass
class Report:
    """Everything docs/images.md shows."""

    mode: BuildMode
    rows: list[ImageRow]
    contexts: dict[str, tuple[int, int]]
    stages: dict[str, int] = field(default_factory=dict)  # backend stage -> bytes added
    imports: tuple[float, float] | None = None  # with, without .pyc

    def render(self) -> str:
        """The report as Markdown."""
        engine = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
        mode = self.mode
        out = [
            "# Image report",
            "",
            "<!-- Generated by `make image-report` (devtools/devtools/generators/image_report.py);"
            " do not edit. -->",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
            f"({os.cpu_count()} cores), Docker engine {engine}, in the **{mode.name}** build "
            f"mode ({mode.why}): Python base `{mode.python_image}`, nginx base "
            f"`{mode.nginx_image}`.",
            "",
            "| image | base | size | base size | added on top of the base | layers added "
            "| rebuild after a one-line code change |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in self.rows:
            total, layers = size_and_layers(row.image)
            if row.base:
                base, base_layers = size_and_layers(row.base)
                sizes = f"{_mb(base)} | {_mb(total - base)} | {layers - base_layers}"
            else:
                sizes = "— | — | —"
            rebuild = "—" if row.rebuild_seconds is None else f"{row.rebuild_seconds:.1f} s"
            out.append(
                f"| {row.role} (`{row.image}`) | `{row.base or 'pulled'}` | {_mb(total)} "
                f"| {sizes} | {rebuild} |"
            )
        out += [
            "",
            "*Added on top of the base* = image size minus base size: what the Dockerfile's "
            "layers hold. The practice-style image is "
            "`devtools/devtools/bench/practice_style/Dockerfile` "
            "(one stage, `pip install -r requirements.txt`, `COPY . .`, no `.dockerignore`, "
            "the Flask development server) built in the same run from the same Python base"
            + (
                " plus pip in a venv (the Dockerfile calls `pip`, which the official image "
                "has and the Debian base does not)"
                if mode.offline
                else ""
            )
            + ". A rebuild appends one comment line to a Python file in a temporary copy of "
            "the build context and runs `docker build` again with a warm cache.",
        ]
        if self.stages:
            final = self.stages["runtime"]
            dropped = self.stages["deps"] + self.stages["app"] - final
            out += [
                "",
                "## What the backend's multi-stage build leaves behind",
                "",
                "| backend stage | added on top of the base |",
                "| --- | ---: |",
                f"| `deps`: the venv of locked dependencies, pip removed (Alpine: + compiler) "
                f"| {_mb(self.stages['deps'])} |",
                f"| `app`: build venv with setuptools, sources, the built package "
                f"| {_mb(self.stages['app'])} |",
                f"| `runtime`: the venv without pip, the package | {_mb(final)} |",
                "",
                f"A single stage would keep all the build needed: about {_mb(final + dropped)} "
                f"on top of the base, where the runtime stage adds {_mb(final)} "
                f"({_mb(dropped)} less).",
            ]
        if self.imports:
            with_pyc, without = self.imports
            out += [
                "",
                "## Precompiled bytecode",
                "",
                f"A worker imports the app in {with_pyc:.2f} s with the `.pyc` files the image "
                f"ships, and in {without:.2f} s without them (median of 3, same image with "
                "`__pycache__` removed). The root file system is read-only, so without them "
                "every worker of every replica would compile the same modules at each start.",
            ]
        out += [
            "",
            "## Build contexts",
            "",
            "| build context | with its `.dockerignore` | without it |",
            "| --- | ---: | ---: |",
        ]
        for name, (kept, without) in self.contexts.items():
            out.append(f"| `{name}/` | {kept / 1000:.1f} kB | {without / 1000:.1f} kB |")
        out += [
            "",
            "What the builder is sent for this checkout: without a `.dockerignore`, tests, "
            "caches and build leftovers go too, and any change to them invalidates `COPY` layers.",
            "",
        ]
        return "\n".join(out)


def _mb(size: int) -> str:
    """Bytes as decimal megabytes with one decimal."""
    return f"{size / MB:.1f} MB"


def measure(project: StackProject, mode: BuildMode) -> tuple[str, dict]:
    """Measure PROJECT's built images in MODE: the rendered report and the figures it shows."""
    args = {"PYTHON_IMAGE": mode.python_image}
    practice_args = {"PYTHON_IMAGE": base_with_pip(mode.python_image, mode.offline)}
    practice = f"vdt2023/practice-style:{project.tag}"
    backend = project.image("backend")
    stage_tags = [f"vdt2023/backend-stage:{stage}" for stage in ("deps", "app", "runtime")]
    previous = image_ids([practice, *stage_tags])
    # The stages first, with the builder the rebuild is timed with: they are its cache (compose
    # builds with BuildKit, from its own copy, so its cache is not this builder's).
    built_stages = {}
    for stage, tag in zip(("deps", "app", "runtime"), stage_tags, strict=True):
        build(REPO, tag, args, mode.offline, target=stage, dockerfile=BACKEND_DOCKERFILE)
        built_stages[stage] = tag
    practice_context = PRACTICE_STYLE
    build(practice_context, practice, practice_args, mode.offline)
    ours = rebuild_seconds(
        REPO, "backend/attendee_directory/health.py", args, mode.offline, BACKEND_DOCKERFILE
    )
    theirs = rebuild_seconds(practice_context, "app.py", practice_args, mode.offline)
    rows = [
        ImageRow("backend", backend, mode.python_image, ours),
        ImageRow("practice-style backend", practice, practice_args["PYTHON_IMAGE"], theirs),
        ImageRow("webserver", project.image("webserver"), mode.nginx_image),
    ]
    if mode.offline:
        standin = project.image("database-standin")
        rows.append(ImageRow("database stand-in (nx-27017)", standin, mode.python_image))
    else:
        rows.append(ImageRow("database", "mongo:8.0", None))
    stages = {"runtime": added_bytes(backend, mode.python_image)}
    for stage in ("deps", "app"):
        stages[stage] = added_bytes(built_stages[stage], mode.python_image)
    remove_replaced(previous, [practice, *stage_tags])
    contexts = {
        name: (
            context_bytes(context, mode.python_image, keep_dockerignore=True),
            context_bytes(context, mode.python_image, keep_dockerignore=False),
        )
        for name, context in (("backend", REPO), ("webserver", REPO / "webserver"))
    }
    imports = (import_seconds(backend, precompiled=True), import_seconds(backend, False))
    report = Report(mode, rows, contexts, stages, imports).render()
    figures = {"rebuild_seconds": (ours, theirs), "stages": stages, "contexts": contexts}
    return report, figures


def main() -> int:
    """`make image-report`: build the images with compose in the container suite's mode (the
    offline one when no registry answers), measure them, write docs/images.md."""
    mode = choose_mode()
    print(f"build mode: {mode.name} ({mode.why})", flush=True)
    if mode.offline:
        ensure_offline_base_images()
    with tempfile.TemporaryDirectory(prefix="vdt-image-report-") as scratch:
        secrets_dir = Path(scratch) / "secrets"
        run([str(REPO / "scripts/make-secrets.sh"), str(secrets_dir)], timeout=30)
        project = stack_project(mode, secrets_dir, http_port=0, tag="image-report")
        ours = [project.image(name) for name in ("backend", "webserver", "database-standin")]
        previous = image_ids(ours)
        project.compose("build", timeout=900)
        remove_replaced(previous, ours)
        report, _ = measure(project, mode)
    REPORT.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
