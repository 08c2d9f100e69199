"""The stack deployed onto three plain hosts by ansible/site.yml, run as a user runs it: over SSH.

The hosts are the cluster suite's (devtools/cluster.py, without the swarm): this machine's engine
("manager": the webserver and the database) and two more engines in network namespaces of their
own ("worker1", "worker2": the backend hosts), with Debian's docker-registry, to which
scripts/release-images.sh pushes the images. Each host runs an sshd of its own with a host key
and a client key made for the run; its sessions get the host's engine as DOCKER_HOST (sshd's
SetEnv), as a real host's sessions get its one engine. The test's inventory sets only what a
user's sets: addresses, ports, keys, the app directory and the deployment's settings.

The suite deploys, sees replicas of both backend hosts answer through nginx, runs the playbook
again (0 changed), a check run (--check --diff) that changes nothing, kills a backend host's
containers under reads, rolls a new version under reads (0 failed), stops a rollout whose
replicas fail their health check (the old version keeps serving), and tears down leaving
nothing. Traffic goes only to 127.0.0.1 and the namespaces' own addresses.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from devtools import cluster as cluster_module
from devtools.cluster import MANAGER_ADDRESS, Cluster
from devtools.compose import choose_mode, docker, run
from devtools.figures import save
from devtools.paths import REPO
from devtools.processes import free_port
from devtools.signin import ADMIN, api_token
from tests.docker_engine import skip_without_engine
from tests.stack_helpers import SUITE_DOOR_ENV, container_secrets
from tests.test_cluster import Reader, _wait
from tests.tls import tls_dir

pytestmark = pytest.mark.containers

skip_without_engine()

ANSIBLE = REPO / ".venv/bin/ansible-playbook"
PLAYBOOK = REPO / "ansible/site.yml"
EXAMPLE_SETTINGS = REPO / "ansible/inventory/group_vars/all.yml"
SSHD = Path("/usr/sbin/sshd")
PRIVSEP = Path("/run/sshd")
PROJECT = "vdtansible"  # compose_project: the projects are vdtansible-{webserver,backend,database}
PREFIX = "vdt2023"
REPLICAS = 2  # per backend host
FIGURES: dict = {}
RECAP = re.compile(
    r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


@pytest.fixture(scope="module", autouse=True)
def figures(pytestconfig):
    """Print the suite's figures and save them (test-artifacts/ansible.json)."""
    yield FIGURES
    save(pytestconfig, "ansible", FIGURES)


class SshHost:
    """One host as Ansible reaches it: an sshd (in the host's network namespace, if any) with a
    host key made for the run, letting in root with the run's client key only."""

    def __init__(self, name: str, listen: str, port: int, state: Path, netns: str | None,
                 docker_host: str | None):  # fmt: skip
        self.name, self.listen, self.port, self.netns = name, listen, port, netns
        self.docker_host = docker_host
        self.dir = state / f"sshd-{name}"
        self.process: subprocess.Popen | None = None

    def start(self, client_key: Path) -> str:
        """Start the sshd and wait until it accepts connections; its known_hosts line."""
        self.dir.mkdir(parents=True)
        key = self.dir / "host_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], 30)
        config = self.dir / "sshd_config"
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.listen}",
            f"HostKey {key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {client_key}.pub",
            "PermitRootLogin prohibit-password",
            "AllowUsers root",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The keys live under pytest's temporary directory, not in ~/.ssh.
            "StrictModes no",
            "Subsystem sftp internal-sftp",
        ]
        if self.docker_host:
            lines.append(f"SetEnv DOCKER_HOST={self.docker_host}")
        config.write_text("\n".join(lines) + "\n")
        command = [str(SSHD), "-D", "-e", "-f", str(config)]
        if self.netns:
            command = ["nsenter", f"--net=/run/netns/{self.netns}", *command]
        log = (self.dir / "sshd.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"sshd of {self.name} exited: {(self.dir / 'sshd.log').read_text()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.listen, self.port), 1),
            ):
                break
            time.sleep(0.2)
        else:
            raise TimeoutError(f"sshd of {self.name} did not listen in 20 s")
        public = (key.with_suffix(".pub")).read_text().split()
        address = self.listen if self.port == 22 else f"[{self.listen}]:{self.port}"
        return f"{address} {public[0]} {public[1]}"

    def pids(self) -> list[int]:
        """The sshd and the sessions it forked."""
        if self.process is None:
            return []
        children = run(["pgrep", "-P", str(self.process.pid)], 10, check=False).stdout.split()
        return [self.process.pid, *map(int, children)]

    def stop(self) -> None:
        """End the sessions, then the sshd."""
        for pid in reversed(self.pids()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None


class Hosts:
    """The three hosts, their sshds, the inventory and the images; runs the playbook."""

    def __init__(self, cluster: Cluster, state: Path):
        self.cluster, self.state = cluster, state
        self.client_key = state / "client_key"
        self.https_port = free_port()
        manager = SshHost("manager", "127.0.0.1", free_port(), state, None, None)
        workers = [SshHost(w.name, w.address, 22, state, w.netns, w.host) for w in cluster.workers]
        self.ssh = [manager, *workers]
        self.inventory = state / "inventory"
        self.secrets = container_secrets(state / "secrets")
        self.token = ""
        self.made_privsep = False

    @property
    def url(self) -> str:
        """The webserver's HTTPS port, published on 127.0.0.1 of the manager host."""
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def registry(self) -> str:
        """REGISTRY/PREFIX, as the hosts reach the registry."""
        return f"{self.cluster.registry_address}/{PREFIX}"

    def start(self) -> None:
        """Keys, sshds and the inventory (its settings: the example's, a few changed)."""
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key)], 30)
        # sshd's privilege separation directory, which its init script would make.
        self.made_privsep = not PRIVSEP.exists()
        PRIVSEP.mkdir(mode=0o755, exist_ok=True)
        known = [host.start(self.client_key) for host in self.ssh]
        (self.state / "known_hosts").write_text("\n".join(known) + "\n")
        ssh_args = (
            f"-o UserKnownHostsFile={self.state / 'known_hosts'} -o StrictHostKeyChecking=yes"
        )

        def host(ssh: SshHost, private: str) -> dict:
            app_dir = self.state / "hosts" / ssh.name
            return {
                "ansible_host": ssh.listen,
                "ansible_port": ssh.port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.client_key),
                "ansible_ssh_common_args": ssh_args,
                # Debian's, not whatever a login shell's PATH finds first on this machine.
                "ansible_python_interpreter": "/usr/bin/python3",
                "private_address": private,
                # The hosts share this machine's file system: each its own directory.
                "app_dir": str(app_dir),
            }

        manager, *workers = self.ssh
        inventory = {
            "all": {
                "children": {
                    "webservers": {"hosts": {"manager": host(manager, MANAGER_ADDRESS)}},
                    "databases": {"hosts": {"manager": {}}},
                    "backends": {
                        "hosts": {
                            ssh.name: host(ssh, worker.address)
                            for ssh, worker in zip(workers, self.cluster.workers, strict=True)
                        }
                    },
                }
            }
        }
        settings = yaml.safe_load(EXAMPLE_SETTINGS.read_text())
        settings.update(
            {
                "image_registry": self.registry,
                "image_tag": "v1",
                "database_image_tag": "v1",
                "database_standin": choose_mode().offline,
                "compose_project": PROJECT,
                "secrets_dir": str(self.secrets),
                "backend_replicas": REPLICAS,
                "health_timeout": 60,
                "webserver_bind": "127.0.0.1",
                "https_port": self.https_port,
                "http_port": free_port(),
                **{name.lower(): value for name, value in SUITE_DOOR_ENV.items()},
            }
        )
        (self.inventory / "group_vars").mkdir(parents=True)
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump(inventory))
        (self.inventory / "group_vars/all.yml").write_text(yaml.safe_dump(settings))

    def playbook(self, *args: str, check: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
        """Run site.yml with the inventory and ARGS; the result and each host's recap counts."""
        env = {
            **os.environ,
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.state / "cp"),
            "ANSIBLE_LOCAL_TEMP": str(self.state / "ansible-local"),
            "ANSIBLE_HOME": str(self.state / "ansible-home"),
            "ANSIBLE_REMOTE_TMP": str(self.state / "ansible-remote"),
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }
        result = run(
            [str(ANSIBLE), "-i", str(self.inventory / "hosts.yml"), str(PLAYBOOK), *args],
            900, env=env, check=False,
        )  # fmt: skip
        (self.state / "last-playbook.log").write_text(result.stdout + result.stderr)
        if check:
            assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        recap = {
            name: {"ok": int(ok), "changed": int(changed), "unreachable": int(u), "failed": int(f)}
            for name, ok, changed, u, f in RECAP.findall(result.stdout)
        }
        return result, recap

    def engine(self, name: str):
        """`docker ARGS` on host NAME's engine."""
        for worker in self.cluster.workers:
            if worker.name == name:
                return worker.docker
        return lambda *args, **kwargs: docker(*args, **kwargs)

    def containers(self, name: str, tier: str) -> list[dict]:
        """The containers of TIER's compose project on host NAME, inspected."""
        label = f"label=com.docker.compose.project={PROJECT}-{tier}"
        ids = self.engine(name)("ps", "-aq", "--filter", label).stdout.split()
        return json.loads(self.engine(name)("inspect", *ids).stdout) if ids else []

    def remove(self) -> None:
        """Remove what the playbook made on this machine's engine (the workers' engines go with
        their data roots), then the sshds."""
        for tier in ("webserver", "database"):
            compose_dir = self.state / "hosts/manager" / tier
            if (compose_dir / "compose.yaml").exists():
                run(["docker", "compose", "down", "--volumes", "--remove-orphans"], 120,
                    cwd=compose_dir, check=False)  # fmt: skip
        for host in self.ssh:
            host.stop()
        if self.made_privsep:
            with contextlib.suppress(OSError):  # another sshd may have started using it
                PRIVSEP.rmdir()
            self.made_privsep = False

    def leftovers(self) -> dict[str, list[str]]:
        """What of the deployment and its hosts is still on this machine."""
        found = {
            "containers": [
                line
                for line in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
                if line.startswith(f"{PROJECT}-")
            ],
            "volumes": [
                v for v in docker("volume", "ls", "-q").stdout.split() if v.startswith(PROJECT)
            ],
            "sshd": run(["pgrep", "-f", str(self.state / "sshd-")], 10, check=False).stdout.split(),
            # Ansible's SSH connections (ControlPersist), which end with their sshd sessions.
            "ssh": run(["pgrep", "-f", str(self.state / "cp")], 10, check=False).stdout.split(),
            **self.cluster.leftovers(),
        }
        return {kind: items for kind, items in found.items() if items}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Three hosts reached over SSH, the registry with the v1 images; removed at the end."""
    reason = cluster_module.problem()
    if reason:
        pytest.skip(reason)
    if not SSHD.exists():
        pytest.skip("the Ansible suite needs sshd: apt-get install -y openssh-server")
    if not ANSIBLE.exists():
        pytest.skip("ansible-playbook is not installed: make .venv/.installed")
    state = tmp_path_factory.mktemp("ansible")
    started = time.monotonic()
    cluster = Cluster(state / "cluster", tls_dir(), registry_port=free_port(), swarm=False)
    (state / "cluster").mkdir()
    cluster.up()
    made = Hosts(cluster, state)
    try:
        made.start()
        FIGURES["ansible: 3 hosts with sshd and the registry up"] = {
            "seconds": round(time.monotonic() - started, 1)
        }
        started = time.monotonic()
        env = {
            **os.environ,
            "PLATFORMS": "linux/amd64",
            "ATTESTATIONS": "0",
            "OFFLINE": "1" if choose_mode().offline else "",
        }
        run(["scripts/release-images.sh", made.registry, "v1"], timeout=900, env=env)
        FIGURES["ansible: release-images.sh, 3 images built and pushed"] = {
            "seconds": round(time.monotonic() - started, 1)
        }
        yield made
    finally:
        made.remove()
        cluster.down()


@pytest.fixture(scope="module")
def deployed(hosts):
    """The first run of the playbook; the first admin's API token."""
    started = time.monotonic()
    _, recap = hosts.playbook()
    took = time.monotonic() - started
    FIGURES["ansible: first deploy (playbook run)"] = {
        "seconds": round(took, 1),
        "changed per host": {name: counts["changed"] for name, counts in recap.items()},
    }
    password = (hosts.secrets / "admin_password").read_text().strip()
    hosts.token = api_token(hosts.url, ADMIN, password, name="ansible")
    return hosts


class _Deployed:
    """What test_cluster's Reader reads from: the URL and the bearer credential."""

    def __init__(self, hosts: Hosts):
        self.url, self.token = hosts.url, hosts.token

    def headers(self) -> dict[str, str]:
        """The first admin's bearer credential."""
        return {"Authorization": f"Bearer {self.token}"}


def _whoami_names(url: str, reads: int) -> set[str]:
    """The replica names that READS /api/whoami calls through nginx saw."""
    seen = set()
    with requests.Session() as http:
        for _ in range(reads):
            with contextlib.suppress(requests.RequestException):
                seen.add(http.get(f"{url}/api/whoami", timeout=5).json()["hostname"])
    return seen


def _all_replicas() -> set[str]:
    """The replica hostnames the inventory asks for: HOST-backend-N."""
    return {f"{host}-backend-{n}" for host in cluster_module.WORKERS for n in (1, 2)}


def test_replicas_of_both_backend_hosts_answer_through_nginx(deployed):
    """Every replica of both backend hosts answers /api/whoami through the webserver, each
    named after its host and replica, and the recap shows nothing unreachable or failed."""
    wanted = _all_replicas()
    took = _wait(lambda: wanted <= _whoami_names(deployed.url, 16), 60, "every replica answers")
    FIGURES["ansible: every replica answers through nginx"] = {
        "seconds after deploy": round(took, 1),
        "replicas": sorted(wanted),
    }
    for worker in cluster_module.WORKERS:
        running = [c for c in deployed.containers(worker, "backend") if c["State"]["Running"]]
        assert len(running) == REPLICAS, worker
    assert [c["Name"] for c in deployed.containers("manager", "backend")] == []


def test_a_second_run_changes_nothing(deployed):
    """The playbook run again: changed=0 on every host."""
    started = time.monotonic()
    _, recap = deployed.playbook()
    FIGURES["ansible: second run"] = {
        "seconds": round(time.monotonic() - started, 1),
        "changed": sum(counts["changed"] for counts in recap.values()),
    }
    assert set(recap) == {"manager", *cluster_module.WORKERS}, recap
    assert all(counts["changed"] == 0 for counts in recap.values()), recap


def test_a_check_run_shows_the_diff_and_changes_nothing(deployed):
    """`--check --diff` with three replicas per host: the diff shows the new replica and the
    webserver's longer upstream list, and afterwards every host runs what it ran."""
    before = {w: len(deployed.containers(w, "backend")) for w in cluster_module.WORKERS}
    result, recap = deployed.playbook("--check", "--diff", "-e", "backend_replicas=3")
    assert "+  backend-3:" in result.stdout, result.stdout[-4000:]
    assert f"{cluster_module.WORKERS[1]}-backend-3" in result.stdout
    assert all(counts["failed"] == 0 for counts in recap.values()), recap
    after = {w: len(deployed.containers(w, "backend")) for w in cluster_module.WORKERS}
    assert after == before


def test_a_backend_host_losing_its_containers_costs_no_read(deployed):
    """Every backend container of one host killed (SIGKILL) while a client reads through
    nginx: the other host's replicas answer every read. (The rolling upgrade's run, next,
    starts them again.)"""
    worker = cluster_module.WORKERS[0]
    ids = [c["Id"] for c in deployed.containers(worker, "backend")]
    with Reader(_Deployed(deployed)) as reader:
        started = time.monotonic()
        deployed.engine(worker)("kill", *ids)
        time.sleep(5)  # reads while that host's replicas are gone, bounded
        seconds = time.monotonic() - started
    figures = reader.figures(seconds)
    FIGURES["ansible: a backend host's containers killed"] = figures
    assert figures["failed"] == 0, figures


def _push_variant(hosts: Hosts, name: str, tag: str, dockerfile_tail: str) -> None:
    """Build REGISTRY/PREFIX/NAME:TAG from its v1 image plus DOCKERFILE_TAIL and push it."""
    image = f"{hosts.registry}/{name}:{tag}"
    base = f"{hosts.registry}/{name}:v1"
    run(["docker", "build", "-q", "-t", image, "-"], 180, stdin=f"FROM {base}\n{dockerfile_tail}")
    docker("push", image, timeout=180)


def test_a_rolling_upgrade_under_load_costs_no_read(deployed):
    """`-e image_tag=v2` (a new backend image; the webserver's v2 is its v1 retagged) while a
    client reads: one backend host after the other (the first's replicas are healthy before
    the second's stop), no read fails, and the webserver, whose image did not change, is not
    restarted."""
    _push_variant(deployed, "backend", "v2", 'LABEL ansible-test="v2"\n')
    docker("tag", f"{deployed.registry}/webserver:v1", f"{deployed.registry}/webserver:v2")
    docker("push", f"{deployed.registry}/webserver:v2", timeout=180)
    webserver_started = deployed.containers("manager", "webserver")[0]["State"]["StartedAt"]
    with Reader(_Deployed(deployed)) as reader:
        started = time.monotonic()
        _, recap = deployed.playbook("-e", "image_tag=v2")
        seconds = time.monotonic() - started
    figures = reader.figures(seconds)
    FIGURES["ansible: rolling upgrade under reads"] = figures
    assert figures["failed"] == 0, figures
    first, second = (deployed.containers(w, "backend") for w in cluster_module.WORKERS)
    for containers in (first, second):
        assert [c["Config"]["Labels"].get("ansible-test") for c in containers] == ["v2"] * REPLICAS
    # serial: 1 — the second host's replicas were replaced after the first's were up.
    assert max(c["State"]["StartedAt"] for c in first) < min(c["Created"] for c in second), (
        first,
        second,
    )
    assert deployed.containers("manager", "webserver")[0]["State"]["StartedAt"] == webserver_started
    assert recap["manager"]["failed"] == 0


def test_a_failed_health_check_stops_the_rollout(deployed):
    """A backend image whose health check fails (`-e image_tag=broken`) under reads: the run
    fails on the first backend host, stops its replicas, never replaces the second host's (which
    only pulled the image beforehand) nor reaches the webserver, and no read fails: the second
    host's v2 replicas serve them."""
    _push_variant(
        deployed,
        "backend",
        "broken",
        'HEALTHCHECK --interval=1s --timeout=2s --start-period=1s --retries=1 CMD ["false"]\n',
    )
    first, second = cluster_module.WORKERS
    second_before = [c["Id"] for c in deployed.containers(second, "backend")]
    with Reader(_Deployed(deployed)) as reader:
        started = time.monotonic()
        result, recap = deployed.playbook("-e", "image_tag=broken", check=False)
        seconds = time.monotonic() - started
    figures = reader.figures(seconds)
    FIGURES["ansible: a rollout stopped by a failed health check"] = figures
    assert result.returncode != 0
    assert recap[first]["failed"] == 1, recap
    assert "did not become healthy" in result.stdout
    assert "PLAY [Deploy the webservers, last]" not in result.stdout
    assert [c["Id"] for c in deployed.containers(second, "backend")] == second_before
    assert not any(c["State"]["Running"] for c in deployed.containers(first, "backend"))
    assert figures["failed"] == 0, figures
    assert {n.split("-backend-")[0] for n in _whoami_names(deployed.url, 8)} == {second}


def test_teardown_leaves_nothing(hosts):
    """After the teardown: no container, volume, sshd, namespace, engine or link of the run."""
    hosts.remove()
    hosts.cluster.down()
    deadline = time.monotonic() + 15
    while hosts.leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hosts.leftovers() == {}
