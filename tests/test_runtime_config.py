"""The webserver's settings at start: nginx_config renders the container's config from its
environment, refuses a bad value naming the variable, and takes a static list of replicas
(BACKEND_SERVERS) in place of Docker's DNS. The running image is tested in test_containers.py."""

import os
import re
import subprocess
import sys

import pytest

from devtools.paths import REPO
from nginx_config import FrontDoorError, render_container

RENDERER = REPO / "webserver" / "nginx_config.py"


def upstream_block(config: str) -> str:
    """The body of the rendered `upstream backend { ... }` block."""
    return re.search(r"upstream backend \{\n(.*?)\n    \}", config, re.S).group(1)


def test_backend_servers_replace_the_resolved_name_with_static_lines():
    """Space or comma separated host:port replicas (names, IPv4, [IPv6]) become plain server
    lines with the same passive health check, the keepalive pool kept, and no resolver."""
    config = render_container(
        env={"BACKEND_SERVERS": "10.0.0.7:5000, app-2:5000 [::1]:5001,vdt_backend_3:5000"}
    )
    block = upstream_block(config)
    servers = re.findall(r"^\s+server (.+);$", block, re.M)
    assert servers == [
        f"{address} max_fails=1 fail_timeout=5s"
        for address in ("10.0.0.7:5000", "app-2:5000", "[::1]:5001", "vdt_backend_3:5000")
    ]
    assert "keepalive 32;" in block and "resolve" not in block
    assert not re.search(r"^\s*resolver ", config, re.M)
    # The retry behaviour is the template's and does not depend on how replicas are found.
    assert "proxy_next_upstream error timeout http_502 http_504;" in config


def test_without_backend_servers_the_backend_name_is_re_resolved():
    """The default: Docker's DNS, `backend:5000 ... resolve`."""
    config = render_container(env={})
    assert "resolver 127.0.0.11 valid=2s ipv6=off;" in config
    assert "server backend:5000 max_fails=1 fail_timeout=5s resolve;" in upstream_block(config)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BACKEND_SERVERS", "10.0.0.7:5000;include /etc/passwd"),
        ("BACKEND_SERVERS", "app:0"),
        ("BACKEND_SERVERS", "app"),
        ("BACKEND_SERVERS", "app:5000 app:5000"),
        ("BACKEND_ADDRESS", "backend:5000 resolve; }"),
        ("NGINX_RESOLVER", "valid=5s"),
        ("NGINX_RESOLVER", "10.0.0.10;"),
        ("SERVER_NAMES", "example.org; return 200"),
        ("READ_RATE", "fast"),
        ("WRITE_BURST", "0"),
        ("CONN_LIMIT", "99999"),
        ("LIMIT_STATUS", "200"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TLS", "yes"),
        ("HTTPS_PORT", "70000"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name, value):
    """Nothing of a bad value reaches the config (no `;` or brace can add a directive), and
    the error says which variable to fix."""
    with pytest.raises(FrontDoorError, match=name):
        render_container(env={name: value})


def test_start_refuses_a_bad_value_before_nginx_runs(tmp_path):
    """`nginx_config.py start` (the image's command) exits non-zero naming the variable and
    writes no config, so nginx never starts on a half-checked setting."""
    config = tmp_path / "nginx.conf"
    result = subprocess.run(
        [sys.executable, str(RENDERER), "start", str(config)],
        env={**os.environ, "READ_RATE": "lots"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "READ_RATE must look like 50r/s" in result.stderr
    assert not config.exists()


def test_the_image_renders_at_start_not_at_build():
    """No front-door setting is a build argument any more: the Dockerfile declares only the
    base images, and compose passes the settings as the webserver's environment."""
    dockerfile = (REPO / "webserver" / "Dockerfile").read_text()
    assert re.findall(r"^ARG (\w+)", dockerfile, re.M) == ["NGINX_IMAGE", "PYTHON_IMAGE"]
    assert '"start", "/tmp/nginx.conf"]' in dockerfile
