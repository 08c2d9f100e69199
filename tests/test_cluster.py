"""The stack on a Docker Swarm of three nodes on this machine (devtools/cluster.py: this engine as
the manager, two more engines in network namespaces of their own as workers, Debian's
docker-registry on the manager's address), deployed by `swarm/deploy.sh REGISTRY/PREFIX` as a
user deploys it: replicas on every node answer through nginx; a worker drained under load, a
rolling update across the nodes and a worker lost outright (its engine and every process
killed, its link cut) cost no read; the data survives; the release script pushes to the
cluster's registry; teardown leaves nothing.

Skipped, visibly, without a Docker engine or where namespaces and more engines cannot be made.
Traffic from the suite goes only to 127.0.0.1 (the webserver's ports on the manager, the
registry's API); the nodes talk to each other over their own bridge.
"""

import collections
import contextlib
import json
import os
import statistics
import threading
import time

import pytest
import requests

from devtools import cluster as cluster_module
from devtools.cluster import Cluster
from devtools.compose import choose_mode, docker, remove_stack, run
from devtools.figures import save
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token
from tests.docker_engine import skip_without_engine
from tests.stack_helpers import SUITE_DOOR_ENV, container_secrets
from tests.tls import tls_dir

pytestmark = pytest.mark.containers

skip_without_engine()

STACK = "vdt_cluster"
BACKEND = f"{STACK}_backend"
REPLICAS = 3
FIGURES: dict = {}
PREFIX = "vdt2023"
READ = "/api/attendees?per_page=5"


@pytest.fixture(scope="module", autouse=True)
def figures(pytestconfig):
    """Print the suite's figures and save them (test-artifacts/cluster.json)."""
    yield FIGURES
    save(pytestconfig, "cluster", FIGURES)


def _esp_problem() -> str | None:
    """Why this kernel cannot carry encrypted overlay traffic (IPsec ESP with AES-GCM, what
    Docker's encrypted overlay uses), or None: asked in a scratch network namespace."""
    namespace = f"vdt-esp-{os.getpid()}"
    run(["ip", "netns", "add", namespace], 10)
    try:
        added = run(
            ["ip", "-n", namespace, "xfrm", "state", "add", "src", "10.0.0.1", "dst", "10.0.0.2",
             "proto", "esp", "spi", "0x100", "mode", "transport", "aead", "rfc4106(gcm(aes))",
             "0x" + "11" * 20, "64"],
            10, check=False,
        )  # fmt: skip
    finally:
        run(["ip", "netns", "del", namespace], 10, check=False)
    return None if added.returncode == 0 else added.stderr.strip() or "xfrm refused"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The three-node swarm with its registry; removed at the end whatever happened."""
    reason = cluster_module.problem()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    made = Cluster(tmp_path_factory.mktemp("cluster"), tls_dir(), registry_port=free_port())
    made.up()
    FIGURES["cluster: 3 nodes and the registry up"] = {
        "seconds": round(time.monotonic() - started, 1)
    }
    try:
        yield made
    finally:
        remove_stack(STACK)
        made.down()


class Deployed:
    """The deployed stack: where nginx answers, a token, what the deploy was told."""

    def __init__(self, url: str, token: str, encrypted: bool, attendee: str):
        self.url, self.token, self.encrypted, self.attendee = url, token, encrypted, attendee

    def headers(self) -> dict[str, str]:
        """The first admin's bearer credential."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory):
    """The stack deployed by swarm/deploy.sh with the cluster's registry as its prefix, 3
    backend replicas; overlays encrypted where the kernel can (ESP), else said why not."""
    secrets = container_secrets(tmp_path_factory.mktemp("cluster-secrets"))
    port = free_port()
    esp = _esp_problem()
    if esp:
        FIGURES["cluster: overlays NOT encrypted, the kernel has no ESP"] = {"reason": esp}
    env = {
        **os.environ,
        **SUITE_DOOR_ENV,
        "STACK": STACK,
        "BACKEND_REPLICAS": str(REPLICAS),
        "HTTPS_PORT": str(port),
        "HTTP_PORT": str(free_port()),
        "SECRETS_DIR": str(secrets),
        "OFFLINE": "1" if choose_mode().offline else "",
        "ENCRYPT_OVERLAY": "0" if esp else "1",
    }
    started = time.monotonic()
    run(["swarm/deploy.sh", f"{cluster.registry_address}/{PREFIX}"], timeout=900, env=env)
    url = f"https://127.0.0.1:{port}"
    _wait(lambda: _answers(f"{url}/readyz"), 180, "the API through nginx")
    FIGURES["cluster: deploy until the API answers"] = {
        "seconds": round(time.monotonic() - started, 1)
    }
    token = api_token(url, ADMIN, (secrets / "admin_password").read_text().strip(), name="cluster")
    body = {
        "full_name": "Cluster Tester",
        "email": f"cluster.{time.time_ns()}@example.org",
        "year_of_birth": 1999,
        "gender": "other",
        "university": "Overlay University",
        "major": "Distributed Systems",
    }
    created = requests.post(
        f"{url}/api/attendees", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert created.status_code == 201, created.text
    return Deployed(url, token, not esp, created.headers["Location"])


def _answers(url: str) -> bool:
    """Whether URL answers 200 now."""
    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=5).status_code == 200
    return False


def _wait(check, timeout: float, what: str) -> float:
    """Poll CHECK until true; its seconds, or fail naming WHAT."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout} s")


def _tasks(cluster: Cluster) -> dict[str, list[str]]:
    """Zone -> the container ids (12 characters: the hostname of the replica) of the backend's
    running tasks there."""
    zone_of = {node["id"]: node["hostname_zone"] for node in cluster.nodes()}
    ids = docker("service", "ps", "-q", "--filter", "desired-state=running", BACKEND).stdout
    found: dict[str, list[str]] = {}
    for task in json.loads(docker("inspect", *ids.split()).stdout) if ids.split() else []:
        if task["Status"]["State"] != "running":
            continue
        container = task["Status"].get("ContainerStatus", {}).get("ContainerID", "")
        found.setdefault(zone_of.get(task["NodeID"], "?"), []).append(container[:12])
    return found


def _healthy_replicas_on(cluster: Cluster, url: str, zones: set[str]) -> bool:
    """Whether REPLICAS tasks run, on ZONES only, and nginx sends reads to each of them."""
    tasks = _tasks(cluster)
    if sum(map(len, tasks.values())) != REPLICAS or not set(tasks) <= zones:
        return False
    wanted = {container for containers in tasks.values() for container in containers}
    seen = set()
    with requests.Session() as http:
        for _ in range(4 * REPLICAS):
            with contextlib.suppress(requests.RequestException):
                seen.add(http.get(f"{url}/api/whoami", timeout=5).json()["hostname"])
    return wanted <= seen


class Reader:
    """One client reading through nginx in a loop while something happens to the cluster: each
    answer's status (0: none) and seconds."""

    def __init__(self, deployed: Deployed):
        self.deployed = deployed
        self.answers: list[tuple[int, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read)

    def _read(self) -> None:
        with requests.Session() as http:
            http.headers.update(self.deployed.headers())
            while not self.stop.is_set() and len(self.answers) < 100_000:
                began = time.monotonic()
                try:
                    status = http.get(f"{self.deployed.url}{READ}", timeout=15).status_code
                except requests.RequestException:
                    status = 0
                self.answers.append((status, time.monotonic() - began))
                time.sleep(0.01)

    def __enter__(self) -> "Reader":
        self.thread.start()
        _wait(lambda: len(self.answers) >= 20, 30, "the first reads")
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(30)

    def figures(self, seconds: float) -> dict:
        """What the reads saw: how many, how many failed, the slowest, and SECONDS."""
        times = [took for _, took in self.answers]
        failures = collections.Counter(str(status) for status, _ in self.answers if status != 200)
        return {
            "reads": len(self.answers),
            "failed": sum(failures.values()),
            "failures by status": dict(failures),
            "p50_s": round(statistics.median(times), 4),
            "max_s": round(max(times), 3),
            "seconds": round(seconds, 1),
        }


def test_replicas_on_every_node_answer_through_nginx(cluster, deployed):
    """3 backend tasks, one per node (the zone spread), and nginx sends reads to each; the
    workers pulled their images from the cluster's registry."""
    zones = {"manager", *cluster_module.WORKERS}
    took = _wait(lambda: _healthy_replicas_on(cluster, deployed.url, zones), 120, "3 nodes serve")
    tasks = _tasks(cluster)
    FIGURES["cluster: a replica on every node answers through nginx"] = {
        "seconds after deploy": round(took, 1),
        "replicas per node": {zone: len(ids) for zone, ids in sorted(tasks.items())},
    }
    assert set(tasks) == zones, tasks
    for worker in cluster.workers:
        images = worker.docker("images", "--format", "{{.Repository}}").stdout.split()
        assert f"{cluster.registry_address}/{PREFIX}/backend" in images, images


def test_a_worker_drained_under_load_costs_no_read(cluster, deployed):
    """`docker node update --availability drain` a worker while a client reads: its task moves
    to the other nodes, and no read fails."""
    node = cluster.node_id("worker1")
    with Reader(deployed) as reader:
        started = time.monotonic()
        docker("node", "update", "--availability", "drain", node)
        others = {"manager", "worker2"}
        _wait(lambda: _healthy_replicas_on(cluster, deployed.url, others), 120, "drained")
        seconds = time.monotonic() - started
    docker("node", "update", "--availability", "active", node)
    FIGURES["cluster: drain a worker under load"] = reader.figures(seconds)
    assert reader.figures(seconds)["failed"] == 0


def test_a_rolling_update_across_the_nodes_costs_no_read(cluster, deployed):
    """A start-first rolling update to a new image, pushed to the registry and pulled by every
    node that runs a task, while a client reads: no read fails."""
    image = f"{cluster.registry_address}/{PREFIX}/backend:cluster-v2"
    base = docker(
        "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", BACKEND
    ).stdout.strip()
    run(
        ["docker", "build", "-q", "-t", image, "-"],
        timeout=120,
        stdin=f'FROM {base}\nLABEL cluster-test="v2"\n',
    )
    docker("push", image, timeout=180)
    with Reader(deployed) as reader:
        started = time.monotonic()
        docker("service", "update", "--image", image, BACKEND, timeout=600)
        seconds = time.monotonic() - started
    FIGURES["cluster: rolling update across the nodes"] = reader.figures(seconds)
    assert reader.figures(seconds)["failed"] == 0
    spec = docker(
        "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", BACKEND
    ).stdout
    assert spec.startswith(image)


def test_a_worker_lost_outright_costs_no_read(cluster, deployed):
    """Every process of a worker that runs a replica killed (engine, containerd, shims,
    containers) and its link cut, while a client reads: every read is answered within nginx's
    budget for a read (5 s over every replica), at most 1% of them with an error (a read caught
    between the lost replicas as nginx learns that they are gone; the figures say how many and
    which), and the swarm marks the node down and runs its tasks on the nodes left."""
    tasks = _tasks(cluster)
    worker = max(cluster.workers, key=lambda w: len(tasks.get(w.name, [])))
    assert tasks.get(worker.name), f"no replica on a worker to lose: {tasks}"
    left = {"manager", *(w.name for w in cluster.workers if w is not worker)}
    with Reader(deployed) as reader:
        started = time.monotonic()
        worker.kill()
        down = _wait(lambda: worker.name not in cluster.ready_nodes(), 120, "marked down")
        replaced = _wait(
            lambda: _healthy_replicas_on(cluster, deployed.url, left),
            180,
            f"{REPLICAS} replicas on the nodes left",
        )
        seconds = time.monotonic() - started
    FIGURES["cluster: a worker lost outright"] = {
        **reader.figures(seconds),
        "replicas lost": len(tasks[worker.name]),
        "node marked down after s": round(down, 1),
        "all replicas serving again after s": round(down + replaced, 1),
    }
    figures = reader.figures(seconds)
    assert figures["failed"] <= 0.01 * figures["reads"], figures
    assert "0" not in figures["failures by status"] and figures["max_s"] < 5.5, figures


def test_the_data_survives(deployed):
    """The attendee created right after the deploy is there after the drain, the update and
    the loss of a worker."""
    answer = requests.get(
        f"{deployed.url}{deployed.attendee}", headers=deployed.headers(), timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["university"] == "Overlay University"


def test_the_overlays_are_encrypted_where_the_kernel_can(cluster, deployed):
    """With ESP in the kernel, the networks that carry requests and data were created
    encrypted; without it, the suite says so (a skip with the kernel's answer)."""
    if not deployed.encrypted:
        pytest.skip(f"this kernel has no IPsec ESP with AES-GCM: {_esp_problem()}")
    for network in ("front", "back"):
        options = docker(
            "network", "inspect", "-f", "{{json .Options}}", f"{STACK}_{network}"
        ).stdout
        assert "encrypted" in json.loads(options), network


def test_the_release_script_pushes_every_image_to_a_registry(cluster):
    """scripts/release-images.sh (what the release workflow runs) builds the three images and
    pushes them, tagged and labelled with the version, to the cluster's registry; its API
    (over HTTPS, verified against the suite's authority) lists each with its manifest."""
    tag = "v0.0.0-cluster"
    prefix = f"127.0.0.1:{cluster.registry_port}/release"
    env = {
        **os.environ,
        "PLATFORMS": "linux/amd64",
        "ATTESTATIONS": "0",  # the docker driver attaches none (docker-container's is pulled)
        "OFFLINE": "1" if choose_mode().offline else "",
    }
    started = time.monotonic()
    run(["scripts/release-images.sh", prefix, tag], timeout=900, env=env)
    FIGURES["cluster: release script, build and push of 3 images"] = {
        "seconds": round(time.monotonic() - started, 1)
    }
    api = f"https://127.0.0.1:{cluster.registry_port}/v2"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    for name in ("webserver", "backend", "database"):
        manifest = requests.get(f"{api}/release/{name}/manifests/{tag}", headers=accept, timeout=10)
        assert manifest.status_code == 200, (name, manifest.text)
        digest = manifest.json()["config"]["digest"]
        config = requests.get(f"{api}/release/{name}/blobs/{digest}", timeout=10).json()
        assert config["config"]["Labels"]["org.opencontainers.image.version"] == tag, name


def test_teardown_leaves_nothing(cluster):
    """After down(): no namespace, link, engine, certs.d entry of the cluster, and this engine
    is out of the swarm."""
    remove_stack(STACK)
    cluster.down()
    assert cluster.leftovers() == {}
    label = f"label=com.docker.stack.namespace={STACK}"
    assert docker("volume", "ls", "-q", "--filter", label).stdout.split() == []
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    assert state == "inactive"
