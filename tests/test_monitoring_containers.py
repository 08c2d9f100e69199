"""The monitoring profile with real containers: Prometheus follows --scale, counts add up, alerts.

One compose project (registry or offline mode, as tests/test_containers.py chooses) with the
monitoring profile, 3 then 5 replicas. Prometheus loads the repository's config with the
alerts' `for:` shortened to 10 s. All traffic goes to the published ports on 127.0.0.1.
"""

import collections
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import pytest
import requests

from devtools.compose import (
    StackProject,
    choose_mode,
    docker,
    ensure_offline_base_images,
)
from devtools.figures import save
from devtools.paths import REPO
from devtools.processes import free_port
from tests.docker_engine import skip_without_engine
from tests.stack_helpers import SUITE_DOOR_ENV, container_secrets

pytestmark = pytest.mark.containers

STACK = ["webserver", "backend", "database"]
OFFLINE_MONITORING = ["prometheus", "alertmanager", "nginx-exporter", "node-exporter"]


@dataclass
class MonitoredProject(StackProject):
    """Our stack with the monitoring profile, its own Prometheus port and config."""

    prometheus_port: int = field(kw_only=True)
    config_dir: str = field(kw_only=True)
    services: list[str] = field(kw_only=True, default_factory=list)  # empty: every one
    alertmanager_port: int = field(kw_only=True, default_factory=free_port)

    def env(self) -> dict[str, str]:
        """compose.yaml's variables, plus where Prometheus listens and reads its config."""
        return {
            **super().env(),
            "COMPOSE_PROFILES": "monitoring",
            "PROMETHEUS_PORT": str(self.prometheus_port),
            "PROMETHEUS_CONFIG_DIR": self.config_dir,
            "ALERTMANAGER_PORT": str(self.alertmanager_port),
        }


def _query(project: MonitoredProject, promql: str) -> list[dict]:
    """The result vector of PROMQL, evaluated now by the project's Prometheus."""
    response = requests.get(
        f"http://127.0.0.1:{project.prometheus_port}/api/v1/query",
        params={"query": promql},
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["data"]["result"]


def _backend_targets(project: MonitoredProject) -> list[str]:
    """The health of every active backend target ("up", "down", "unknown")."""
    response = requests.get(
        f"http://127.0.0.1:{project.prometheus_port}/api/v1/targets",
        params={"state": "active"},
        timeout=5,
    )
    response.raise_for_status()
    return [
        target["health"]
        for target in response.json()["data"]["activeTargets"]
        if target["labels"].get("job") == "backend"
    ]


def _wait(check, timeout: float, what: str) -> float:
    """Poll CHECK every 0.5 s until it is true; return the seconds it took, fail after TIMEOUT."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """The stack with the monitoring profile at --scale backend=3; removed afterwards."""
    skip_without_engine()
    mode = choose_mode()
    if mode.offline:
        ensure_offline_base_images()
    secrets_dir = container_secrets(tmp_path_factory.mktemp("secrets"))
    config_dir = tmp_path_factory.mktemp("prometheus")
    shutil.copy(REPO / "monitoring/prometheus.yml", config_dir)
    alerts = (REPO / "monitoring/alerts.yml").read_text()
    for delay in ("30s", "1m", "5m", "10m"):
        alerts = alerts.replace(f"for: {delay}", "for: 10s")
    (config_dir / "alerts.yml").write_text(alerts)
    config_dir.chmod(0o755)
    for path in config_dir.iterdir():
        path.chmod(0o644)  # Prometheus runs as nobody
    # Grafana and cAdvisor come from registries only: offline, the profile's other services.
    services = [] if not mode.offline else [*STACK, *OFFLINE_MONITORING]
    project = MonitoredProject(
        mode.files,
        free_port(),
        mode=mode,
        secrets_dir=secrets_dir,
        prometheus_port=free_port(),
        config_dir=str(config_dir),
        services=services,
        extra_env=dict(SUITE_DOOR_ENV),
    )
    try:
        project.compose("up", "--build", "-d", "--scale", "backend=3", *services, timeout=900)
        project.wait_healthy({"backend": 3, "webserver": 1, "database": 1}, timeout=180)
        yield project
    finally:
        project.down()


def test_prometheus_follows_scale_and_counts_add_up(monitored, pytestconfig):
    """3 targets up, then 5 after scaling with no restart; 90 requests add up per replica."""
    first = _wait(lambda: _backend_targets(monitored).count("up") == 3, 30, "3 backend targets up")
    monitored.compose(
        "up", "-d", "--no-recreate", "--scale", "backend=5", *monitored.services, timeout=300
    )
    monitored.wait_healthy({"backend": 5}, timeout=120)
    scaled = _wait(lambda: _backend_targets(monitored).count("up") == 5, 30, "5 backend targets up")

    whoami = (
        'sum by (replica) (attendee_directory_http_requests_total{route="/api/whoami"}'
        " * on(instance) group_left(replica) attendee_directory_build_info)"
    )

    def per_replica() -> dict[str, float]:
        """Prometheus' count of whoami answers per replica name."""
        return {r["metric"]["replica"]: float(r["value"][1]) for r in _query(monitored, whoami)}

    before = per_replica()
    served = collections.Counter()
    with requests.Session() as session:
        for _ in range(90):
            response = session.get(f"{monitored.url}/api/whoami", timeout=5)
            assert response.status_code == 200
            served[response.headers["X-Served-By"].rsplit("/", 1)[-1]] += 1
    assert len(served) == 5, served

    def grown() -> dict[str, float]:
        """Each replica's growth since BEFORE."""
        now = per_replica()
        return {name: now[name] - before.get(name, 0) for name in now}

    _wait(lambda: sum(grown().values()) == 90, 20, "Prometheus to see the 90 requests")
    grew = grown()
    assert {name: int(count) for name, count in grew.items() if count} == dict(served)
    split = requests.get(f"{monitored.url}/api/replicas", timeout=5).json()["replicas"]
    counted = {entry["replica"].rsplit("/", 1)[-1]: entry["requests"] for entry in split}
    for name, count in served.items():
        assert counted[name] >= count, (counted, served)  # /api/replicas counts every route
    figures = {
        "3 backend targets up after the stack was healthy": {"s": round(first, 1)},
        "5 backend targets up after --scale backend=5, from the new replicas healthy": {
            "s": round(scaled, 1)
        },
        "90 whoami requests through nginx, per replica in Prometheus": dict(served),
    }
    save(
        pytestconfig,
        "monitoring",
        {f"compose (offline images): {k}": v for k, v in figures.items()},
    )


def test_a_hung_replica_goes_down_and_its_alert_is_raised(monitored):
    """A paused replica stays in DNS but answers nothing: target down, then its alert, which
    Prometheus sends to Alertmanager."""
    victim = monitored.containers("backend")[0]["Id"]
    docker("pause", victim)
    try:
        _wait(lambda: "down" in _backend_targets(monitored), 30, "a backend target down")
        alerts = 'ALERTS{alertname="BackendReplicaDown"}'
        _wait(lambda: _query(monitored, alerts), 30, "BackendReplicaDown pending or firing")
        # Firing, it reaches the profile's Alertmanager (no ALERT_WEBHOOK_URL: held there).
        _wait(lambda: _alertmanager_has(monitored, "BackendReplicaDown"), 60, "it in Alertmanager")
    finally:
        docker("unpause", victim)


def _alertmanager_has(project: MonitoredProject, alertname: str) -> bool:
    """True when the project's Alertmanager holds an active alert named ALERTNAME."""
    response = requests.get(
        f"http://127.0.0.1:{project.alertmanager_port}/api/v2/alerts",
        params={"filter": f'alertname="{alertname}"'},
        timeout=5,
    )
    response.raise_for_status()
    return any(alert["status"]["state"] == "active" for alert in response.json())


def test_the_front_door_exposes_no_metrics(monitored):
    """Through nginx: no /metrics, no stub_status, no exporter page; the exporter reads nginx."""
    for path in ("/metrics", "/stub_status", "/nginx_status", "/api/metrics"):
        assert requests.get(f"{monitored.url}{path}", timeout=5).status_code == 404, path
    _wait(lambda: _query(monitored, "nginx_up == 1"), 30, "the exporter to read stub_status")
    assert _query(monitored, 'up{job="node"} == 1'), "node-exporter is not scraped"


def test_prometheus_cannot_reach_the_database(monitored):
    """Prometheus shares no network with the database (so no packet of its can get there),
    and, where its image has Python to ask with (the offline one), the database's name does
    not even resolve inside it; the backend's does."""
    (prometheus,) = monitored.containers("prometheus")
    (database,) = monitored.containers("database")
    shared = set(prometheus["NetworkSettings"]["Networks"]) & set(
        database["NetworkSettings"]["Networks"]
    )
    assert shared == set(), shared
    if not monitored.mode.offline:
        return  # prom/prometheus has no Python; the networks above are the proof
    resolve = "import socket, sys; socket.getaddrinfo(sys.argv[1], 27017)"
    for name, resolves in (("database", False), ("backend", True)):
        found = docker(
            "exec", prometheus["Id"], "python3", "-c", resolve, name, check=False, timeout=30
        )
        assert (found.returncode == 0) == resolves, (name, found.stderr)


def test_alertmanagers_start_writes_the_webhook_url_for_its_user_only(monitored):
    """The profile's start.sh, in the running Alertmanager container as its user: a value that
    is not an http(s) URL is refused (exit 2), a URL is written to the file alertmanager.yml's
    url_file names, mode 0600. The file is removed again (the profile runs with no URL)."""
    (alertmanager,) = monitored.containers("alertmanager", running=True)
    start = ["/bin/sh", "/etc/alertmanager/vdt/start.sh", "/bin/true"]

    def exec_with(url: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run COMMAND in the container with ALERT_WEBHOOK_URL=URL."""
        return docker(
            "exec", "-e", f"ALERT_WEBHOOK_URL={url}", alertmanager["Id"], *command,
            check=False, timeout=30,
        )  # fmt: skip

    refused = exec_with("ftp://alerts.example.org/", *start)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "must be an http:// or https:// URL" in refused.stderr
    # The container's own loopback: nothing leaves it if Alertmanager posts meanwhile.
    url = "http://127.0.0.1:9/alerts"
    try:
        written = exec_with(url, *start)
        assert written.returncode == 0, written.stderr
        mode = exec_with("", "stat", "-c", "%a %u", "/alertmanager/webhook_url")
        assert mode.stdout.split() == ["600", "65534"], mode.stdout + mode.stderr
        assert exec_with("", "cat", "/alertmanager/webhook_url").stdout == url
    finally:
        exec_with("", "rm", "-f", "/alertmanager/webhook_url")
