"""Metrics through the real stack: the replicas serve /metrics, the front door does not."""

import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families
from stack_helpers import served_by

pytestmark = pytest.mark.stack


def _whoami_counts(http, stack) -> dict[str, float]:
    """Each replica's own count of answered GET /api/whoami, read from its /metrics directly."""
    counts = {}
    for replica in stack.backends:
        response = http.get(f"http://127.0.0.1:{replica.port}/metrics", timeout=5)
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
