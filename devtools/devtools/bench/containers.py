"""`python -m bench.containers`: the compose stack beside the practice-style containers.

Both stacks run as containers, built here from local base images (offline mode: no registry is
reachable on these machines), with 2 backend replicas, published on 127.0.0.1 only, and loaded
with wrk. Each stack also gives its start-up times and the memory of every container. The
results are saved as JSON under .local-stack/bench/; --output writes the markdown sections.
"""

import argparse
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from attendee_directory.config import ServerSettings, default
from devtools.local_stack.nginx import NO_LIMITS

from ..compose import OFFLINE_FILES, OFFLINE_PYTHON, engine_problem, run
from ..images import base_with_pip
from ..paths import REPO, STATE_DIR
from . import containers_report
from .compose_stack import Stack, answers
from .containers_results import Figure, Results, StackResult
from .database import BENCH_EMAIL
from .setups import BENCH
from .wrk import WARMUP_S, median, run_wrk

STATE = STATE_DIR / "bench"
PRACTICE_COMPOSE = BENCH / "practice_style" / "compose.practice.yaml"
TAG = "bench"  # our images' tag here: other runs' images (latest, test) are left alone
REPLICAS = 2
ENDPOINTS = {
    "whoami": "/api/whoami",
    "list": "/api/attendees?page=1&per_page=20",
    "get": "/api/attendees/{id}",
    "create": "/api/attendees",
}
QUICK_ENDPOINTS = ("whoami", "list")
# Worker and thread counts per replica tried besides the shipped ones (compose.yaml's defaults),
# the first two that differ from them.
ALTERNATIVES = [(1, 4), (2, 4), (1, 16)]
SETTING_NAMES = ("WEB_CONCURRENCY", "WEB_THREADS")
LOAD_MEMORY_SECONDS = 4  # the list run during which the memory under load is read (at most)
SCALE_TIMEOUT_S = 30  # how long a new replica gets to answer through nginx
SEED_TIMEOUT_S = 30
# nginx's limits (per address, and the load comes from one) would answer most requests with 429:
# lifted for ours, as for the local nginx, and the app is served on plain HTTP (TLS=off), as the
# practice-style stack serves it. Nothing else in the webserver's config changes.
PLAIN_HTTP = {
    "TLS": "off",
    "READ_RATE": NO_LIMITS.read_rate,
    "READ_BURST": str(NO_LIMITS.read_burst),
    "WRITE_RATE": NO_LIMITS.write_rate,
    "WRITE_BURST": str(NO_LIMITS.write_burst),
    "CONN_LIMIT": str(NO_LIMITS.conn_limit),
}


def prepare() -> dict[str, list[Path]]:
    """Base images, secrets, our and the practice's images, the two nginx configs."""
    run([str(REPO / "scripts/build-base-images.sh")], timeout=900)
    secrets_dir = STATE / "secrets"
    run([str(REPO / "scripts/make-secrets.sh"), str(secrets_dir)], timeout=30)
    os.environ.update({"TAG": TAG, "SECRETS_DIR": str(secrets_dir)})
    for name in SETTING_NAMES:  # "shipped" means compose.yaml's defaults, not this shell's
        os.environ.pop(name, None)
    os.environ["PIP_PYTHON_IMAGE"] = base_with_pip(OFFLINE_PYTHON, offline=True)
    # The webserver renders its config at start from these, as from any other setting.
    override = STATE / "compose.bench.yaml"
    override.write_text(json.dumps({"services": {"webserver": {"environment": PLAIN_HTTP}}}))
    # The practice's template with the official image's paths: the container runs as root, its
    # workers as www-data (Debian's nginx user; the official image's is "nginx").
    practice_conf = STATE / "practice-nginx.conf"
    practice_conf.write_text(
        Template((BENCH / "practice-nginx.conf.template").read_text()).substitute(
            user_line="user www-data;",
            runtime_dir="/tmp",  # noqa: S108 (inside the container)
            listen="80",
            upstream_servers="        server backend:5000;",
        )
    )
    practice_conf.chmod(0o644)
    os.environ["PRACTICE_NGINX_CONF"] = str(practice_conf)
    ours = [REPO / name for name in OFFLINE_FILES] + [override]
    Stack(ours, 0).compose("build", timeout=900)
    Stack([PRACTICE_COMPOSE], 0).compose("build", timeout=900)
    return {"ours": ours, "practice": [PRACTICE_COMPOSE]}


def seed(stack: Stack, practice: bool) -> str:
    """Give the stack the 48 sample attendees; return one attendee's id."""
    # Ours seeds itself on its first request; the practice's app cannot: same documents inserted.
    if practice:
        from attendee_directory.seed import sample_attendees

        stack.insert(sample_attendees())
    # A replica that refused nginx's first tries is skipped for 10 s (nginx's fail_timeout):
    # the first page is asked again until it comes, for at most SEED_TIMEOUT_S.
    deadline = time.monotonic() + SEED_TIMEOUT_S
    while True:
        body = answers(stack.url + ENDPOINTS["list"])
        if body or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not body:
        raise RuntimeError(f"{stack.name}: no first page within {SEED_TIMEOUT_S} s")
    return json.loads(body)["items"][0]["id"]


def load(stack: Stack, path: str, connections: int, seconds: int, create: bool) -> object:
    """One wrk run; the attendees that a create run added are removed after it."""
    tag = f"c{time.monotonic_ns()}" if create else None
    try:
        return run_wrk(stack.url + path, connections, seconds, tag)
    finally:
        if create:
            stack.remove_created(BENCH_EMAIL)


@dataclass
class Entry:
    """One stack while it runs: how it is measured and what it has given so far."""

    stack: Stack
    result: StackResult
    some_id: str = ""


def start(files: list[Path], label: str, setting: tuple | None, **how) -> Entry:
    """A stack (not up yet) under SETTING (workers, threads), or the files' own if None."""
    env = dict(zip(SETTING_NAMES, map(str, setting), strict=True)) if setting else {}
    workers, threads = setting or (None, None)
    result = StackResult(
        label, how["practice"], workers, threads, how["shipped"], 0.0, 0.0, how["scale"], None,
        {}, {}, {},
    )  # fmt: skip
    return Entry(Stack(files, free_port(), env), result)


def bring_up(entry: Entry) -> None:
    """Up (timed), seeded, memory at idle, the workers and threads the replicas really run."""
    stack, result = entry.stack, entry.result
    print(f"{result.label}: project {stack.name} on {stack.url}", flush=True)
    result.serving_s, result.healthy_s = stack.up(REPLICAS)
    entry.some_id = seed(stack, result.practice)
    result.memory_idle = stack.memory()
    result.mem_limits = mem_limits(stack)
    if not result.practice:
        env = dict(
            item.split("=", 1)
            for item in stack.containers("backend", running=True)[0]["Config"]["Env"]
        )
        result.workers, result.threads = (setting_value(env, name) for name in SETTING_NAMES)


def interleaved(entries: list[Entry], args, endpoints: list[str]) -> None:
    """Each endpoint at each connection count on every stack, the median of repeats in turns."""
    # One warm-up run each, then rounds in turns (reversed on odd rounds), so that other load on
    # the machine falls on all stacks alike.
    for connections in args.connections:
        for name in endpoints:
            create = name == "create"
            paths = [ENDPOINTS[name].format(id=entry.some_id) for entry in entries]
            for entry, path in zip(entries, paths, strict=True):
                load(entry.stack, path, connections, WARMUP_S, create)
            runs: list[list] = [[] for _ in entries]
            for round_number in range(args.repeats):
                order = list(range(len(entries)))[:: -1 if round_number % 2 else 1]
                for index in order:
                    runs[index].append(
                        load(entries[index].stack, paths[index], connections, args.seconds, create)
                    )
            for entry, its_runs in zip(entries, runs, strict=True):
                result = median(its_runs)
                entry.result.figures.append(
                    Figure(name, connections, result.rps, result.p50_ms, result.p99_ms,
                           result.errors, result.spread)
                )  # fmt: skip
                print(f"  {entry.result.label:14} {name:6} c={connections:<3} {result.rps:7.0f}"
                      f" req/s  p50 {result.p50_ms:.1f} ms", flush=True)  # fmt: skip


def memory_under_load(stack: Stack, connections: int, seconds: int) -> dict[str, float]:
    """Memory per container read a quarter into a list run of SECONDS at CONNECTIONS."""
    box: dict[str, dict[str, float]] = {}
    reader = threading.Timer(seconds / 4, lambda: box.update(mem=stack.memory()))
    reader.start()
    run_wrk(stack.url + ENDPOINTS["list"], connections, seconds)
    reader.join()
    return box["mem"]


def mem_limits(stack: Stack) -> dict[str, float]:
    """The memory limit compose gave each service, in MiB (0: none)."""
    limits = {}
    for container in stack.containers(running=True):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        limits[service] = container["HostConfig"]["Memory"] / 2**20
    return limits


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    from devtools.processes import free_port as kernel_port

    return kernel_port()


def shipped_setting(files: list[Path]) -> tuple[int, int]:
    """The workers and threads per replica that the compose files give; empty is serve.py's."""
    config = json.loads(Stack(files, 0).compose("config", "--format", "json").stdout)
    environment = config["services"]["backend"]["environment"]
    workers, threads = (setting_value(environment, name) for name in SETTING_NAMES)
    return workers, threads


def setting_value(environment: dict, name: str) -> int:
    """A server setting as the replica reads it: unset or empty is serve.py's default."""
    return int(environment.get(name) or default(ServerSettings, name.lower()))


def plan(args, files: dict[str, list[Path]]) -> list[Entry]:
    """The stacks of this run: ours as shipped, the practice's, ours under the ALTERNATIVES."""
    shipped = shipped_setting(files["ours"])
    entries = [
        start(files["ours"], "ours", None, practice=False, shipped=True, scale=True),
        start(files["practice"], "practice-style", None, practice=True, shipped=False,
              scale=not args.quick),
    ]  # fmt: skip
    for setting in [] if args.quick else [s for s in ALTERNATIVES if s != shipped][:2]:
        label = f"ours {setting[0]}x{setting[1]}"
        entries.append(
            start(files["ours"], label, setting, practice=False, shipped=False, scale=False)
        )
    return entries


def take_down(stacks: list[Stack]) -> None:
    """Take every stack down, all at once; one that fails does not keep the others up."""

    def down(stack: Stack) -> None:
        """Take STACK down, saying so if it fails."""
        try:
            stack.down()
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"could not take {stack.name} down: {exc}")

    workers = [threading.Thread(target=down, args=(stack,)) for stack in stacks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def measure(args) -> Results:
    """Run the whole comparison that ARGS describes and return its results."""
    # The stacks come up one after another (each start-up timed alone), then all stay up while
    # the load takes turns between them; each is taken down at the end, even on failure.
    problem = engine_problem()
    if problem:
        raise RuntimeError(problem)
    STATE.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    entries = plan(args, prepare())
    try:
        for entry in entries:
            bring_up(entry)
        interleaved(entries, args, list(QUICK_ENDPOINTS if args.quick else ENDPOINTS))
        for entry in entries:
            seconds, connections = min(LOAD_MEMORY_SECONDS, 2 * args.seconds), max(args.connections)
            entry.result.memory_load = memory_under_load(entry.stack, connections, seconds)
            if entry.result.scale_measured:
                entry.result.scale_s = entry.stack.scale_to_traffic(REPLICAS + 1, SCALE_TIMEOUT_S)
    finally:
        take_down([entry.stack for entry in entries])
    for entry in entries:
        if entry.result.shipped:
            entry.result.label += f" {entry.result.workers}x{entry.result.threads} (shipped)"
    return Results(
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), args.quick, args.seconds, args.repeats,
        list(args.connections), "offline", os.cpu_count() or 0, SCALE_TIMEOUT_S,
        max(args.connections), [load_before, os.getloadavg()[0]], [e.result for e in entries],
    )  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: 1 s runs, 2 stacks")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per run (3; quick 1)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (3; quick 1)")
    parser.add_argument("--connections", type=int, nargs="+", default=None)
    parser.add_argument("--output", type=Path, help="also write the markdown sections here")
    parser.add_argument("--from-json", type=Path, help="only render saved results")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (1 if args.quick else 3)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.connections = args.connections or ([16] if args.quick else [16, 64])
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure (or load saved results), save them as JSON, write the markdown if asked."""
    args = parse_args(argv)
    if args.from_json:
        results = Results.from_json(args.from_json.read_text())
    else:
        started = time.monotonic()
        results = measure(args)
        saved = STATE / f"containers-{'quick' if args.quick else 'full'}.json"
        saved.write_text(results.to_json())
        print(f"saved {saved.relative_to(REPO)} after {time.monotonic() - started:.0f} s")
    if args.output:
        args.output.write_text(containers_report.render(results))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (RuntimeError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"error: {exc}") from None
