"""The stack as containers, built and run by compose: balancing, scaling, failover, persistence,
isolation, hardening, teardown, and the image report (docs/images.md).

Skipped, visibly, without a Docker engine. Builds from the official images when they can be had,
else in the offline mode (local base images + nx-27017, compose.offline.yaml); the mode is
printed. Traffic goes only to the webserver's published port on 127.0.0.1.
"""

import contextlib
import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time

import pytest
import requests

from attendee_directory.seed import sample_attendees
from devtools import figures
from devtools.compose import (
    SERVICE_LABEL,
    ComposeProject,
    choose_mode,
    compose_command,
    copy_under_umask_077,
    docker,
    ensure_offline_base_images,
    image_ids,
    readme_command,
    remove_replaced,
    stack_project,
)
from devtools.generators.image_report import build, measure
from devtools.paths import ARTIFACTS
from devtools.processes import free_port, port_open
from devtools.signin import ADMIN, api_token, token_session
from nginx_config import CONTAINER_WORKER_PROCESSES
from tests.docker_engine import skip_without_engine
from tests.stack_helpers import SUITE_DOOR_ENV, container_secrets, served_by, stream, wait_for

pytestmark = pytest.mark.containers

skip_without_engine()

REPLICAS = 3
STARTED: list[float] = []  # when the suite's first fixture ran


def say(config, line: str) -> None:
    """Print LINE in the test report as one of the container suite's lines."""
    figures.say(config, "containers", line)


def failed_upstream_log(project: ComposeProject) -> str:
    """nginx's log lines about failed upstream tries, for an assertion message."""
    (webserver,) = project.containers("webserver")
    logs = docker("logs", "--tail", "400", webserver["Id"])
    lines = logs.stderr.splitlines() + logs.stdout.splitlines()
    return "\n".join(line for line in lines if " 200 " not in line and "[warn]" not in line)[-4000:]


@pytest.fixture(scope="module")
def mode(pytestconfig):
    """Registry or offline mode, said out loud; the offline base images are built if missing."""
    STARTED.append(time.monotonic())
    chosen = choose_mode()
    say(
        pytestconfig, f"build mode: {chosen.name} ({chosen.why}); files: {' + '.join(chosen.files)}"
    )
    if chosen.offline:
        started = time.monotonic()
        ensure_offline_base_images()
        say(pytestconfig, f"offline base images ready in {time.monotonic() - started:.0f} s")
    return chosen


@pytest.fixture(scope="module")
def mongo_port_was_free():
    """Whether 127.0.0.1:27017 was free before the stack came up (then it must stay free)."""
    return not port_open(27017)


@pytest.fixture(scope="module")
def project(mode, tmp_path_factory, pytestconfig, mongo_port_was_free):
    """The stack built from a checkout written under umask 077 with the README's command
    verbatim (compose v2), then scaled to 3 replicas; its own secrets, a free port; removed
    afterwards."""
    secrets_dir = container_secrets(tmp_path_factory.mktemp("secrets"))
    checkout = copy_under_umask_077(tmp_path_factory.mktemp("umask077") / "vdt2023")
    stack = stack_project(mode, secrets_dir, free_port(), root=checkout)
    stack.extra_env.update(SUITE_DOOR_ENV)
    command = readme_command()
    say(pytestconfig, f"project {stack.name} on {stack.url}, from a umask 077 checkout")
    say(pytestconfig, f"README command: {shlex.join(command)}; COMPOSE_FILE={':'.join(mode.files)}")
    ours = [stack.image(name) for name in ("backend", "webserver", "database-standin")]
    previous = image_ids(ours)
    try:
        started = time.monotonic()
        stack.verbatim(command)
        up = time.monotonic()
        remove_replaced(previous, ours)
        stack.wait_healthy({"webserver": 1, "backend": 2, "database": 1}, timeout=180)
        healthy = time.monotonic()
        stack.compose("up", "-d", "--no-recreate", "--scale", f"backend={REPLICAS}", timeout=300)
        stack.wait_healthy({"webserver": 1, "backend": REPLICAS, "database": 1}, timeout=120)
        say(
            pytestconfig,
            f"README command returned after {up - started:.0f} s (build included); all healthy "
            f"{healthy - up:.0f} s later",
        )
        yield stack
    finally:
        stack.down()
        say(pytestconfig, f"container suite: {time.monotonic() - STARTED[0]:.0f} s in all")


def healthy_replicas(project: ComposeProject, replicas: int = REPLICAS) -> list[dict]:
    """PROJECT with REPLICAS healthy backends, its webserver and database, whatever an earlier
    test left (scaled, killed, paused and restarted, brought down); the backends' inspect data.
    Nothing is changed when the stack is already so."""
    expected = {"webserver": 1, "backend": replicas, "database": 1}
    ready, found, _ = project.health(expected)
    if not ready:
        # compose refuses to go on while a replica it depends on is unhealthy (one that was
        # paused, or ended by its healthcheck and restarting): retry until it recovers.
        scale = ("up", "-d", "--no-recreate", "--scale", f"backend={replicas}")
        deadline = time.monotonic() + 120
        while project.compose(*scale, timeout=300, check=False).returncode != 0:
            if time.monotonic() > deadline:
                project.compose(*scale, timeout=300)  # raises with compose's output
            time.sleep(5)
        found = project.wait_healthy(expected, 120)
    return [c for c in found if c["Config"]["Labels"][SERVICE_LABEL] == "backend"]


@pytest.fixture(scope="module")
def token(project) -> str:
    """An API token of the first admin's, whose password scripts/make-secrets.sh wrote."""
    return api_token(project.url, ADMIN, project.admin_password(), name="container suite")


@pytest.fixture
def api(token):
    """A requests session that acts as the first admin (its API token)."""
    with token_session(token) as session:
        yield session


@pytest.fixture
def stack(project):
    """The project as the README's command plus `--scale backend=3` leaves it, set up again for
    each test that needs it: no test depends on what another one did before it."""
    healthy_replicas(project)
    return project


def hostnames(project: ComposeProject, service: str) -> set[str]:
    """The hostnames (X-Served-By names) of a service's running containers."""
    return {c["Config"]["Hostname"] for c in project.containers(service) if c["State"]["Running"]}


def test_30_gets_reach_all_3_replicas_10_each(stack):
    """Round robin over 3 replicas: 30 GETs give each 10 ± 1."""
    with requests.Session() as session:
        seen = served_by(session, f"{stack.url}/api/whoami", 30)
    assert set(seen) == hostnames(stack, "backend"), seen
    assert all(9 <= n <= 11 for n in seen.values()), seen


def test_every_container_is_non_root_read_only_and_confined(stack):
    """Non-root, read-only root fs, no capabilities, no-new-privileges, limits, log rotation."""
    for container in stack.containers():
        name, host = container["Name"], container["HostConfig"]
        uid = docker("exec", container["Id"], "id", "-u").stdout.strip()
        assert uid != "0", f"{name} runs as root"
        assert host["ReadonlyRootfs"] is True, name
        probe = docker("exec", container["Id"], "touch", "/.write-probe", check=False)
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr, name
        assert host["CapDrop"] == ["ALL"], name
        assert "no-new-privileges:true" in host["SecurityOpt"], name
        assert host["Memory"] > 0 and host["PidsLimit"] > 0, name
        assert host["LogConfig"]["Config"].get("max-size"), name
        assert host["RestartPolicy"]["Name"] == "unless-stopped", name


def test_only_the_webserver_publishes_and_the_database_is_out_of_reach(stack, mongo_port_was_free):
    """Only 127.0.0.1:HTTPS_PORT and HTTP_PORT are published, by the webserver; the webserver
    cannot even resolve the database."""
    published = {
        (c["Config"]["Labels"]["com.docker.compose.service"], port): bindings
        for c in stack.containers()
        for port, bindings in c["NetworkSettings"]["Ports"].items()
        if bindings
    }
    assert published == {
        ("webserver", "8443/tcp"): [{"HostIp": "127.0.0.1", "HostPort": str(stack.https_port)}],
        ("webserver", "8080/tcp"): [{"HostIp": "127.0.0.1", "HostPort": str(stack.http_port)}],
    }
    if mongo_port_was_free:
        assert not port_open(27017), "something answers on 127.0.0.1:27017"
    back = f"{stack.name}_back"
    assert docker("network", "inspect", "-f", "{{.Internal}}", back).stdout.strip() == "true"
    (database,) = stack.containers("database")
    assert set(database["NetworkSettings"]["Networks"]) == {back}
    (webserver,) = stack.containers("webserver")
    assert back not in webserver["NetworkSettings"]["Networks"]
    attempt = docker(
        "exec", webserver["Id"], "wget", "-q", "-T", "3", "-O", "/dev/null",
        "http://database:27017/", check=False,
    )  # fmt: skip
    assert attempt.returncode != 0, "the webserver reached the database"


# Connects to ADDRESS:PORT and says how that went: "answered" (accepted or refused: a route
# reached a host that answered) or "no route" (unreachable, or no answer within 3 s).
REACH_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("answered")
except ConnectionRefusedError:
    print("answered")
except OSError:
    print("no route")
"""


def test_the_backend_has_no_route_out(stack):
    """Every replica is on internal networks only, so nothing it sends leaves them: the
    webserver's address on `edge` (the network with a route out; nginx listens there) answers
    a container of the backend's image on `edge` (so the probe can tell), and no replica."""
    replicas = stack.containers("backend", running=True)
    assert replicas
    edge = f"{stack.name}_edge"
    (webserver,) = stack.containers("webserver")
    beyond = webserver["NetworkSettings"]["Networks"][edge]["IPAddress"]
    control = docker(
        "run", "--rm", "--network", edge, "--entrypoint", "python3", stack.image("backend"),
        "-c", REACH_PROBE, beyond, "8443", timeout=60,
    )  # fmt: skip
    assert control.stdout.strip() == "answered", control.stdout
    for replica in replicas:
        networks = replica["NetworkSettings"]["Networks"]
        internal = {
            name: docker("network", "inspect", "-f", "{{.Internal}}", name).stdout.strip()
            for name in networks
        }
        assert set(internal.values()) == {"true"}, internal
        probe = docker(
            "exec", replica["Id"], "python3", "-c", REACH_PROBE, beyond, "8443", timeout=30
        )
        assert probe.stdout.strip() == "no route", (replica["Name"], probe.stdout)


def test_scale_to_5_without_recreate_gets_traffic_within_10_s(stack, pytestconfig):
    """--scale backend=5 --no-recreate: the new replicas answer within 10 s; nginx stays as is."""
    (before,) = stack.containers("webserver")
    issued = time.monotonic()
    stack.compose("up", "-d", "--no-recreate", "--scale", "backend=5")
    returned = time.monotonic()
    replicas = hostnames(stack, "backend")
    assert len(replicas) == 5
    seen: set[str] = set()
    with requests.Session() as session:
        while seen != replicas and time.monotonic() - returned < 10:
            response = session.get(f"{stack.url}/api/whoami", timeout=10)
            if response.status_code == 200:
                seen.add(response.headers["X-Served-By"])
            time.sleep(0.02)
    all_seen = time.monotonic()
    assert seen == replicas, f"{len(seen)} of 5 replicas answered within 10 s"
    (after,) = stack.containers("webserver")
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert after["RestartCount"] == 0
    say(
        pytestconfig,
        f"scale 3 -> 5: `up` took {returned - issued:.1f} s, all 5 answered "
        f"{all_seen - returned:.1f} s after it returned",
    )


def test_scale_back_to_2_during_a_stream_of_gets_fails_none(stack, token, pytestconfig):
    """--scale backend=2 while GETs stream: every GET answers 2xx, then only 2 replicas answer."""
    healthy_replicas(stack, 5)
    statuses: list[int] = []
    stop = threading.Event()
    url = f"{stack.url}/api/attendees?per_page=5"
    reader = threading.Thread(target=stream, args=(url, statuses, stop), kwargs={"token": token})
    reader.start()
    try:
        wait_for(statuses, 20)
        stack.compose("up", "-d", "--no-recreate", "--scale", "backend=2")
        time.sleep(3)  # keep streaming past nginx's next look-up of "backend" (valid=2s)
    finally:
        stop.set()
        reader.join(30)
    bad = [status for status in statuses if not 200 <= status < 300]
    assert bad == [], f"{len(bad)} of {len(statuses)} GETs failed\n{failed_upstream_log(stack)}"
    with requests.Session() as session:
        seen = served_by(session, f"{stack.url}/api/whoami", 10)
    assert set(seen) == hostnames(stack, "backend") and len(seen) == 2, seen
    say(pytestconfig, f"scale 5 -> 2: {len(statuses)} GETs during the scale-down, none failed")


def test_docker_kill_of_a_replica_during_200_gets_loses_none(stack, token):
    """`docker kill` one replica while 200 GETs stream: all 200 answer 2xx."""
    statuses: list[int] = []
    stop = threading.Event()
    url = f"{stack.url}/api/attendees?per_page=5"
    reader = threading.Thread(
        target=stream, args=(url, statuses, stop, 200), kwargs={"token": token}
    )
    reader.start()
    try:
        wait_for(statuses, 50)
        victim = stack.containers("backend")[0]
        docker("kill", victim["Id"])
        reader.join(120)
    finally:
        stop.set()
        reader.join(30)
    assert len(statuses) == 200
    bad = [status for status in statuses if not 200 <= status < 300]
    assert bad == [], (
        f"{len(bad)} failed GETs after killing {victim['Name']}\n{failed_upstream_log(stack)}"
    )


def container_pids(container_id: str) -> list[int]:
    """The host pids of a container's processes."""
    lines = docker("top", container_id, "-o", "pid").stdout.split()
    return [int(word) for word in lines if word.isdigit()]


def test_a_stuck_replica_is_ended_by_its_healthcheck_and_restarted(project, pytestconfig):
    """Every process of one replica stopped (SIGSTOP: stuck, not dead): its healthcheck sees
    /healthz time out 3 times, ends it, and `restart: unless-stopped` brings it back healthy."""
    if os.geteuid() != 0:
        pytest.skip("stopping a container's processes from the host needs root")
    victim = healthy_replicas(project)[0]
    restarts = victim["RestartCount"]
    started = time.monotonic()
    for pid in container_pids(victim["Id"]):
        os.kill(pid, signal.SIGSTOP)
    deadline = started + 90
    state = {}
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", victim["Id"]).stdout)[0]
        health = state["State"].get("Health", {}).get("Status")
        if state["RestartCount"] > restarts and health == "healthy":
            break
        time.sleep(1)
    else:
        for pid in container_pids(victim["Id"]):
            os.kill(pid, signal.SIGCONT)  # leave no stopped process behind
        log = state.get("State", {}).get("Health", {}).get("Log", [])[-3:]
        pytest.fail(f"not restarted and healthy within 90 s: {state.get('RestartCount')} {log}")
    say(pytestconfig, f"stuck replica restarted and healthy {time.monotonic() - started:.0f} s on")


def test_reads_keep_working_with_one_of_3_replicas_paused(project, api, pytestconfig):
    """`docker pause` (a cgroup-frozen replica, which no probe can act on): 10 s of sequential
    GETs through nginx all answer 2xx, none slower than 3 s (nginx retries reads elsewhere)."""
    victim = healthy_replicas(project)[0]
    docker("pause", victim["Id"])
    latencies, statuses = [], []
    try:
        with api as session:
            end = time.monotonic() + 10
            while time.monotonic() < end:
                sent = time.monotonic()
                try:
                    status = session.get(f"{project.url}/api/attendees?per_page=5", timeout=10)
                    statuses.append(status.status_code)
                except requests.RequestException:
                    statuses.append(0)
                latencies.append(time.monotonic() - sent)
    finally:
        docker("unpause", victim["Id"])
    bad = [status for status in statuses if not 200 <= status < 300]
    assert bad == [], f"{len(bad)} of {len(statuses)} GETs failed\n{failed_upstream_log(project)}"
    assert max(latencies) < 3, max(latencies)
    say(pytestconfig, f"one replica paused: {len(statuses)} GETs, slowest {max(latencies):.2f} s")


def test_an_attendee_created_before_down_is_there_after_up(stack, api):
    """`down` (without -v) then `up`: the named volume keeps the data."""
    body = {
        "full_name": "Volume Keeper",
        "email": f"keeper-{time.time_ns()}@example.edu",
        "year_of_birth": 2001,
        "gender": "other",
        "university": "PTIT",
        "major": "Cloud",
    }
    created = api.post(f"{stack.url}/api/attendees", json=body, timeout=10)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    stack.compose("down")
    assert stack.containers() == []
    stack.compose("up", "-d", "--scale", "backend=2")
    stack.wait_healthy({"webserver": 1, "backend": 2, "database": 1}, timeout=120)
    found = api.get(f"{stack.url}{location}", timeout=10)
    assert found.status_code == 200, found.text
    assert found.json()["email"] == body["email"]


def test_the_documented_reseed_command_brings_a_deleted_sample_back(stack, api):
    """docs/operations.md's `docker compose run --rm backend python -m attendee_directory seed`
    adds a deleted sample attendee again and says how many it added."""
    sample = sample_attendees()[0]
    found = api.get(f"{stack.url}/api/attendees", params={"q": sample["full_name"]}, timeout=10)
    [ours] = [item for item in found.json()["items"] if item["email"] == sample["email"]]
    gone = api.delete(f"{stack.url}/api/attendees/{ours['id']}", timeout=10)
    assert gone.status_code == 204, gone.text
    seeded = stack.compose("run", "--rm", "backend", "python", "-m", "attendee_directory", "seed")
    match = re.search(r"(\d+) attendees added, (\d+) already there", seeded.stdout)
    assert match, seeded.stdout + seeded.stderr
    added, kept = map(int, match.groups())
    assert added >= 1 and added + kept == len(sample_attendees())
    again = api.get(f"{stack.url}/api/attendees", params={"q": sample["full_name"]}, timeout=10)
    assert sample["email"] in [item["email"] for item in again.json()["items"]]


def test_the_users_command_manages_accounts_in_the_container(stack, api):
    """docs' `docker compose exec backend python -m attendee_directory users ...`: create an
    editor from standard input, who can then sign in and write; list shows the admin too."""
    exec_users = ("exec", "-T", "backend", "python", "-m", "attendee_directory", "users")
    name = f"editor{time.time_ns() % 10**6}"
    made = stack.compose(*exec_users, "create", name, "--role", "editor", stdin="an editor pw 1\n")
    assert f"{name}\teditor" in made.stdout, made.stdout + made.stderr
    listed = stack.compose(*exec_users, "list").stdout
    assert "admin\tadmin" in listed and name in listed
    token = api_token(stack.url, name, "an editor pw 1")
    with token_session(token) as editor:
        assert editor.get(f"{stack.url}/api/session", timeout=10).json()["user"]["role"] == "editor"


def test_compose_refuses_to_start_without_the_secrets(project, mode, tmp_path):
    """With no secrets files, compose creates no container (no default password to fall back on)."""
    empty = stack_project(mode, tmp_path / "no-secrets", free_port())
    try:
        attempt = empty.compose("up", "-d", "--no-build", "database", check=False, timeout=120)
        assert attempt.returncode != 0
        assert [c["Name"] for c in empty.containers() if c["State"]["Running"]] == []
    finally:
        empty.down()
    assert empty.leftovers() == {"containers": [], "networks": [], "volumes": []}


def test_a_umask_077_checkout_serves_the_ui_and_ships_readable_init_scripts(stack, mode):
    """Built from files that only their owner could read: nginx (uid 101) serves the UI, and
    MongoDB's uid 999 can read the init script and run the healthcheck in the database image."""
    page = requests.get(f"{stack.url}/", timeout=10)
    assert page.status_code == 200, page.text[:300]
    assert "<html" in page.text.lower()
    assert (stack.root / "database/image/init/create-app-user.sh").stat().st_mode & 0o077 == 0
    # The real database image, on the offline Python base when mongo:8.0 cannot be had.
    image = f"{stack.image('database')}-modes"
    args = {"MONGO_IMAGE": mode.python_image} if mode.offline else {}
    build(stack.root / "database", image, args, mode.offline)
    try:
        check = (
            "cat /docker-entrypoint-initdb.d/create-app-user.sh >/dev/null"
            " && test -x /usr/local/bin/app-user-can-log-in.sh"
        )
        as_mongodb = ("run", "--rm", "--user", "999:999", "--entrypoint", "sh", image, "-c", check)
        result = docker(*as_mongodb, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        docker("rmi", image, check=False)


def test_webserver_runs_the_bounded_number_of_nginx_workers(stack):
    """CONTAINER_WORKER_PROCESSES workers, not one per host CPU (`auto`)."""
    (webserver,) = stack.containers("webserver")
    processes = docker("top", webserver["Id"], "-o", "pid,args").stdout.splitlines()
    workers = [line for line in processes if "nginx: worker process" in line]
    assert len(workers) == CONTAINER_WORKER_PROCESSES, processes


def webserver_env(project: ComposeProject, settings: dict[str, str]) -> None:
    """Recreate the webserver of the running PROJECT with SETTINGS in its environment, as a
    user does (`SETTING=... docker compose up -d`): no build, the replicas left as they are."""
    project.extra_env.update(settings)
    project.compose("up", "-d", "--no-build", "--no-deps", "webserver", timeout=180)


def restore_webserver(project: ComposeProject, settings: dict[str, str]) -> None:
    """The suite's own front door again (SUITE_DOOR_ENV) in place of SETTINGS, healthy."""
    for name in settings:
        project.extra_env.pop(name, None)
    project.extra_env.update(SUITE_DOOR_ENV)
    project.compose("up", "-d", "--no-build", "--no-deps", "webserver", timeout=180)
    project.wait_healthy({"webserver": 1}, timeout=120)


def test_up_d_with_new_settings_changes_the_front_door_without_a_build(stack, pytestconfig):
    """SERVER_NAMES and READ_RATE changed for the running stack by `up -d` alone: the same
    image (not rebuilt) renders them at start, so the old name gets a 421 and reads beyond the
    new rate get a 429."""
    url = f"{stack.url}/api/whoami"
    assert requests.get(url, headers={"Host": "localhost"}, timeout=10).status_code == 200
    (before,) = stack.containers("webserver")
    settings = {"SERVER_NAMES": "vdt.test, 127.0.0.1", "READ_RATE": "1r/s", "READ_BURST": "2"}
    began = time.monotonic()
    try:
        webserver_env(stack, settings)
        stack.wait_healthy({"webserver": 1}, timeout=120)
        (after,) = stack.containers("webserver")
        say(pytestconfig, f"webserver recreated with new settings, healthy in "
            f"{time.monotonic() - began:.1f} s (no build)")  # fmt: skip
        assert after["Id"] != before["Id"] and after["Image"] == before["Image"]
        refused = requests.get(url, headers={"Host": "localhost"}, timeout=10)
        assert refused.status_code == 421, refused.text
        assert refused.json()["error"] == "misdirected_request"
        statuses = [requests.get(url, timeout=10).status_code for _ in range(8)]
        assert 429 in statuses and statuses.count(200) <= 4, statuses
    finally:
        restore_webserver(stack, settings)
    assert requests.get(url, headers={"Host": "localhost"}, timeout=10).status_code == 200


def test_a_bad_setting_stops_the_webserver_naming_it(stack):
    """READ_RATE=fast: the webserver's container exits at start, before nginx runs, and its log
    names the variable and the value; the previous settings come back with `up -d`."""
    settings = {"READ_RATE": "fast"}
    try:
        webserver_env(stack, settings)
        deadline = time.monotonic() + 60
        while True:
            (webserver,) = stack.containers("webserver")
            logs = docker("logs", webserver["Id"], check=False)
            if "READ_RATE" in logs.stderr + logs.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        output = logs.stderr + logs.stdout
        assert "refusing to start nginx: READ_RATE must look like 50r/s or 600r/m, got 'fast'" in (
            output
        ), output
        assert "nginx: master process" not in docker("top", webserver["Id"], check=False).stdout
        assert webserver["State"]["ExitCode"] == 1 or webserver["State"]["Restarting"], webserver[
            "State"
        ]
    finally:
        restore_webserver(stack, settings)


def _edit(path, old: str, new: str) -> str:
    """Replace OLD (once) with NEW in PATH, readable by the containers' users as a file saved
    under the usual umask is (this checkout was written under umask 077); the old text."""
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))
    path.chmod(0o644)
    return text


def _poll_for(url: str, text: str, timeout: float) -> float | None:
    """Seconds until a GET of URL answers 200 with TEXT in it, or None after TIMEOUT; bounded
    in count too (a request every 0.25 s at most)."""
    began = time.monotonic()
    for _ in range(int(timeout * 4)):
        with contextlib.suppress(requests.RequestException):
            response = requests.get(url, timeout=5)
            if response.status_code == 200 and text in response.text:
                return time.monotonic() - began
        if time.monotonic() - began > timeout:
            return None
        time.sleep(0.25)
    return None


def test_compose_watch_syncs_the_ui_and_the_backend(project, pytestconfig):
    """`docker compose -f ... -f compose.dev.yaml watch` on the running stack: an edited page
    of the UI is served by nginx, and an edited string of the backend package is answered
    through nginx after watch restarts the replicas, each within seconds; the edits are made in
    the suite's copy of the checkout, and undone before the stack is put back as it was."""
    dev = dataclasses.replace(project, files=(*project.files, "compose.dev.yaml"))
    page = project.root / "webserver" / "ui" / "index.html"
    health = project.root / "backend" / "attendee_directory" / "health.py"
    originals = {page: page.read_text(), health: health.read_text()}
    modes = {path: path.stat().st_mode for path in originals}
    dev.compose("up", "-d", "--no-build", "--scale", f"backend={REPLICAS}", timeout=300)
    dev.wait_healthy({"webserver": 1, "backend": REPLICAS, "database": 1}, timeout=180)
    files = [arg for name in dev.files for arg in ("-f", str(dev.root / name))]
    watch = subprocess.Popen(
        [*compose_command(), "-p", dev.name, *files, "watch", "--no-up"],
        cwd=dev.root,
        env=dev.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)  # watch reports nothing machine-readable when it has begun watching
        assert watch.poll() is None, watch.communicate(timeout=10)[0]
        _edit(page, "<title>VDT 2023 attendee directory</title>", "<title>Watched UI</title>")
        ui_seconds = _poll_for(f"{project.url}/", "<title>Watched UI</title>", 30)
        _edit(health, 'jsonify(status="ok")', 'jsonify(status="ok-watched")')
        backend_seconds = _poll_for(f"{project.url}/healthz", "ok-watched", 120)
        say(pytestconfig, f"compose watch: UI edit served after {ui_seconds} s, backend edit "
            f"after {backend_seconds} s")  # fmt: skip
        assert ui_seconds is not None and backend_seconds is not None
    finally:
        watch.terminate()
        try:
            output = watch.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            watch.kill()
            output = watch.communicate(timeout=10)[0]
        for path, text in originals.items():
            path.write_text(text)
            path.chmod(modes[path])
        project.compose("up", "-d", "--no-build", "--scale", f"backend={REPLICAS}", timeout=300)
        healthy_replicas(project)
    print(output[-3000:])


def test_backend_image_has_no_build_tools(project):
    """The runtime image has the venv and the app, but no pip, no compiler, no setuptools."""
    script = (
        "test ! -e /venv/bin/pip && ! command -v gcc && ! command -v cc && "
        "! python3 -c 'import setuptools' 2>/dev/null && test -d /app/lib/attendee_directory"
    )
    image = project.image("backend")
    result = docker("run", "--rm", "--entrypoint", "sh", image, "-c", script, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_report(project, mode, pytestconfig):
    """Sizes, size on top of the base and rebuild times, next to the practice-style image: our
    rebuild is faster, the runtime stage drops build leftovers, .dockerignore shrinks contexts.
    The report goes to test-artifacts/ (`make image-report` writes docs/images.md)."""
    report, figures = measure(project, mode)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "images.md").write_text(report)
    for line in report.splitlines():
        say(pytestconfig, line)
    ours, theirs = figures["rebuild_seconds"]
    stages, contexts = figures["stages"], figures["contexts"]
    assert ours < theirs, (ours, theirs)
    assert stages["runtime"] < stages["deps"] + stages["app"], stages
    assert all(kept < without for kept, without in contexts.values()), contexts


def test_teardown_leaves_nothing_behind(project, mode):
    """`down -v --remove-orphans` removes every container, network and volume that `up` made,
    anonymous volumes included: checked on a project of its own, started from the images the
    suite built (other projects on a shared engine may create volumes meanwhile)."""
    own = stack_project(mode, project.secrets_dir, free_port(), root=project.root)
    try:
        own.compose("up", "-d", "--no-build", "--scale", "backend=2", timeout=300)
        found = own.wait_healthy({"webserver": 1, "backend": 2, "database": 1}, timeout=120)
        mounted = {
            mount["Name"]
            for container in found
            for mount in container["Mounts"]
            if mount["Type"] == "volume"
        }
        assert mounted, "up made no volume to remove"
    finally:
        own.down()
    assert own.leftovers() == {"containers": [], "networks": [], "volumes": []}
    remaining = set(docker("volume", "ls", "-q").stdout.split())
    assert mounted & remaining == set(), mounted & remaining
