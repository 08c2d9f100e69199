"""Metrics through the real stack: the replicas serve /metrics, the front door does not."""

import json
import socket
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.stack_helpers import new_stack, served_by

pytestmark = pytest.mark.stack


def _whoami_counts(http, stack) -> dict[str, float]:
    """Each replica's own count of answered GET /api/whoami, read from its /metrics directly."""
    counts = {}
    for replica in stack.backends:
        response = http.get(
            f"http://127.0.0.1:{replica.port}/metrics", headers=stack.replica_headers, timeout=5
        )
        assert response.status_code == 200
        counts[replica.name] = sum(
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name == "attendee_directory_http_requests_total"
            and sample.labels["route"] == "/api/whoami"
            and sample.labels["status"] == "200"
        )
    return counts


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/api/../metrics", "/api/metrics"])
def test_the_front_door_answers_metrics_with_404(stack, http, path):
    """nginx proxies /api/ and /readyz only: /metrics is not reachable through it."""
    response = http.get(f"{stack.url}{path}", timeout=5)
    assert response.status_code == 404
    assert "attendee_directory_" not in response.text


def test_per_replica_counters_add_up_to_the_requests_sent_through_nginx(stack, http):
    """30 GETs through nginx: each replica's counter grew by exactly what X-Served-By says."""
    before = _whoami_counts(http, stack)
    seen = served_by(http, f"{stack.url}/api/whoami", 30, timeout=5)
    after = _whoami_counts(http, stack)
    grew = {name: after[name] - before[name] for name in after}
    assert sum(grew.values()) == 30
    for served_name, count in seen.items():
        # X-Served-By is "<host>/<replica name>" (see /api/whoami).
        assert grew[served_name.rsplit("/", 1)[-1]] == count, (seen, grew)


def _get_unix(socket_path, target: str) -> tuple[int, str]:
    """GET TARGET from the HTTP server on the unix socket SOCKET_PATH: (status, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(socket_path))
        client.sendall(f"GET {target} HTTP/1.0\r\nHost: status\r\n\r\n".encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_stub_status_is_on_its_own_listener_only(stack, http):
    """nginx's counters answer on the status socket; the front door knows no such page."""
    status, body = _get_unix(stack.state_dir / "nginx" / "status.sock", "/stub_status")
    assert status == 200
    assert body.startswith("Active connections:")
    assert _get_unix(stack.state_dir / "nginx" / "status.sock", "/api/whoami")[0] == 404
    for path in ("/stub_status", "/nginx_status", "/status"):
        assert http.get(f"{stack.url}{path}", timeout=5).status_code == 404


def test_log_format_json_ties_nginx_and_replica_lines_by_request_id(tmp_path_factory, monkeypatch):
    """LOG_FORMAT=json: nginx's and the replica's lines are JSON and share one X-Request-ID."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    with new_stack(tmp_path_factory, "jsonlog", replicas=1) as running, requests.Session() as http:
        response = http.get(f"{running.url}/api/whoami", timeout=5)
        assert response.status_code == 200
        request_id = response.headers["X-Request-ID"]
        nginx_log = running.state_dir / "nginx" / "access.log"
        replica_log = running.logs / f"{running.backends[0].name}.log"

        def lines(path) -> list[dict]:
            """The JSON lines of PATH that carry our request id."""
            text = path.read_text() if path.exists() else ""
            found = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            return [line for line in found if line.get("request_id") == request_id]

        deadline = time.monotonic() + 10  # nginx and the app flush their buffers every second
        while time.monotonic() < deadline and not (lines(nginx_log) and lines(replica_log)):
            time.sleep(0.2)
        (nginx_line,) = lines(nginx_log)
        (replica_line,) = lines(replica_log)
    assert nginx_line["status"] == 200 and nginx_line["request"].startswith("GET /api/whoami")
    assert replica_line["status"] == 200 and replica_line["target"] == "/api/whoami"
