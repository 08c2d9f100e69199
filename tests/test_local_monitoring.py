"""`make run MONITORING=1`: a real Prometheus (Debian's package) scraping the local replicas.

Skipped, visibly and with the install command, when prometheus or alertmanager is not installed;
CI installs them (scripts/install-from-forky.sh prometheus prometheus-alertmanager).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.figures import save
from devtools.local_stack.prometheus import ALERTMANAGER_INSTALL_COMMAND, INSTALL_COMMAND
from devtools.paths import REPO
from devtools.processes import free_port, port_open
from tests.stack_helpers import new_stack, served_by
from tests.tls import tls_dir

pytestmark = pytest.mark.stack

REPLICAS = 3
WHOAMI_COUNT = 'sum by (instance) (attendee_directory_http_requests_total{route="/api/whoami"})'


def _prometheus_or_skip() -> None:
    """Skip with the install command when Prometheus or Alertmanager is not on PATH."""
    if shutil.which("prometheus") is None:
        pytest.skip(f"prometheus is not installed: run `{INSTALL_COMMAND}`")
    if shutil.which("prometheus-alertmanager") is None:
        pytest.skip(f"alertmanager is not installed: run `{ALERTMANAGER_INSTALL_COMMAND}`")


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """A local stack of 3 replicas with Prometheus on a free port."""
    _prometheus_or_skip()
    stack = new_stack(
        tmp_path_factory,
        "monitored",
        replicas=REPLICAS,
        monitoring=True,
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
    )
    with stack as running:
        yield running


def _api(stack, path: str, **params) -> dict:
    """GET Prometheus' API PATH on 127.0.0.1; its `data`."""
    response = requests.get(f"{stack.prometheus.url}/api/v1/{path}", params=params, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _targets(stack) -> dict[str, str]:
    """Each scraped target's address -> its health ('up', 'down' or 'unknown')."""
    return {
        target["labels"]["instance"]: target["health"]
        for target in _api(stack, "targets", state="active")["activeTargets"]
    }


def _whoami_counts(stack) -> dict[str, float]:
    """Prometheus' latest GET /api/whoami count per replica address."""
    result = _api(stack, "query", query=WHOAMI_COUNT)["result"]
    return {sample["metric"]["instance"]: float(sample["value"][1]) for sample in result}


def _poll(check, timeout: float, interval: float = 0.5):
    """CHECK() until it returns something truthy, at most TIMEOUT seconds; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_prometheus_sees_every_replica_up(monitored, pytestconfig):
    """Every replica's 127.0.0.1 port is a target, and all are up within 30 s of the start."""
    wanted = {f"127.0.0.1:{replica.port}" for replica in monitored.backends}
    started = time.monotonic()
    targets = _poll(
        lambda: (
            (found := _targets(monitored)) and all(found.get(t) == "up" for t in wanted) and found
        ),
        timeout=30,
    )
    targets = targets or _targets(monitored)
    assert {t: targets.get(t) for t in wanted} == dict.fromkeys(wanted, "up"), targets
    took = round(time.monotonic() - started, 1)
    name = f"make run MONITORING=1: {len(wanted)} replica targets up after Prometheus was ready"
    save(pytestconfig, "monitoring-local", {name: {"s": took}})
    # Only 127.0.0.1 is listened on: the UI and API are not reachable from elsewhere.
    assert monitored.prometheus.url.startswith("http://127.0.0.1:")
    if shutil.which("prometheus-nginx-exporter"):
        nginx = _poll(lambda: _api(monitored, "query", query="nginx_up")["result"], timeout=15)
        assert nginx and nginx[0]["value"][1] == "1", nginx


def test_a_replicas_request_counter_in_prometheus_grows_with_requests_through_nginx(monitored):
    """30 GETs through nginx: Prometheus' per-replica counters grow by exactly X-Served-By's."""
    addresses = {replica.name: f"127.0.0.1:{replica.port}" for replica in monitored.backends}
    with requests.Session() as http:
        served_by(http, f"{monitored.url}/api/whoami", 3)  # every replica has the series
        before = _poll(lambda: len(c := _whoami_counts(monitored)) == REPLICAS and c, timeout=30)
        assert before, _whoami_counts(monitored)
        seen = served_by(http, f"{monitored.url}/api/whoami", 30)
    expected = {
        addresses[name.rsplit("/", 1)[-1]]: before[addresses[name.rsplit("/", 1)[-1]]] + count
        for name, count in seen.items()
    }

    def grown() -> dict | None:
        """The counts once every replica's has grown by what it served, else None."""
        now = _whoami_counts(monitored)
        return now if all(now.get(a) == c for a, c in expected.items()) else None

    after = _poll(grown, timeout=30) or _whoami_counts(monitored)
    assert sum(after.values()) - sum(before.values()) == 30, (before, after, seen)
    for address, count in expected.items():
        assert after[address] == count, (before, after, seen)


# The stop sends each of Prometheus, Alertmanager, the two exporters, nginx, the replica and the
# database SIGTERM and waits up to 10 s (then SIGKILL and 5 s more): the bound of a stop that
# works as designed.
STOP_BOUND_S = 7 * (10 + 5) + 15


def test_make_run_with_monitoring_leaves_no_process_after_ctrl_c(tmp_path):
    """`python -m devtools.local_stack --monitoring` (make run MONITORING=1), then SIGINT: it
    exits 0, Prometheus' port is closed and no process of the run is left."""
    _prometheus_or_skip()
    port, prometheus_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "devtools.local_stack", "--replicas", "1", "--port", str(port),
        "--https-port", str(free_port()), "--tls-dir", str(tls_dir()),
        "--monitoring", "--prometheus-port", str(prometheus_port), "--state-dir", str(tmp_path),
        "--alertmanager-port", str(free_port()),
    ]  # fmt: skip
    # Started with SIGINT ignored, as a non-interactive shell starts a background job (how a CI
    # runner may start the whole suite): the run must still stop on SIGINT.
    run = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        output = []
        for line in run.stdout:  # bounded: the run prints a few lines, or exits on failure
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        assert port_open(prometheus_port), "".join(output)
        run.send_signal(signal.SIGINT)
        try:
            output.append(run.communicate(timeout=STOP_BOUND_S)[0])
        except subprocess.TimeoutExpired:
            run.kill()
            pytest.fail(
                f"not stopped {STOP_BOUND_S} s after Ctrl-C\n{''.join(output)}{_logs(tmp_path)}"
            )
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, "".join(output)
    assert "stopped: Prometheus, Alertmanager, nginx" in "".join(output)
    assert not port_open(prometheus_port)
    assert _processes_mentioning(str(tmp_path)) == []


def _logs(state_dir: Path) -> str:
    """The last lines of every log of a run, to show what a slow stop was waiting for."""
    return "".join(
        f"\n--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in sorted(state_dir.rglob("*.log"))
    )


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain TEXT."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        if text in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.parametrize(
    "url", ["ftp://alerts.example.org/", "alerts.example.org/hook", "https://"]
)
def test_a_webhook_url_alertmanager_cannot_post_to_is_refused_before_anything_starts(url, tmp_path):
    """ALERT_WEBHOOK_URL that is not an http(s) URL with a host: exit 2 naming the variable, and
    nothing started (no state directory), rather than an Alertmanager failing at its first alert."""
    state = tmp_path / "state"
    run = subprocess.run(
        [sys.executable, "-m", "devtools.local_stack", "--monitoring", "--state-dir", str(state)],
        cwd=REPO,
        env={**os.environ, "ALERT_WEBHOOK_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "ALERT_WEBHOOK_URL must be an http:// or https:// URL" in run.stderr
    assert not state.exists()
