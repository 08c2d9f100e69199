"""The stack on Docker Swarm, deployed by swarm/deploy.sh on a single-node swarm of this engine:
the replicas alternate, scaling is followed by nginx, a rolling update costs no request, an
update to an image that never becomes healthy rolls back by itself, a killed task is replaced,
the data survives a database task restart, and teardown leaves nothing.

Skipped, visibly, without a Docker engine. The swarm is created if this engine is not in one,
and left again at the end. Traffic goes only to the webserver's published port on 127.0.0.1.
"""

import contextlib
import json
import os
import subprocess
import threading
import time

import pytest
import requests

from devtools.compose import choose_mode, docker, remove_stack, run
from devtools.figures import save
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token
from tests.docker_engine import skip_without_engine
from tests.stack_helpers import SUITE_DOOR_ENV, container_secrets, served_by, stream, wait_for

pytestmark = pytest.mark.containers

skip_without_engine()

STACK = "vdt_swarm_test"
BACKEND = f"{STACK}_backend"
FIGURES: dict = {}
BACKEND_IMAGE = "vdt2023.invalid/backend:latest"


@pytest.fixture(scope="module", autouse=True)
def figures(pytestconfig):
    """Print the suite's figures and save them (test-artifacts/swarm.json)."""
    yield FIGURES
    save(pytestconfig, "swarm", FIGURES)


def _swarm_state() -> str:
    """This engine's swarm state: inactive, active, ..."""
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def _stack_leftovers() -> dict:
    """Services, containers, networks, secrets and volumes of the test stack still present."""
    label = f"label=com.docker.stack.namespace={STACK}"
    found = {
        "services": docker("service", "ls", "-q", "--filter", label, check=False).stdout.split(),
        "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
        "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
        "secrets": docker("secret", "ls", "-q", "--filter", label, check=False).stdout.split(),
        "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
    }
    return {kind: ids for kind, ids in found.items() if ids}


# The first admin's API token on the deployed stack (set by the swarm fixture).
TOKEN = [""]


def _authorization() -> dict[str, str]:
    """The Authorization header of the swarm's first admin."""
    return {"Authorization": f"Bearer {TOKEN[0]}"}


@pytest.fixture(scope="module")
def swarm(tmp_path_factory, pytestconfig):
    """The stack deployed by swarm/deploy.sh on this engine's swarm (made if there is none)."""
    created = _swarm_state() != "active"
    if created:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", timeout=60)
    port = free_port()
    secrets = container_secrets(tmp_path_factory.mktemp("swarm-secrets"))
    env = {
        **os.environ,
        **SUITE_DOOR_ENV,
        "STACK": STACK,
        "HTTP_PORT": str(free_port()),
        "HTTPS_PORT": str(port),
        "SECRETS_DIR": str(secrets),
        "OFFLINE": "1" if choose_mode().offline else "",
    }
    started = time.monotonic()
    try:
        run(["swarm/deploy.sh"], timeout=900, env=env)
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/readyz", timeout=5).ok:
                    break
            time.sleep(1)
        FIGURES["swarm: deploy until the API answers"] = {
            "seconds": round(time.monotonic() - started, 1)
        }
        # The first admin, from the secret that swarm passed to the replicas.
        password = (secrets / "admin_password").read_text().strip()
        TOKEN[0] = api_token(url, ADMIN, password, name="swarm suite")
        yield url
    finally:
        remove_stack(STACK)
        if created:
            docker("swarm", "leave", "--force", timeout=60, check=False)


def _derived_image(tag: str, *lines: str) -> str:
    """An image FROM the backend's with LINES added (a new image id), tagged TAG."""
    image = f"vdt2023.invalid/backend:{tag}"
    dockerfile = "\n".join([f"FROM {BACKEND_IMAGE}", f'LABEL swarm-test="{tag}"', *lines])
    subprocess.run(
        ["docker", "build", "-q", "-t", image, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return image


def _service(name: str) -> dict:
    """docker service inspect NAME."""
    return json.loads(docker("service", "inspect", name).stdout)[0]


def _under_load(url: str, action) -> tuple[list[int], object]:
    """Run ACTION while a client sends GETs to URL; return every status and ACTION's result."""
    statuses: list[int] = []
    stop = threading.Event()
    reader = threading.Thread(
        target=stream, args=(url, statuses, stop), kwargs={"timeout": 10, "token": TOKEN[0]}
    )
    reader.start()
    try:
        wait_for(statuses, 20)
        result = action()
        wait_for(statuses, len(statuses) + 20)
    finally:
        stop.set()
        reader.join(30)
    return statuses, result


def test_replicas_alternate(swarm):
    """Two backend tasks behind nginx: 20 GETs are split between both.

    The deploy fixture waits until the API answers, which one task suffices for; the second
    task joins nginx's upstream when it is healthy, so that is waited for first (bounded).
    """
    with requests.Session() as http:
        deadline = time.monotonic() + 60
        while len(served_by(http, f"{swarm}/api/whoami", 10)) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        seen = served_by(http, f"{swarm}/api/whoami", 20)
    assert len(seen) == 2 and min(seen.values()) >= 8, seen


def test_scale_to_5_is_followed_by_nginx(swarm):
    """docker service scale backend=5: nginx sends requests to all 5 within seconds."""
    started = time.monotonic()
    docker("service", "scale", "--detach", f"{BACKEND}=5")
    names: set[str] = set()
    with requests.Session() as http:
        while len(names) < 5 and time.monotonic() - started < 90:
            names |= set(served_by(http, f"{swarm}/api/whoami", 10))
            time.sleep(0.2)
    FIGURES["swarm: scale 2 -> 5 until nginx uses all 5"] = {
        "seconds": round(time.monotonic() - started, 1)
    }
    docker("service", "scale", f"{BACKEND}=2", timeout=120)
    assert len(names) == 5, names


def test_rolling_update_under_load_fails_no_request(swarm):
    """A start-first rolling update to a new image while a client reads: 0 failed requests."""
    image = _derived_image("swarm-v2")
    started = time.monotonic()
    statuses, _ = _under_load(
        f"{swarm}/api/attendees?per_page=5",
        lambda: docker(
            "service", "update", "--no-resolve-image", "--image", image, BACKEND, timeout=300
        ),
    )
    FIGURES["swarm: rolling update under load"] = {
        "gets": len(statuses),
        "failed": sum(not 200 <= s < 300 for s in statuses),
        "seconds": round(time.monotonic() - started, 1),
    }
    assert [s for s in statuses if not 200 <= s < 300] == []
    spec = _service(BACKEND)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert spec.startswith(image)


def test_update_to_an_image_that_never_becomes_healthy_rolls_back(swarm):
    """An image whose healthcheck always fails: the update rolls back by itself, 0 failures."""
    before = _service(BACKEND)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    broken = _derived_image("swarm-broken", "HEALTHCHECK --interval=1s --retries=2 CMD false")
    started = time.monotonic()
    statuses, _ = _under_load(
        f"{swarm}/api/attendees?per_page=5",
        lambda: docker(
            "service",
            "update",
            "--no-resolve-image",
            "--image",
            broken,
            BACKEND,
            timeout=300,
            check=False,
        ),
    )
    service = _service(BACKEND)
    FIGURES["swarm: update to an unhealthy image, rolled back"] = {
        "gets": len(statuses),
        "failed": sum(not 200 <= s < 300 for s in statuses),
        "seconds": round(time.monotonic() - started, 1),
        "state": service.get("UpdateStatus", {}).get("State"),
    }
    assert service["UpdateStatus"]["State"] == "rollback_completed", service.get("UpdateStatus")
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == before
    assert [s for s in statuses if not 200 <= s < 300] == []


def test_a_killed_task_is_replaced(swarm):
    """docker kill of one backend task's container: swarm starts another; 2 replicas serve."""
    label = f"label=com.docker.swarm.service.name={BACKEND}"
    victim = docker("ps", "-q", "--filter", label).stdout.split()[0]
    docker("kill", victim)
    deadline = time.monotonic() + 60
    running: list[str] = []
    while time.monotonic() < deadline:
        running = docker("ps", "-q", "--filter", label).stdout.split()
        if len(running) == 2 and victim not in running:
            break
        time.sleep(1)
    assert len(running) == 2 and victim not in running, running
    with requests.Session() as http:
        wait_deadline = time.monotonic() + 30
        names: set[str] = set()
        while len(names) < 2 and time.monotonic() < wait_deadline:
            names |= set(served_by(http, f"{swarm}/api/whoami", 6))
    assert len(names) == 2


def test_data_survives_a_database_task_restart(swarm):
    """An attendee created before `docker service update --force database` is there after it."""
    body = {
        "full_name": "Swarm Tester",
        "email": f"swarm.{time.time_ns()}@example.org",
        "year_of_birth": 1999,
        "gender": "other",
        "university": "Overlay University",
        "major": "Orchestration",
    }
    created = requests.post(
        f"{swarm}/api/attendees", json=body, headers=_authorization(), timeout=10
    )
    assert created.status_code == 201, created.text
    docker("service", "update", "--force", f"{STACK}_database", timeout=180)
    url = f"{swarm}{created.headers['Location']}"
    deadline = time.monotonic() + 90
    answer = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            answer = requests.get(url, headers=_authorization(), timeout=5)
            if answer.status_code == 200:
                break
        time.sleep(1)
    assert answer is not None and answer.status_code == 200
    assert answer.json()["email"] == body["email"]


def test_teardown_leaves_nothing(swarm):
    """docker stack rm (and its volume): no service, container, network, secret or volume left."""
    remove_stack(STACK)
    assert _stack_leftovers() == {}
