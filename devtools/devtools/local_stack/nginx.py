"""Host nginx for the local run: found (or installed on Debian/Ubuntu as root), configured, run."""

import grp
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from nginx_config import HTTP2_DIRECTIVE_SINCE, FrontDoor, Tls, Upstream, render

from ..paths import REPO
from ..processes import http_ok, start, stop, wait_until

UI_ROOT = REPO / "webserver" / "ui"
INSTALL_COMMAND = "sudo apt-get install -y nginx-light"


class NginxMissing(RuntimeError):
    """nginx is not installed and cannot be installed from here."""


def find_nginx(install: bool = True) -> str:
    """Return the nginx binary; as root on Debian/Ubuntu, install nginx-light when it is missing."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("nginx is missing: installing nginx-light with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx-light"],
            check=True,
            env=env,
        )
        return find_nginx(install=False)
    raise NginxMissing(f"nginx is not installed. Install it with:\n    {INSTALL_COMMAND}")


def nginx_version(binary: str) -> str:
    """The version nginx reports, e.g. '1.22.1'."""
    output = subprocess.run([binary, "-v"], capture_output=True, text=True, check=True).stderr
    return output.strip().rsplit("/", 1)[-1]


# nginx's workers when it is started as root: Debian's web server user (base-passwd makes it on
# every Debian and Ubuntu), never root. It needs to read only the UI; the master process reads
# the certificate, the key and the config, and opens the logs, before it drops to this user.
WORKER_USER = "www-data"


def worker_user() -> str | None:
    """WORKER_USER when started as root; otherwise None: the workers run as the user who starts
    nginx (an unprivileged user cannot switch to another)."""
    return WORKER_USER if os.geteuid() == 0 else None


def check_worker_can_read(path: Path, user: str | None) -> None:
    """Fail, saying how to fix it, when USER (nginx's workers) cannot reach the files in PATH:
    every directory up to it must let that user in (e.g. a checkout under a private /root)."""
    if user is None:
        return
    account = pwd.getpwnam(user)
    groups = {account.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
    for directory in [path, *path.parents]:
        mode = directory.stat()
        if mode.st_uid == account.pw_uid:
            allowed = mode.st_mode & stat.S_IXUSR
        elif mode.st_gid in groups:
            allowed = mode.st_mode & stat.S_IXGRP
        else:
            allowed = mode.st_mode & stat.S_IXOTH
        if not allowed:
            raise RuntimeError(
                f"nginx's workers run as {user}, who cannot enter {directory} to serve {path}: "
                f"allow it (chmod o+x {directory}), or run `make run` as a regular user"
            )


# The limits lifted, for load runs (the benchmark, fault and fuzz suites) that send thousands of
# requests a second from one address.
NO_LIMITS = FrontDoor(
    read_rate="100000r/s",
    read_burst=100000,
    write_rate="100000r/s",
    write_burst=100000,
    conn_limit=65535,  # nginx's largest
)
MAKE_SECRETS = REPO / "scripts" / "make-secrets.sh"


def ensure_certificate(
    tls_dir: Path, quiet: bool = False, names: str | None = None
) -> tuple[Path, Path]:
    """TLS_DIR's tls.crt and tls.key, made (or renewed) by scripts/make-secrets.sh --tls-only
    as for compose; the same files serve both. What the script made is printed unless QUIET.
    NAMES: the certificate's (and a new CA's) names, else TLS_NAMES or the script's default."""
    env = {**os.environ, "TLS_NAMES": names} if names else None
    result = subprocess.run(
        [str(MAKE_SECRETS), "--tls-only", str(tls_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{MAKE_SECRETS.name} --tls-only {tls_dir} failed:\n{result.stderr}")
    if "created" in result.stdout and not quiet:
        print(result.stdout.strip(), flush=True)
    if result.stderr and not quiet:
        print(result.stderr.strip(), flush=True)  # e.g. a CA without name constraints
    return tls_dir / "tls.crt", tls_dir / "tls.key"


def write_config(
    runtime_dir: Path,
    port: int,
    replicas: list[tuple[int, int]],
    *,
    https_port: int | None,
    tls_dir: Path,
    front_door: FrontDoor | None = None,
    front_door_secret: str = "",
    ui_root: Path = UI_ROOT,
) -> Path:
    """Render nginx.conf for REPLICAS, a list of (port, weight): HTTPS on 127.0.0.1:HTTPS_PORT
    with TLS_DIR's certificate, plain HTTP (a redirect) on 127.0.0.1:PORT; without HTTPS_PORT,
    the app on plain HTTP (as behind a proxy that ends TLS; the benchmark compares the two).
    FRONT_DOOR_SECRET goes to the replicas with every request; the file is private to its
    owner, as it holds the secret."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    check_worker_can_read(ui_root, worker_user())
    tls = None
    if https_port is not None:
        certificate, key = ensure_certificate(tls_dir)
        tls = Tls(str(certificate), str(key), f"127.0.0.1:{https_port}", https_port)
    version = tuple(int(part) for part in nginx_version(find_nginx(install=False)).split("."))
    config = render(
        listen=f"127.0.0.1:{port}",
        tls=tls,
        http2_directive=version >= HTTP2_DIRECTIVE_SINCE,
        front_door=front_door,
        ui_root=str(ui_root),
        runtime_dir=str(runtime_dir),
        upstreams=[Upstream(f"127.0.0.1:{p}", weight=w) for p, w in replicas],
        access_log=str(runtime_dir / "access.log"),
        error_log=str(runtime_dir / "error.log"),
        user=worker_user(),
        front_door_secret=front_door_secret,
    )
    path = runtime_dir / "nginx.conf"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(config)
    return path


def nginx_args(binary: str, config: Path) -> list[str]:
    """The command line that runs nginx in the foreground on CONFIG."""
    return [binary, "-p", str(config.parent), "-c", str(config), "-g", "daemon off;"]


def check_config(binary: str, config: Path) -> None:
    """Run `nginx -t` on CONFIG, raising with nginx's own message if it is invalid."""
    result = subprocess.run(
        [*nginx_args(binary, config)[:-2], "-t"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"nginx -t failed for {config}:\n{result.stderr}")


def start_nginx(config: Path, ready_url: str, log_path: Path | None = None) -> subprocess.Popen:
    """Run nginx on CONFIG in the foreground and wait until READY_URL answers 2xx."""
    log_path = log_path or config.parent / "nginx.log"
    process = start(nginx_args(find_nginx(install=False), config), log_path)
    try:
        wait_until(
            lambda: http_ok(ready_url),
            timeout=20,
            what=f"nginx on {config} (logs in {config.parent})",
            process=process,
        )
    except BaseException:
        stop(process)
        raise
    return process
