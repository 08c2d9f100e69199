"""The whole stack on this machine: a database, N backend replicas under granian, and nginx."""

import contextlib
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from attendee_directory.config import ServerSettings, Settings, default
from nginx_config import FrontDoor

from ..paths import REPO
from ..processes import free_port, http_ok, port_open, start, stop, wait_until
from . import nginx
from .mongo_server import MongoServer, start_mongo
from .prometheus import LocalPrometheus, find_prometheus

MAIN_WEIGHT = 4  # with --canary, each main replica weighs 4 and the canary 1
CANARY_WEIGHT = 1


@dataclass
class Replica:
    """One backend replica: a granian main process and its workers on 127.0.0.1:port."""

    name: str
    port: int
    weight: int
    process: subprocess.Popen | None = field(default=None, repr=False)
    started: float = 0.0  # time.monotonic() of the last start

    def running(self) -> subprocess.Popen:
        """The replica's main process; RuntimeError if it is not started."""
        if self.process is None:
            raise RuntimeError(f"replica {self.name} is not started")
        return self.process


@dataclass
class LocalStack:
    """Starts and stops the three tiers; used by `make run`, the stack tests and the benchmark."""

    state_dir: Path
    replicas: int = 2
    port: int = 8080
    canary: bool = False
    workers: int = 1
    threads: int = default(ServerSettings, "web_threads")
    mongo_uri: str | None = None
    mongo_db: str = default(Settings, "mongo_db")
    # HTTPS (the app) on https_port, plain HTTP (a redirect to it) on port; the certificate is
    # tls_dir's tls.crt and tls.key, made there by scripts/make-secrets.sh when missing.
    https_port: int = 8443
    tls_dir: Path = REPO / "secrets"
    # False: no TLS at nginx, the app on plain HTTP at port (the benchmark's comparisons).
    tls: bool = True
    # What nginx admits (nginx_config.FrontDoor): the product's defaults unless told. nginx
    # counts the requests of one event-loop pass as one millisecond's: a load test with many
    # connections needs bursts as large as its connection count, whatever the rate.
    front_door: FrontDoor = field(default_factory=FrontDoor)
    # What nginx serves at / (make run's UI_ROOT: a copy being edited, for the dev loop).
    ui_root: Path = nginx.UI_ROOT
    extra_env: dict = field(default_factory=dict)
    # MONITORING=1: Prometheus scraping the replicas, its API on 127.0.0.1:prometheus_port.
    monitoring: bool = False
    prometheus_port: int = 9090
    database: MongoServer | None = field(default=None, init=False)
    backends: list[Replica] = field(default_factory=list, init=False)
    nginx_process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    prometheus: LocalPrometheus | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """Where nginx serves the app: HTTPS (plain HTTP if tls is off)."""
        return f"https://127.0.0.1:{self.https_port}" if self.tls else self.http_url

    @property
    def http_url(self) -> str:
        """nginx's plain HTTP: a redirect to url (and nginx's liveness)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The certificate authority that clients trust to verify url's certificate."""
        return self.tls_dir / "ca.crt"

    @property
    def admin_password_file(self) -> Path:
        """The first admin's password: made on the first start, kept for the next ones."""
        return self.state_dir / "admin_password"

    def admin_password(self) -> str:
        """The first admin's password (the file's contents)."""
        return self.admin_password_file.read_text(encoding="utf-8").strip()

    def _make_admin_password(self) -> None:
        """A random password for the first admin, in a file only this user can read."""
        if self.admin_password_file.exists():
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.admin_password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(18))

    @property
    def logs(self) -> Path:
        """Where every process of the stack writes its log."""
        return self.state_dir / "logs"

    def start(self) -> Self:
        """Start the database, the replicas and nginx, each waited for; stop all on failure."""
        nginx_binary = nginx.find_nginx()
        _refuse_busy_port(self.port)
        if self.tls:
            _refuse_busy_port(self.https_port, "HTTPS_PORT")
        if self.monitoring:
            find_prometheus()  # before anything starts: a missing binary says how to install it
            _refuse_busy_port(self.prometheus_port, "PROMETHEUS_PORT")
        self._make_admin_password()
        try:
            self.database = start_mongo(self.state_dir / "db", uri=self.mongo_uri)
            names = [f"backend-{i}" for i in range(1, self.replicas + 1)]
            weight = MAIN_WEIGHT if self.canary else 1
            self.backends = [Replica(n, free_port(), weight) for n in names]
            if self.canary:
                self.backends.append(Replica("canary", free_port(), CANARY_WEIGHT))
            for replica in self.backends:
                self.start_replica(replica)
            for replica in self.backends:
                wait_until(
                    functools.partial(http_ok, f"http://127.0.0.1:{replica.port}/readyz"),
                    timeout=60,
                    what=f"replica {replica.name} (log: {self.logs / replica.name}.log)",
                    process=replica.process,
                )
            config = nginx.write_config(
                self.state_dir / "nginx",
                self.port,
                [(r.port, r.weight) for r in self.backends],
                https_port=self.https_port if self.tls else None,
                tls_dir=self.tls_dir,
                front_door=self.front_door,
                ui_root=self.ui_root,
            )
            nginx.check_config(nginx_binary, config)
            self.nginx_process = nginx.start_nginx(
                config, f"{self.http_url}/nginx-health", self.logs / "nginx.log"
            )
            if self.monitoring:
                self.prometheus = LocalPrometheus(
                    self.state_dir / "prometheus", self.prometheus_port, self.logs
                ).start([r.port for r in self.backends], config.parent / "status.sock")
        except BaseException:
            self.stop()
            raise
        return self

    def running_database(self) -> MongoServer:
        """The database the replicas use; RuntimeError before start()."""
        if self.database is None:
            raise RuntimeError("the stack's database is not started")
        return self.database

    def replica_env(self, replica: Replica) -> dict:
        """The environment of one replica: its port, its name and the database."""
        return {
            "HOST": "127.0.0.1",
            "PORT": str(replica.port),
            # Replicas share this host's name, so the name says which one answered.
            "REPLICA_NAME": f"{socket.gethostname()}/{replica.name}",
            "MONGO_URI": self.running_database().uri,
            "MONGO_DB": self.mongo_db,
            "WEB_CONCURRENCY": str(self.workers),
            "WEB_THREADS": str(self.threads),
            # The first admin, created by the first replica to start on an empty database.
            "ADMIN_PASSWORD_FILE": str(self.admin_password_file),
            **self.extra_env,
        }

    def replica_command(self) -> list[str]:
        """How a replica is started: the image's server and settings (serve.py)."""
        return [sys.executable, "-m", "attendee_directory.serve"]

    def start_replica(self, replica: Replica) -> None:
        """Start (or restart) one replica."""
        log = self.logs / f"{replica.name}.log"
        replica.process = start(self.replica_command(), log, self.replica_env(replica))
        replica.started = time.monotonic()

    def restart_replica(self, replica: Replica) -> None:
        """Kill every process of REPLICA's group (the old main process and any worker it left
        behind), reap it, and start the replica again on its port."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(replica.running().pid, signal.SIGKILL)
        replica.running().wait(10)
        self.start_replica(replica)

    def age(self, replica: Replica) -> float:
        """Seconds since REPLICA was last started."""
        return time.monotonic() - replica.started

    def kill_replica(self, index: int, sig: int = signal.SIGKILL) -> Replica:
        """Send SIG to every process of one replica (SIGKILL: a crash, no goodbye)."""
        replica = self.backends[index]
        os.killpg(replica.running().pid, sig)
        replica.running().wait(10)
        return replica

    def stop(self) -> None:
        """Stop Prometheus, nginx, the replicas and the database (if started here); data stays
        on disk."""
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        if self.nginx_process is not None:
            stop(self.nginx_process)
            self.nginx_process = None
        for replica in self.backends:
            if replica.process is not None:
                stop(replica.process)
                replica.process = None
        if self.database is not None:
            self.database.stop()

    def describe(self) -> str:
        """What is running, for the person who started it."""
        lines = [
            f"database : {self.running_database().describe()}",
            *(
                f"replica  : {r.name} on 127.0.0.1:{r.port}, weight {r.weight}, "
                f"pid {r.running().pid}"
                for r in self.backends
            ),
            f"nginx    : {self.url} (config {self.state_dir / 'nginx' / 'nginx.conf'}); "
            f"{self.http_url} redirects there",
            f"TLS      : {self.tls_dir / 'tls.crt'}; trust {self.ca_file} "
            f"(curl --cacert {self.ca_file} {self.url}/api/whoami)",
            f"sign in  : admin, with the password in {self.admin_password_file}",
            f"logs     : {self.logs}",
        ]
        if self.prometheus is not None:
            lines.insert(-1, f"prometheus: {self.prometheus.describe()}")
        return "\n".join(lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _refuse_busy_port(port: int, setting: str = "PORT") -> None:
    """Fail early, and clearly, when something already listens on a port the stack needs."""
    if port_open(port):
        raise RuntimeError(f"port {port} on 127.0.0.1 is in use; choose another with {setting}=...")
