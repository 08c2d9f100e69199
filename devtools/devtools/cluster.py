"""A Docker Swarm of three nodes on this one machine, for the cluster suite.

- **manager**: this machine's own engine, in its own (the root) network namespace, at
  MANAGER_ADDRESS on a bridge made for the cluster;
- **two workers**: one more Docker engine each, started in a network namespace of its own
  (`ip netns`, a veth pair into the bridge), with its own address, data root, exec root and
  cgroup parent, so that the overlay networks really cross from host to host (VXLAN between
  the addresses) and a worker can be drained, cut off or killed like a machine;
- **a registry**: Debian's docker-registry (distribution 2.8), on the manager's address over
  TLS, with a certificate that scripts/make-secrets.sh signs with the suite's authority; every
  engine trusts it through /etc/docker/certs.d, as a user's engines trust a private registry.

`up()` builds it all and `down()` removes everything it made (engines, their containers and
data, namespaces, links, the bridge, its iptables rules, the registry and its storage, the
certs.d entries), also after a failure half-way. Linux only, as root; `problem()` says why it
cannot run here, for a visible skip.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .compose import run
from .paths import REPO

SUBNET = "10.77.0"  # a /24 of the private range, on a bridge that only this machine sees
BRIDGE = "vdtcluster0"
MANAGER_ADDRESS = f"{SUBNET}.1"
WORKERS = ("worker1", "worker2")
CERTS_D = Path("/etc/docker/certs.d")
ENGINE_START_S = 60
# Forwarded traffic between the bridge's ports passes iptables (br_netfilter), where Docker's
# FORWARD policy is DROP: these rules, in Docker's DOCKER-USER chain, let the nodes talk.
FORWARD_RULES = (["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],)


def problem() -> str | None:
    """Why a cluster cannot be made on this machine, or None."""
    if os.geteuid() != 0:
        return "the cluster suite needs root (network namespaces, more Docker engines)"
    for tool in ("ip", "nsenter", "dockerd", "docker-registry", "iptables", "openssl"):
        if shutil.which(tool) is None:
            hint = "apt-get install -y docker-registry" if tool == "docker-registry" else ""
            return f"the cluster suite needs {tool} {hint}".strip()
    state = run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], 30, check=False)
    if state.returncode != 0:
        return f"no Docker engine answers: {state.stderr.strip()[-200:]}"
    if state.stdout.strip() not in ("inactive", ""):
        return f"this engine is already in a swarm ({state.stdout.strip()}): leave it first"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run iproute2's `ip ARGS`."""
    return run(["ip", *args], 30, check=check)


@dataclass
class Worker:
    """One worker: a Docker engine in a network namespace of its own."""

    name: str
    address: str
    state_dir: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def netns(self) -> str:
        """The network namespace's name (ip netns)."""
        return f"vdt-{self.name}"

    @property
    def veth(self) -> str:
        """The host end of its veth pair (at most 15 characters)."""
        return f"vdt{self.name[-1]}h"

    @property
    def exec_root(self) -> Path:
        """Its engine's exec root: short, for the unix sockets under it."""
        return Path("/run/vdt-cluster") / self.name

    @property
    def data_root(self) -> Path:
        """Its engine's data root (images, containers, volumes, swarm state)."""
        return self.state_dir / self.name / "docker"

    @property
    def host(self) -> str:
        """DOCKER_HOST for its engine."""
        return f"unix://{self.exec_root}/docker.sock"

    def docker(self, *args: str, timeout: float = 60, check: bool = True):
        """`docker ARGS` against this worker's engine."""
        return run(["docker", "-H", self.host, *args], timeout, check=check)

    def plug_in(self) -> None:
        """Make the namespace and its link into the bridge, with the address and a route."""
        _ip("netns", "add", self.netns)
        inside = f"{self.veth[:-1]}n"
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", inside)
        _ip("link", "set", self.veth, "master", BRIDGE, "up")
        _ip("link", "set", inside, "netns", self.netns)
        for args in (
            ("addr", "add", f"{self.address}/24", "dev", inside),
            ("link", "set", inside, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", MANAGER_ADDRESS),
        ):
            _ip("-n", self.netns, *args)

    def start_engine(self) -> None:
        """Start dockerd in the namespace (nsenter enters only the network namespace: the
        mounts, /sys/fs/cgroup among them, stay the machine's) and wait until it answers."""
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        log = (self.state_dir / f"{self.name}-dockerd.log").open("ab")
        command = [
            "nsenter", f"--net=/run/netns/{self.netns}", "dockerd",
            "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
            "--pidfile", str(self.exec_root / "dockerd.pid"), "-H", self.host,
            "--cgroup-parent", f"vdt-{self.name}",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + ENGINE_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd of {self.name} exited; see {log.name}")
            if self.docker("info", "--format", "{{.ID}}", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        raise TimeoutError(f"dockerd of {self.name} did not answer in {ENGINE_START_S} s")

    def processes(self) -> list[int]:
        """Every process of this node: its engine, containerd, the shims and the containers
        (found by the exec root on their command lines, and by the engine's cgroup parent)."""
        found = set()
        listed = run(["pgrep", "-f", str(self.exec_root)], 10, check=False).stdout.split()
        found |= {int(pid) for pid in listed}
        for procs in Path("/sys/fs/cgroup/pids").glob(f"vdt-{self.name}/*/cgroup.procs"):
            with contextlib.suppress(OSError):
                found |= {int(pid) for pid in procs.read_text().split()}
        return sorted(found)

    def kill(self) -> None:
        """Lose this machine: SIGKILL every process of the node and cut its link."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _ip("link", "set", self.veth, "down", check=False)
        if self.process is not None:
            self.process.wait(10)

    def remove(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL) and remove everything this worker had."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        mounts = run(["findmnt", "-rn", "-o", "TARGET"], 10, check=False).stdout.split()
        for root in (self.exec_root, self.data_root):
            for mount in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
                run(["umount", "-l", mount], 10, check=False)
            shutil.rmtree(root, ignore_errors=True)
        _ip("link", "del", self.veth, check=False)
        _ip("netns", "del", self.netns, check=False)


@dataclass
class Cluster:
    """The three-node swarm and its registry (see the module's docstring)."""

    state_dir: Path
    authority: Path  # a directory with the suite's ca.crt and ca.key (tests/tls.py)
    registry_port: int = 5000
    # False: the hosts without the swarm (the Ansible suite deploys onto the plain engines).
    swarm: bool = True
    workers: list[Worker] = field(default_factory=list)
    registry: subprocess.Popen | None = field(default=None, repr=False)
    _made: list[str] = field(default_factory=list, repr=False)

    @property
    def registry_address(self) -> str:
        """host:port of the registry, as every node reaches it."""
        return f"{MANAGER_ADDRESS}:{self.registry_port}"

    def up(self) -> "Cluster":
        """Bridge, workers' namespaces and engines, registry, swarm (unless told not to); all of
        it, or nothing."""
        try:
            self._bridge()
            self._registry()
            self.workers = [
                Worker(name, f"{SUBNET}.{11 + index}", self.state_dir)
                for index, name in enumerate(WORKERS)
            ]
            for worker in self.workers:
                worker.plug_in()
                worker.start_engine()
            if self.swarm:
                self._swarm()
        except BaseException:
            self.down()
            raise
        return self

    def _bridge(self) -> None:
        """The bridge with the manager's address, and the rules that let the nodes talk."""
        _ip("link", "add", BRIDGE, "type", "bridge")
        self._made.append("bridge")
        _ip("addr", "add", f"{MANAGER_ADDRESS}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        for rule in FORWARD_RULES:
            run(["iptables", "-I", "DOCKER-USER", *rule], 10)
        self._made.append("iptables")

    def _registry(self) -> None:
        """docker-registry on the manager's address (and 127.0.0.1, for the suite's own
        checks), TLS with a certificate for both, trusted by every engine via certs.d."""
        secrets = self.state_dir / "registry-tls"
        secrets.mkdir(parents=True, exist_ok=True)
        for name in ("ca.crt", "ca.key"):
            shutil.copy2(self.authority / name, secrets / name)
        names = f"{MANAGER_ADDRESS} 127.0.0.1"
        run([str(REPO / "scripts/make-secrets.sh"), "--tls-only", str(secrets)], 60,
            env={**os.environ, "TLS_NAMES": names})  # fmt: skip
        config = self.state_dir / "registry.yml"
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "warn"},
                    "storage": {"filesystem": {"rootdirectory": str(self.state_dir / "registry")}},
                    "http": {
                        "addr": f"0.0.0.0:{self.registry_port}",
                        "tls": {
                            "certificate": str(secrets / "tls.crt"),
                            "key": str(secrets / "tls.key"),
                        },
                    },
                }
            )
        )
        for address in (self.registry_address, f"127.0.0.1:{self.registry_port}"):
            trusted = CERTS_D / address
            trusted.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.authority / "ca.crt", trusted / "ca.crt")
        self._made.append("certs.d")
        log = (self.state_dir / "registry.log").open("ab")
        self.registry = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        answered = False
        while time.monotonic() < deadline and not answered:
            probe = run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                 str(self.authority / "ca.crt"), f"https://127.0.0.1:{self.registry_port}/v2/"],
                10, check=False,
            )  # fmt: skip
            answered = probe.stdout == "200"
            time.sleep(0.2)
        if not answered:
            raise RuntimeError(f"the registry did not answer; see {log.name}")

    def _swarm(self) -> None:
        """This engine as the manager at MANAGER_ADDRESS, the workers joined, every node labelled
        with a zone of its own (what the backend's placement preference spreads over)."""
        run(["docker", "swarm", "init", "--advertise-addr", MANAGER_ADDRESS], 60)
        self._made.append("swarm")
        token = run(["docker", "swarm", "join-token", "-q", "worker"], 30).stdout.strip()
        for worker in self.workers:
            worker.docker(
                "swarm", "join", "--token", token, "--advertise-addr", worker.address,
                f"{MANAGER_ADDRESS}:2377", timeout=60,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.ready_nodes()) < 1 + len(self.workers):
            time.sleep(0.5)
        nodes = self.nodes()
        if len(self.ready_nodes()) < 1 + len(self.workers):
            raise TimeoutError(f"not every node is ready: {nodes}")
        for node in nodes:
            run(["docker", "node", "update", "--label-add", f"zone={node['hostname_zone']}",
                 node["id"]], 30)  # fmt: skip

    def nodes(self) -> list[dict]:
        """Each node: id, its zone name (manager, worker1, ...), status and availability."""
        listed = run(["docker", "node", "ls", "--format", "{{json .}}"], 30).stdout.splitlines()
        found = []
        for line in listed:
            node = json.loads(line)
            inspected = json.loads(run(["docker", "node", "inspect", node["ID"]], 30).stdout)[0]
            address = inspected["Status"].get("Addr", "")
            zone = "manager"
            for worker in self.workers:
                if address == worker.address:
                    zone = worker.name
            found.append(
                {
                    "id": node["ID"],
                    "hostname_zone": zone,
                    "status": node["Status"],
                    "availability": node["Availability"],
                }
            )
        return found

    def ready_nodes(self) -> list[str]:
        """The zones of the nodes that are Ready."""
        return [node["hostname_zone"] for node in self.nodes() if node["status"] == "Ready"]

    def node_id(self, zone: str) -> str:
        """The swarm id of the node of ZONE."""
        return next(node["id"] for node in self.nodes() if node["hostname_zone"] == zone)

    def down(self) -> None:
        """Remove everything up() made, in the reverse order; safe to call more than once."""
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.docker("swarm", "leave", "--force", timeout=30, check=False)
        if "swarm" in self._made:
            run(["docker", "swarm", "leave", "--force"], 60, check=False)
        for worker in self.workers:
            worker.remove()
        self.workers = []
        if self.registry is not None and self.registry.poll() is None:
            self.registry.terminate()
            try:
                self.registry.wait(10)
            except subprocess.TimeoutExpired:
                self.registry.kill()
        self.registry = None
        if "certs.d" in self._made:
            for address in (self.registry_address, f"127.0.0.1:{self.registry_port}"):
                shutil.rmtree(CERTS_D / address, ignore_errors=True)
        shutil.rmtree(self.state_dir / "registry", ignore_errors=True)
        if "iptables" in self._made:
            for rule in FORWARD_RULES:
                run(["iptables", "-D", "DOCKER-USER", *rule], 10, check=False)
        if "bridge" in self._made:
            _ip("link", "del", BRIDGE, check=False)
        self._made.clear()

    def leftovers(self) -> dict[str, list[str]]:
        """What of the cluster is still on this machine (nothing, after down())."""
        namespaces = _ip("netns", "list", check=False).stdout.split()
        links = _ip("-o", "link", "show", check=False).stdout
        return {
            kind: found
            for kind, found in {
                "namespaces": [n for n in namespaces if n.startswith("vdt-worker")],
                "links": [BRIDGE] if f" {BRIDGE}:" in links else [],
                "engines": run(
                    ["pgrep", "-f", "/run/vdt-cluster/"], 10, check=False
                ).stdout.split(),
                "certs.d": [p.name for p in CERTS_D.glob(f"*:{self.registry_port}")],
            }.items()
            if found
        }
