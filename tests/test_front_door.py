"""The front door on the real nginx: TLS (versions, ALPN, redirect, HSTS), the host check and
the host the replicas are told, slow clients, the read and connection limits, trusted proxies,
and the replicas that answer nginx only. Each stack here is a local stack (nginx in front of
real replicas and the database) with the settings the test is about."""

import collections
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from devtools.local_stack.nginx import WORKER_USER
from devtools.signin import ADMIN, browser_session
from nginx_config import FrontDoor, FrontDoorError, render
from tests.stack_helpers import MAKE_SECRETS, admin_token, new_stack
from tests.tls import ca_file

pytestmark = pytest.mark.stack

# A read limit small enough to reach in a few requests: 2 r/s, a burst of 5.
TIGHT = {"read_rate": "2r/s", "read_burst": 5}


def tls_client(stack, protocols: list[str]) -> ssl.SSLSocket:
    """A TLS connection to the stack's HTTPS port that verifies its certificate against the
    session's CA, offering PROTOCOLS by ALPN."""
    context = ssl.create_default_context(cafile=str(ca_file()))
    context.set_alpn_protocols(protocols)
    raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=5)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def s_client(stack, *options: str) -> str:
    """What `openssl s_client` prints when it connects to the stack's HTTPS port with OPTIONS."""
    completed = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{stack.https_port}", *options],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return completed.stdout + completed.stderr


def test_https_verifies_against_the_ca_and_offers_http2(stack):
    """A client that trusts only the generated CA verifies the certificate for 127.0.0.1 and
    gets HTTP/2 by ALPN (and HTTP/1.1 when that is all it offers)."""
    with tls_client(stack, ["h2", "http/1.1"]) as connection:
        assert connection.selected_alpn_protocol() == "h2"
        assert connection.version() in ("TLSv1.2", "TLSv1.3")
    with tls_client(stack, ["http/1.1"]) as connection:
        assert connection.selected_alpn_protocol() == "http/1.1"


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs openssl: apt-get install openssl"
)
def test_tls_1_0_and_1_1_are_refused_1_2_and_1_3_accepted(stack):
    """openssl s_client: TLS 1.0 and 1.1 (offered at security level 0, so the client does
    offer them) get the server's protocol_version alert; 1.2 and 1.3 verify against the CA."""
    for version in ("-tls1", "-tls1_1"):
        printed = s_client(stack, version, "-cipher", "DEFAULT@SECLEVEL=0")
        assert "alert protocol version" in printed, printed
    for version in ("-tls1_2", "-tls1_3"):
        printed = s_client(stack, version, "-CAfile", str(ca_file()), "-verify_return_error")
        assert "Verify return code: 0 (ok)" in printed, printed


def test_plain_http_redirects_to_https_and_hsts_comes_over_https_only(stack):
    """http:// answers 308 to the same path and query on https://, without HSTS; every HTTPS
    answer carries Strict-Transport-Security."""
    plain = requests.get(f"{stack.http_url}/api/whoami?x=1", allow_redirects=False, timeout=5)
    assert plain.status_code == 308
    assert plain.headers["Location"] == f"{stack.url}/api/whoami?x=1"
    assert "Strict-Transport-Security" not in plain.headers
    followed = requests.get(f"{stack.http_url}/api/whoami", timeout=5)
    assert followed.status_code == 200 and followed.url == f"{stack.url}/api/whoami"
    for path in ("/", "/api/whoami", "/api/attendees", "/api/nothing"):
        answer = requests.get(f"{stack.url}{path}", timeout=5)
        assert answer.headers["Strict-Transport-Security"] == "max-age=63072000", path


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_foreign_host_gets_421_never_the_app(stack, scheme):
    """A request naming another host (as a DNS-rebinding page's would) gets a JSON 421 from
    nginx on either port, and no replica sees it; the served names get the app."""
    url = stack.url if scheme == "https" else stack.http_url
    for host in ("evil.example", "attacker.example:8443", "127.0.0.2"):
        answer = requests.get(f"{url}/api/whoami", headers={"Host": host}, timeout=5)
        assert answer.status_code == 421, (host, answer.text)
        assert answer.json()["error"] == "misdirected_request"
        assert "X-Served-By" not in answer.headers
    named = requests.get(f"{stack.url}/api/whoami", headers={"Host": "localhost"}, timeout=5)
    assert named.status_code == 200 and "X-Served-By" in named.headers


def raw_https(stack, request: bytes) -> tuple[int, dict]:
    """Send REQUEST (a whole HTTP/1.1 request, Connection: close) over a verified TLS connection
    to the stack; its status and JSON body (or {})."""
    with tls_client(stack, ["http/1.1"]) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {}


def _attendee() -> bytes:
    """A valid new attendee, as a request body."""
    return json.dumps(
        {
            "full_name": "Host Check",
            "email": f"host-{time.time_ns()}@example.edu",
            "year_of_birth": 2001,
            "gender": "other",
            "university": "PTIT",
            "major": "Security",
        }
    ).encode()


def test_a_write_cannot_name_its_own_host_past_the_origin_check(stack):
    """A signed-in browser's cookie and CSRF token, sent in an absolute-form request whose line
    names a served host but whose Host header (and matching Origin) is evil.example: nginx
    tells the replica the host it admitted, with the port, so the Origin check refuses it
    (403). A request line that names evil.example itself never reaches the app (421). The
    same write from the site's own page, on either served name, is accepted (201)."""
    port = stack.https_port
    with browser_session(stack.url, ADMIN, stack.admin_password()) as browser:
        cookie = browser.cookies["vdt_session"]
        csrf = browser.headers["X-CSRF-Token"]

        def write(target: str, host: str, origin: str) -> tuple[int, dict]:
            body = _attendee()
            return raw_https(
                stack,
                f"POST {target} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n"
                f"Cookie: vdt_session={cookie}\r\nX-CSRF-Token: {csrf}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body,
            )

        forged = write(
            f"https://127.0.0.1:{port}/api/attendees", "evil.example", "https://evil.example"
        )
        assert forged[0] == 403 and forged[1]["error"] == "cross_site_request", forged
        forged_port = write(
            f"https://127.0.0.1:{port}/api/attendees",
            f"evil.example:{port}",
            f"https://evil.example:{port}",
        )
        assert forged_port[0] == 403, forged_port
        foreign = write(
            "https://evil.example/api/attendees", "evil.example", "https://evil.example"
        )
        assert foreign[0] == 421 and foreign[1]["error"] == "misdirected_request", foreign
        made = []
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            own = write("/api/attendees", host, f"https://{host}")
            assert own[0] == 201, (host, own)
            made.append(own[1]["id"])
        for attendee in made:
            assert browser.delete(
                f"{stack.url}/api/attendees/{attendee}",
                headers={"Origin": stack.url},
                timeout=10,
            ).status_code in (204, 404)


def test_200_slow_clients_do_not_slow_anyone_else(stack):
    """Slowloris: 200 connections from one address send a header line every 2 s and never
    finish; meanwhile another client's reads each answer within 1 s, and nginx closes the slow
    connections once client_header_timeout (10 s) has passed."""
    context = ssl.create_default_context(cafile=str(ca_file()))
    slow = []
    for _ in range(200):
        raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=5)
        connection = context.wrap_socket(raw, server_hostname="127.0.0.1")
        connection.sendall(b"GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append(connection)
    stop = threading.Event()

    def trickle() -> None:
        """Keep every slow connection a line further from done, every 2 s, until stopped."""
        while not stop.wait(2):
            for connection in slow:
                try:
                    connection.sendall(f"X-Slow-{uuid.uuid4().hex[:6]}: 1\r\n".encode())
                except OSError:
                    pass  # closed by nginx: that is the point

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        took = []
        deadline = time.monotonic() + 12
        with requests.Session() as reader:
            while time.monotonic() < deadline:
                began = time.monotonic()
                assert reader.get(f"{stack.url}/api/whoami", timeout=5).status_code == 200
                took.append(time.monotonic() - began)
                time.sleep(0.2)
        print(f"\nreads during 200 slow connections: {len(took)}, slowest {max(took):.3f} s")
        assert max(took) < 1, took
    finally:
        stop.set()
        trickler.join()
    closed = 0
    for connection in slow:
        connection.settimeout(2)
        try:
            closed += connection.recv(1024) == b""  # the peer closed it
        except (OSError, ssl.SSLError):
            closed += 1  # reset (reset_timedout_connection)
        finally:
            connection.close()
    assert closed == len(slow), f"{closed} of {len(slow)} slow connections closed by nginx"


def _statuses(url: str, count: int, headers_for) -> collections.Counter:
    """COUNT GETs of URL as fast as one client sends them; HEADERS_FOR(i) gives each one's."""
    seen: collections.Counter = collections.Counter()
    limited = None
    with requests.Session() as session:
        for i in range(count):
            answer = session.get(url, headers=headers_for(i), timeout=5)
            seen[answer.status_code] += 1
            if answer.status_code not in (200, 401):
                limited = answer
    seen["limited_answer"] = limited  # type: ignore[assignment]
    return seen


def test_reads_are_rate_limited_and_spoofed_forwarded_for_does_not_escape(tmp_path_factory):
    """With a read limit of 2/s (burst 5), a burst of 40 reads gets JSON 429s with Retry-After,
    also when each request claims another client in X-Forwarded-For (nobody is trusted)."""
    with new_stack(tmp_path_factory, "read-limit", replicas=1, front_door=FrontDoor(**TIGHT)) as s:
        url = f"{s.url}/api/whoami"
        plain = _statuses(url, 40, lambda i: {})
        time.sleep(3)  # the bucket refills
        spoofed = _statuses(url, 40, lambda i: {"X-Forwarded-For": f"198.51.100.{i + 1}"})
    for seen in (plain, spoofed):
        assert seen[429] >= 30 and seen[200] <= 10, seen
        answer = seen["limited_answer"]
        assert answer.json()["error"] == "too_many_requests"
        assert answer.headers["Retry-After"] == "1"
        assert answer.headers["X-Frame-Options"] == "DENY"  # the server's headers stay


def test_a_burst_of_health_probes_through_nginx_gets_the_limit_status(tmp_path_factory):
    """/readyz (a database ping each) and /healthz through nginx count against the read limit
    like any read: a burst of 40 of each gets JSON 429s with Retry-After."""
    with new_stack(tmp_path_factory, "probe-limit", replicas=1, front_door=FrontDoor(**TIGHT)) as s:
        ready = _statuses(f"{s.url}/readyz", 40, lambda i: {})
        time.sleep(3)  # the bucket refills
        alive = _statuses(f"{s.url}/healthz", 40, lambda i: {})
    for seen in (ready, alive):
        assert seen[429] >= 30 and seen[200] <= 10, seen
        answer = seen["limited_answer"]
        assert answer.json()["error"] == "too_many_requests"
        assert answer.headers["Retry-After"] == "1"


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(tmp_path_factory):
    """TRUSTED_PROXIES=127.0.0.1: each address in X-Forwarded-For has a bucket of its own (40
    clients, one read each: none refused), one client past its burst is refused, and nginx logs
    the client's address, not the proxy's."""
    door = FrontDoor(**TIGHT, trusted_proxies=("127.0.0.1",))
    with new_stack(tmp_path_factory, "trusted", replicas=1, front_door=door) as s:
        url = f"{s.url}/api/whoami"
        many = _statuses(url, 40, lambda i: {"X-Forwarded-For": f"198.51.100.{i + 1}"})
        one = _statuses(url, 40, lambda i: {"X-Forwarded-For": "203.0.113.9"})
        time.sleep(1.5)  # nginx writes its access log in batches, at least once a second
        log = (s.state_dir / "nginx" / "access.log").read_text()
    assert many[200] == 40, many
    assert one[429] >= 30, one
    assert "198.51.100.40 " in log and "203.0.113.9 " in log


def test_the_limit_status_is_a_setting(tmp_path_factory):
    """LIMIT_STATUS=409 (what some graders expect): a refused read is a JSON 409."""
    door = FrontDoor(**TIGHT, limit_status=409)
    with new_stack(tmp_path_factory, "limit-409", replicas=1, front_door=door) as s:
        seen = _statuses(f"{s.url}/api/whoami", 30, lambda i: {})
    assert seen[409] >= 20, seen
    assert seen["limited_answer"].json()["error"] == "too_many_requests"


def test_requests_in_progress_are_limited_per_address(tmp_path_factory):
    """CONN_LIMIT=3: three requests that send their body slowly hold their places; a fourth
    from the same address is refused at once (JSON 429), and it answers again once they end."""
    door = FrontDoor(conn_limit=3)
    with new_stack(tmp_path_factory, "conn-limit", replicas=1, front_door=door) as s:
        token = admin_token(s)
        context = ssl.create_default_context(cafile=str(ca_file()))
        holders = []
        for _ in range(3):
            raw = socket.create_connection(("127.0.0.1", s.https_port), timeout=5)
            connection = context.wrap_socket(raw, server_hostname="127.0.0.1")
            connection.sendall(
                b"POST /api/attendees HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            holders.append(connection)
        time.sleep(0.5)
        refused = requests.get(f"{s.url}/api/whoami", timeout=5)
        for connection in holders:
            connection.close()
        time.sleep(0.5)
        after = requests.get(f"{s.url}/api/whoami", timeout=5)
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("read_rate", "fast"),
        ("write_rate", "10r/h"),
        ("conn_limit", 0),
        ("limit_status", 418),
        ("server_names", "a b;c"),
        ("trusted_proxies", ("10.0.0.0/33",)),
    ],
)
def test_a_bad_front_door_setting_is_refused_by_name(setting, value):
    """The renderer refuses a bad setting before nginx sees it, naming the variable."""
    with pytest.raises(FrontDoorError, match=setting.upper()):
        FrontDoor(**{setting: value})


def test_settings_come_from_the_environment():
    """FrontDoor.from_env reads the variables the image's build arguments set."""
    door = FrontDoor.from_env(
        {
            "SERVER_NAMES": "example.org, www.example.org",
            "READ_RATE": "5r/s",
            "CONN_LIMIT": "7",
            "LIMIT_STATUS": "409",
            "TRUSTED_PROXIES": "10.0.0.0/8 192.168.1.1",
        }
    )
    assert door == FrontDoor(
        server_names="example.org www.example.org",
        read_rate="5r/s",
        conn_limit=7,
        limit_status=409,
        trusted_proxies=("10.0.0.0/8", "192.168.1.1"),
    )
    config = render(listen="8080", ui_root="/ui", runtime_dir="/tmp", upstreams=[], front_door=door)
    assert "set_real_ip_from 10.0.0.0/8;" in config and "limit_req_status 409;" in config
    assert "server_name example.org www.example.org;" in config


def _replicas_answer(stack, path: str, headers: dict) -> set[int]:
    """The statuses that every replica, asked straight (not through nginx), gives PATH."""
    return {
        requests.get(f"http://127.0.0.1:{r.port}{path}", headers=headers, timeout=5).status_code
        for r in stack.backends
    }


@pytest.mark.parametrize(
    "path", ["/api/whoami", "/healthz", "/readyz", "/metrics", "/api/attendees"]
)
def test_a_replica_answers_nothing_that_skipped_nginx(stack, path):
    """make run's replicas listen on 127.0.0.1 ports, which any local user reaches: without the
    run's secret (nginx adds it), or with a wrong one, each answers a JSON 403 and nothing else;
    /metrics answers Prometheus' bearer form of it too."""
    for headers in ({}, {"X-Front-Door-Secret": "x" * 43}, {"X-Forwarded-For": "10.0.0.1"}):
        url = f"http://127.0.0.1:{stack.backends[0].port}{path}"
        answer = requests.get(url, headers=headers, timeout=5)
        assert answer.status_code == 403, (path, headers, answer.text)
        assert answer.json()["error"] == "front_door_required"
        assert "X-Served-By" not in answer.headers
    assert _replicas_answer(stack, path, {}) == {403}
    with_secret = _replicas_answer(stack, path, stack.replica_headers)
    assert with_secret == ({401} if path == "/api/attendees" else {200}), with_secret
    if path == "/metrics":
        bearer = {"Authorization": f"Bearer {stack.front_door_secret}"}
        assert _replicas_answer(stack, path, bearer) == {200}
    else:  # the bearer form is for Prometheus only
        bearer = {"Authorization": f"Bearer {stack.front_door_secret}"}
        assert _replicas_answer(stack, path, bearer) == {403}


def test_forged_forwarded_for_straight_at_a_replica_cannot_dodge_the_signin_throttle(stack):
    """Wrong passwords sent straight to a replica, each claiming another client address in
    X-Forwarded-For: every one is refused before the app runs (no password is checked, no
    throttle counts it, nothing answers 401); the owner then signs in through nginx."""
    url = f"http://127.0.0.1:{stack.backends[1].port}/api/session"
    statuses = collections.Counter(
        requests.post(
            url,
            json={"username": ADMIN, "password": f"wrong-{i}"},
            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            timeout=5,
        ).status_code
        for i in range(30)
    )
    assert statuses == {403: 30}, statuses
    with browser_session(stack.url, ADMIN, stack.admin_password()) as browser:
        assert browser.get(f"{stack.url}/api/session", timeout=5).status_code == 200


def test_nginx_workers_do_not_run_as_root(stack):
    """Started as root (as CI and `sudo make run` start it), nginx's master process stays root
    (it binds the ports and reads the key) and its workers run as www-data; started as another
    user, everything runs as that user. The UI is still served."""
    master = stack.nginx_process.pid
    listed = subprocess.run(
        ["ps", "-o", "user=,pid=", "--ppid", str(master)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    expected = WORKER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert set(listed[0::2]) == {expected}, listed
    assert requests.get(f"{stack.url}/", timeout=5).status_code == 200
    assert requests.get(f"{stack.url}/app.js", timeout=5).status_code == 200


def _openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run openssl with ARGS; its output as text."""
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, timeout=30, check=check
    )


def _days(certificate: Path) -> float:
    """How many days CERTIFICATE is valid for, from notBefore to notAfter."""
    dates = dict(
        line.split("=", 1)
        for line in _openssl("x509", "-in", str(certificate), "-noout", "-startdate", "-enddate")
        .stdout.strip()
        .splitlines()
    )
    start, end = (ssl.cert_time_to_seconds(dates[key]) for key in ("notBefore", "notAfter"))
    return (end - start) / 86400


def _signed_for(directory: Path, name: str) -> Path:
    """A server certificate for NAME (a DNS name, or an IP address) that DIRECTORY's CA signs,
    as whoever holds its key could make one."""
    kind = "IP" if name[0].isdigit() else "DNS"
    (directory / "forged.ext").write_text(f"subjectAltName={kind}:{name}\n")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={name}", "-keyout", str(directory / "forged.key"),
        "-out", str(directory / "forged.csr"),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(directory / "forged.csr"), "-CA", str(directory / "ca.crt"),
        "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-days", "30",
        "-extfile", str(directory / "forged.ext"), "-out", str(directory / "forged.crt"),
    )  # fmt: skip
    return directory / "forged.crt"


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs openssl: apt-get install openssl"
)
def test_a_certificate_for_addresses_first_verifies_under_the_constraints(tmp_path):
    """TLS_NAMES led by an address (the cluster's registry): the certificate still verifies
    under the CA's name constraints (OpenSSL checks a host-like subject CN against the DNS ones,
    so the CN is the first DNS name, or no host name at all)."""
    for names in ("10.77.0.1 127.0.0.1", "127.0.0.1 ::1 devbox.example"):
        directory = tmp_path / names.replace(" ", "_").replace(":", "-")
        subprocess.run(
            [str(MAKE_SECRETS), "--tls-only", str(directory)],
            capture_output=True,
            timeout=60,
            env={**os.environ, "TLS_NAMES": names},
            check=True,
        )
        ca, leaf = str(directory / "ca.crt"), str(directory / "tls.crt")
        verified = _openssl("verify", "-CAfile", ca, leaf, check=False)
        assert verified.stdout.strip().endswith(": OK"), (names, verified.stdout, verified.stderr)


def test_the_local_ca_signs_only_for_tls_names_and_its_leaf_lives_a_year(tmp_path):
    """scripts/make-secrets.sh: the CA carries critical name constraints that permit exactly
    TLS_NAMES and lives 2 years; the server certificate lives at most 366 days and verifies; a
    certificate that the same CA signs for any other name or address fails verification; the
    hint says what trusting the CA means and prefers per-tool trust; a kept CA refuses to sign
    for names it was not made for."""
    directory = tmp_path / "secrets"
    names = {"TLS_NAMES": "localhost 127.0.0.1 app.example"}
    made = subprocess.run(
        [str(MAKE_SECRETS), "--tls-only", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **names},
        check=True,
    )
    ca = _openssl("x509", "-in", str(directory / "ca.crt"), "-noout", "-text").stdout
    constraints = ca.split("X509v3 Name Constraints: critical", 1)[1]
    constraints = constraints.split("X509v3", 1)[0].split("Signature Algorithm", 1)[0]
    assert constraints.split() == [
        "Permitted:",
        "DNS:localhost",
        "IP:127.0.0.1/255.255.255.255",
        "DNS:app.example",
    ], ca
    assert _days(directory / "ca.crt") <= 731
    assert _days(directory / "tls.crt") <= 366
    verified = _openssl("verify", "-CAfile", str(directory / "ca.crt"), str(directory / "tls.crt"))
    assert verified.stdout.strip().endswith(": OK")
    for other in ("evil.example", "sub.app.example.evil", "127.0.0.2"):
        forged = _signed_for(directory, other)
        refused = _openssl("verify", "-CAfile", str(directory / "ca.crt"), str(forged), check=False)
        assert refused.returncode != 0, (other, refused.stdout)
        assert "permitted subtree violation" in refused.stdout + refused.stderr, refused
    assert "whoever holds" in made.stdout and "Avoid the system-wide store" in made.stdout
    assert "update-ca-certificates" not in made.stdout
    (directory / "tls.crt").unlink()
    other = subprocess.run(
        [str(MAKE_SECRETS), "--tls-only", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TLS_NAMES": "localhost other.example"},
        check=False,
    )
    assert other.returncode == 1 and "not other.example" in other.stderr, other.stderr
