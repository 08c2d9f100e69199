"""`make run`'s supervisor on a real stack: it restarts replicas that die or hang, and the
database, with nothing of the old processes left serving."""

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from devtools.local_stack.supervisor import FAILURES_TO_RESTART, INTERVAL, PROBE_TIMEOUT, Supervisor
from devtools.processes import http_ok, wait_until
from tests.stack_helpers import admin_token, new_stack

pytestmark = [pytest.mark.stack, pytest.mark.faults]


@pytest.fixture
def supervised(tmp_path_factory):
    """A 2-replica stack (2 workers each) with the supervisor running in the background."""
    with new_stack(tmp_path_factory, "supervised", replicas=2, workers=2) as stack:
        supervisor = Supervisor(stack, say=lambda line: None).start()
        try:
            yield stack, supervisor
        finally:
            supervisor.stop()


def _parent(pid: int) -> int:
    """PID's parent, from /proc."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_frozen_replica_is_killed_and_restarted(supervised):
    """SIGSTOP of a replica's processes: its /healthz stops answering, and the supervisor
    replaces it within its probe budget; the new replica answers on the same port."""
    stack, supervisor = supervised
    replica = stack.backends[0]
    frozen = replica.process.pid
    os.killpg(frozen, signal.SIGSTOP)
    frozen_at = time.monotonic()
    wait_until(
        lambda: replica.process.pid != frozen, timeout=30, what="the frozen replica's restart"
    )
    took = time.monotonic() - frozen_at
    budget = FAILURES_TO_RESTART * (INTERVAL + PROBE_TIMEOUT) + 2 * INTERVAL
    assert took < budget, f"restarted after {took:.1f} s, budget {budget:.1f} s"
    assert supervisor.restarts == {"replica stuck": 1}
    url = f"http://127.0.0.1:{replica.port}/healthz"
    wait_until(
        lambda: http_ok(url, headers=stack.replica_headers), timeout=30, what="the new replica"
    )
    assert not Path(f"/proc/{frozen}").exists() or "Z" in Path(f"/proc/{frozen}/stat").read_text()


def test_only_the_new_replica_answers_after_its_main_process_was_killed(supervised):
    """kill -9 of a replica's main process only: after the restart, every answer on its port
    comes from a worker of the new main process (no orphan of the old one is serving)."""
    stack, supervisor = supervised
    replica = stack.backends[1]
    old_main = replica.process.pid
    os.kill(old_main, signal.SIGKILL)
    wait_until(lambda: replica.process.pid != old_main, timeout=15, what="the restart")
    url = f"http://127.0.0.1:{replica.port}"
    wait_until(
        lambda: http_ok(f"{url}/healthz", headers=stack.replica_headers),
        timeout=30,
        what="the new replica",
    )
    with requests.Session() as http:
        http.headers.update(stack.replica_headers)
        pids = {http.get(f"{url}/api/whoami", timeout=5).json()["pid"] for _ in range(20)}
    assert {_parent(pid) for pid in pids} == {replica.process.pid}
    assert supervisor.restarts == {"replica exited": 1}


def test_a_killed_database_is_restarted_on_its_data_and_the_replicas_recover(supervised):
    """kill -9 of the embedded database: the supervisor reaps it and starts it again on the same
    data; reads through nginx answer again with every attendee, no replica restarted."""
    stack, supervisor = supervised
    if stack.database.process is None:
        pytest.skip("the database is external (MONGO_URI): this stack does not supervise it")
    listing = f"{stack.url}/api/attendees?per_page=1"
    auth = {"Authorization": f"Bearer {admin_token(stack)}"}
    before = requests.get(listing, headers=auth, timeout=5).json()["total"]
    replica_pids = [r.process.pid for r in stack.backends]
    stack.database.process.send_signal(signal.SIGKILL)
    time.sleep(0.5)
    assert requests.get(listing, headers=auth, timeout=10).status_code in (200, 503)

    def answers() -> bool:
        response = requests.get(listing, headers=auth, timeout=10)
        return response.status_code == 200 and response.json()["total"] == before

    wait_until(answers, timeout=40, what="reads after the database restart")
    # The supervisor counts the restart once it has seen the database answer too.
    wait_until(lambda: supervisor.restarts, timeout=10, what="the supervisor's count")
    assert supervisor.restarts == {"database exited": 1}
    assert [r.process.pid for r in stack.backends] == replica_pids
