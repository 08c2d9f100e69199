"""`make run MONITORING=1` end to end: alerts reach a receiver, and every dashboard panel has data.

One local stack for the module (3 replicas, Prometheus, Alertmanager, the exporters that are
installed) with ALERT_WEBHOOK_URL pointed at a small HTTP receiver that this test runs on
127.0.0.1. The shipped monitoring files are loaded as copies with shorter waits (evaluation
every 1 s, every `for:` 2 s, Alertmanager's group waits 1-2 s); docs/monitoring.md gives the
timings with the shipped ones. Skipped, with the install command, without Prometheus or
Alertmanager; CI installs both (scripts/install-from-forky.sh).
"""

import json
import math
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml  # type: ignore[import-untyped]  # (PyYAML ships no type hints; no stubs in the lock)

from devtools.figures import save
from devtools.local_stack.prometheus import (
    ALERTMANAGER_INSTALL_COMMAND,
    EXPORTER,
    INSTALL_COMMAND,
    MONITORING,
    NODE_EXPORTER,
)
from devtools.local_stack.stack import LocalStack
from devtools.processes import free_port, http_ok, wait_until
from tests.stack_helpers import new_stack

# An outage and a killed replica on the real stack: a fault run, left out of make check.
pytestmark = [pytest.mark.stack, pytest.mark.faults]

DASHBOARD = MONITORING / "grafana" / "dashboards" / "attendee-directory.json"
# Panels that may have no data here, each with the reason.
ALLOWED_EMPTY = {
    "Container CPU": "cAdvisor is not packaged in Debian and no registry is reachable in CI",
    "Container memory": "cAdvisor is not packaged in Debian and no registry is reachable in CI",
    "Time since the last backup": (
        "attendee_directory_backup_last_success_timestamp_seconds comes from the backup job "
        "(branch backup), which make run does not run"
    ),
}
# What Grafana puts in place of its built-in variables, for Prometheus' own API.
BUILT_INS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
MAX_BODY = 1 << 20  # Alertmanager's posts are a few kB; anything larger is refused


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it, with its arrival."""

    server: ThreadingHTTPServer
    posts: list[tuple[float, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """ALERT_WEBHOOK_URL for the stack."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def since(self, started: float) -> list[tuple[float, dict]]:
        """The posts that arrived after STARTED (time.monotonic())."""
        with self.lock:
            return [(at, body) for at, body in self.posts if at >= started]


def start_receiver() -> Receiver:
    """A Receiver serving in a background thread."""
    received: list[tuple[float, dict]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        """Keeps a POSTed JSON body; 400 for anything else."""

        def do_POST(self) -> None:
            """Store the body and answer 200."""
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                self.send_error(400, "a JSON body of at most 1 MiB")
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "not JSON")
                return
            with lock:
                received.append((time.monotonic(), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            """Quiet: pytest shows the posts in a failure's message."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Receiver(server, received, lock)


def shortened_monitoring(directory: Path) -> Path:
    """Copies of monitoring/'s Prometheus config, rules and Alertmanager config in DIRECTORY,
    with evaluation every 1 s, every `for:` 2 s and Alertmanager's waits of 1-2 s."""
    prometheus = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    prometheus["global"]["evaluation_interval"] = "1s"
    (directory / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "2s"
    (directory / "alerts.yml").write_text(yaml.safe_dump(rules))
    alertmanager = yaml.safe_load((MONITORING / "alertmanager" / "alertmanager.yml").read_text())
    for route in [alertmanager["route"], *alertmanager["route"].get("routes", [])]:
        route["group_wait"] = "1s"
        route["group_interval"] = "2s"
    (directory / "alertmanager").mkdir()
    (directory / "alertmanager" / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager))
    return directory


@pytest.fixture(scope="module")
def alerting(tmp_path_factory):
    """The stack with monitoring, its alerts posted to a Receiver; (stack, receiver)."""
    if shutil.which("prometheus") is None:
        pytest.skip(f"prometheus is not installed: run `{INSTALL_COMMAND}`")
    if shutil.which("prometheus-alertmanager") is None:
        pytest.skip(f"alertmanager is not installed: run `{ALERTMANAGER_INSTALL_COMMAND}`")
    receiver = start_receiver()
    stack = new_stack(
        tmp_path_factory,
        "alerting",
        monitoring=True,
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        alert_webhook_url=receiver.url,
        monitoring_dir=shortened_monitoring(tmp_path_factory.mktemp("monitoring")),
    )
    try:
        with stack as running:
            wanted = {f"127.0.0.1:{replica.port}" for replica in running.backends}
            wait_until(
                lambda: wanted <= _up_backends(running),
                timeout=60,
                what="every replica up in Prometheus",
            )
            yield running, receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def _prometheus(stack: LocalStack, path: str, **params) -> dict:
    """GET Prometheus' API PATH; its `data`."""
    assert stack.prometheus is not None
    response = requests.get(f"{stack.prometheus.url}/api/v1/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _up_backends(stack: LocalStack) -> set[str]:
    """The backend targets that Prometheus' last scrape found up."""
    result = _prometheus(stack, "query", query='up{job="backend"} == 1')["result"]
    return {sample["metric"]["instance"] for sample in result}


def _find(
    receiver: Receiver, started: float, alertname: str, status: str, **labels: str
) -> tuple[float, dict, dict] | None:
    """The first post since STARTED carrying ALERTNAME in STATUS with LABELS: (arrival, post,
    the alert), or None."""
    for at, post in receiver.since(started):
        for alert in post.get("alerts", []):
            wanted = {"alertname": alertname, **labels}
            if alert.get("status") == status and wanted.items() <= alert["labels"].items():
                return at, post, alert
    return None


def _wait_for(
    receiver: Receiver,
    started: float,
    alertname: str,
    status: str,
    timeout: float,
    meanwhile: Callable[[], None] = lambda: None,
    **labels: str,
) -> tuple[float, dict, dict]:
    """Poll until _find finds the post (calling MEANWHILE between polls); fail after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _find(receiver, started, alertname, status, **labels)
        if found:
            return found
        meanwhile()
        time.sleep(0.2)
    posts = [post for _, post in receiver.since(started)]
    raise AssertionError(f"no {status} {alertname} {labels} within {timeout} s; posts: {posts}")


@contextmanager
def database_paused(stack: LocalStack) -> Iterator[None]:
    """The database stops answering (SIGSTOP: its connections stay open, nothing answers),
    and answers again afterwards."""
    process = stack.running_database().process
    assert process is not None, "the database was not started by the stack"
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGCONT)


def _readyz_burst(stack: LocalStack, count: int = 3) -> list[int]:
    """COUNT GETs of /readyz on every replica directly (503 while the database is away)."""
    statuses = []
    with requests.Session() as http:
        http.headers.update(stack.replica_headers)  # straight to a replica: the run's secret
        for replica in stack.backends:
            for _ in range(count):
                try:
                    url = f"http://127.0.0.1:{replica.port}/readyz"
                    statuses.append(http.get(url, timeout=8).status_code)
                except requests.RequestException:
                    statuses.append(0)
    return statuses


def _alertmanager_alerts(stack: LocalStack, alertname: str) -> list[dict]:
    """Alertmanager's current alerts named ALERTNAME, with their state and inhibitors."""
    assert stack.prometheus is not None
    response = requests.get(
        f"{stack.prometheus.alertmanager_url}/api/v2/alerts",
        params={"filter": f'alertname="{alertname}"'},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_database_that_stops_answering_pages_once_and_then_resolves(alerting, pytestconfig):
    """The database stops answering: the receiver gets DatabaseUnreachable firing on the page
    route, one post grouping the replicas, while the 5xx alert that the outage also raises is
    inhibited in Alertmanager; once it answers again, the same alert arrives resolved."""
    stack, receiver = alerting
    started = time.monotonic()
    with database_paused(stack):
        at, post, _ = _wait_for(receiver, started, "DatabaseUnreachable", "firing", timeout=90)
        fired = at - started
        assert post["receiver"] == "page", post
        assert post["groupLabels"] == {"alertname": "DatabaseUnreachable"}, post
        assert {a["labels"]["alertname"] for a in post["alerts"]} == {"DatabaseUnreachable"}

        # Only now the 503s that raise the 5xx alert: it can only become active while the
        # database's alert fires, so a post of it means the inhibition failed.
        def inhibited() -> list[dict]:
            """The 5xx alert, once Alertmanager has it suppressed by the database's."""
            _readyz_burst(stack, 2)
            alerts = _alertmanager_alerts(stack, "BackendHigh5xxRatio")
            return [a for a in alerts if a["status"]["inhibitedBy"]]

        deadline = time.monotonic() + 90
        while not (suppressed := inhibited()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert suppressed, _alertmanager_alerts(stack, "BackendHigh5xxRatio")
        assert suppressed[0]["status"]["state"] == "suppressed"
        assert _find(receiver, started, "BackendHigh5xxRatio", "firing") is None
        paused_for = time.monotonic() - started
    resumed = time.monotonic()
    at, post, alert = _wait_for(receiver, resumed, "DatabaseUnreachable", "resolved", timeout=90)
    assert post["receiver"] == "page"
    assert alert["endsAt"] > alert["startsAt"]
    # Every replica's, not only the first: until then the inhibition holds (the next test's
    # replica alert included).
    wait_until(
        lambda: any(
            post["status"] == "resolved"
            and post["groupLabels"] == {"alertname": "DatabaseUnreachable"}
            for _, post in receiver.since(resumed)
        ),
        timeout=90,
        what="DatabaseUnreachable resolved for every replica",
    )
    save(
        pytestconfig,
        "alerting-database",
        {
            "make run MONITORING=1, shortened waits: database paused -> DatabaseUnreachable "
            "firing at the receiver": {"s": round(fired, 1)},
            "database answering again -> resolved at the receiver": {"s": round(at - resumed, 1)},
            "database paused in all": {"s": round(paused_for, 1)},
        },
    )


def test_a_replica_killed_for_good_is_reported_then_resolved_when_back(alerting, pytestconfig):
    """One replica's processes are killed and nothing restarts them (no supervisor here): the
    receiver gets BackendReplicaDown for that replica's address on the ticket route; started
    again on its port, the alert arrives resolved."""
    stack, receiver = alerting
    started = time.monotonic()
    replica = stack.kill_replica(0)
    instance = f"127.0.0.1:{replica.port}"
    at, post, alert = _wait_for(
        receiver, started, "BackendReplicaDown", "firing", timeout=90, instance=instance
    )
    fired = at - started
    assert post["receiver"] == "ticket", post
    assert alert["labels"]["severity"] == "warning"
    assert "does not answer" in alert["annotations"]["summary"]
    restarted = time.monotonic()
    stack.start_replica(replica)
    wait_until(
        lambda: http_ok(f"http://{instance}/readyz", headers=stack.replica_headers),
        timeout=60,
        what="the replica restarted",
    )
    at, post, _ = _wait_for(
        receiver, restarted, "BackendReplicaDown", "resolved", timeout=90, instance=instance
    )
    assert post["receiver"] == "ticket"
    save(
        pytestconfig,
        "alerting-replica",
        {
            "make run MONITORING=1, shortened waits: replica killed -> BackendReplicaDown "
            "firing at the receiver": {"s": round(fired, 1)},
            "replica started again -> resolved at the receiver": {"s": round(at - restarted, 1)},
        },
    )


def _panels() -> list[dict]:
    """Every panel of the dashboard that queries Prometheus (rows left out)."""
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p.get("targets")]


def _concrete(expr: str) -> str:
    """EXPR with Grafana's variables replaced as Grafana would for "All" and a short range."""
    for name, value in BUILT_INS.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?instance\}?", ".*", expr)


def _traffic(stack: LocalStack) -> None:
    """Real traffic of every kind the dashboard shows: reads through nginx on every replica,
    404s, failed sign-ins up to a lock-out, and a short database outage (503s, failed
    commands)."""
    with requests.Session() as http:
        http.verify = str(stack.ca_file)
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override the session's CA
        for _ in range(30):
            assert http.get(f"{stack.url}/api/whoami", timeout=10).status_code == 200
        for _ in range(5):
            assert http.get(f"{stack.url}/api/no-such-route", timeout=10).status_code == 404
    # Straight to one replica: nginx's write limit would refuse some before the app counts them.
    signin = f"http://127.0.0.1:{stack.backends[0].port}/api/session"
    wrong = {"username": "dashboard-test-nobody", "password": "not the password"}
    secret = stack.replica_headers
    statuses = [
        requests.post(signin, json=wrong, headers=secret, timeout=10).status_code for _ in range(8)
    ]
    assert 401 in statuses and 429 in statuses, statuses
    with database_paused(stack):
        deadline = time.monotonic() + 30
        while 503 not in _readyz_burst(stack, 1) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(6)  # a scrape of every replica while it is away: database_ready 0
        assert 503 in _readyz_burst(stack, 1)
    wait_until(lambda: 200 in _readyz_burst(stack, 1), timeout=30, what="the database back")


def test_every_dashboard_panel_has_data_after_real_traffic(alerting, pytestconfig):
    """Each panel's every query, evaluated by the stack's Prometheus after real traffic, returns
    a non-empty result with a number in it, but for the panels allowed to be empty (each with
    its reason); the replica variable's own query lists every replica."""
    stack, _ = alerting
    for exporter in (EXPORTER, NODE_EXPORTER):
        if shutil.which(exporter) is None:
            pytest.skip(
                f"{exporter} is not installed: run `scripts/install-from-forky.sh {exporter}`"
            )
    _traffic(stack)
    panels = _panels()
    titles = {panel["title"] for panel in panels}
    assert set(ALLOWED_EMPTY) <= titles, set(ALLOWED_EMPTY) - titles
    replicas = _prometheus(
        stack, "label/instance/values", **{"match[]": "attendee_directory_build_info"}
    )
    assert set(replicas) == {f"127.0.0.1:{r.port}" for r in stack.backends}

    def empty() -> dict[str, str]:
        """The queries that have no data now: panel title (refId) -> the query."""
        missing = {}
        for panel in panels:
            if panel["title"] in ALLOWED_EMPTY:
                continue
            for target in panel["targets"]:
                result = _prometheus(stack, "query", query=_concrete(target["expr"]))["result"]
                if not any(math.isfinite(float(s["value"][1])) for s in result):
                    missing[f"{panel['title']} ({target['refId']})"] = target["expr"]
        return missing

    started = time.monotonic()
    deadline = started + 60  # the exporters' and replicas' next scrapes
    while (missing := empty()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not missing, missing
    queries = sum(len(p["targets"]) for p in panels if p["title"] not in ALLOWED_EMPTY)
    save(
        pytestconfig,
        "alerting-dashboard",
        {"dashboard: queries with data after the traffic": {"queries": queries}},
    )
