"""What the benchmark runs: our stack under a chosen WSGI server, the practice-style setup, nginx.

Every server listens on a free 127.0.0.1 port, logs under the benchmark's state directory and
is stopped when its `with` block ends.
"""

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from string import Template

from attendee_directory.serve import WSGI_APP
from devtools.local_stack.nginx import (
    NO_LIMITS,
    check_config,
    find_nginx,
    start_nginx,
    worker_user,
)
from devtools.local_stack.stack import LocalStack
from devtools.processes import free_port, http_ok, start, stop, wait_until
from nginx_config import FrontDoor

from . import credentials

BENCH = Path(__file__).resolve().parent
PRACTICE_APP = BENCH / "practice_style" / "app.py"
GUNICORN_CONF = BENCH / "gunicorn.conf.py"
# How each server is started, for the report: granian as the image and `make run` start it.
LAUNCHERS = {
    "granian": "`python -m attendee_directory.serve` (`backend/attendee_directory/serve.py`)",
    "gunicorn": "`python -m gunicorn -c devtools/devtools/bench/gunicorn.conf.py`",
}


@dataclass(frozen=True)
class ServerConfig:
    """How each replica serves the app: WSGI server, worker class, workers and threads."""

    server: str  # "granian" (the shipped launcher) or "gunicorn" (gunicorn.conf.py)
    workers: int
    threads: int
    worker_class: str = "gthread"  # gunicorn only

    @property
    def label(self) -> str:
        """A short name for tables, e.g. 'granian wsgi 1x4'."""
        if self.server == "granian":
            return f"granian wsgi {self.workers}x{self.threads}"
        if self.worker_class == "sync":
            return f"gunicorn sync {self.workers}x1"
        return f"gunicorn {self.worker_class} {self.workers}x{self.threads}"

    @property
    def launcher(self) -> str:
        """How a replica under this configuration is started, in Markdown."""
        return LAUNCHERS[self.server]


# Database URI -> the password file of the first admin on it (ServerStack.start).
_ADMIN_PASSWORDS: dict[str, Path] = {}


@dataclass
class ServerStack(LocalStack):
    """LocalStack whose replicas serve APP with the WSGI server that CONFIG names.

    Without CONFIG: the shipped server with LocalStack's workers and threads.
    """

    config: ServerConfig | None = None
    app: str = WSGI_APP
    # nginx's per-address limits lifted (all of the load comes from 127.0.0.1), and the app on
    # plain HTTP, as the practice-style setup serves it; the TLS section turns TLS on.
    front_door: FrontDoor = NO_LIMITS
    tls: bool = False
    # What the benchmark's requests to this stack sign in with (credentials.py).
    credential: credentials.Credential = "token"

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = ServerConfig("granian", self.workers, self.threads)
        self.workers, self.threads = self.config.workers, self.config.threads
        if self.config.server == "gunicorn":
            self.extra_env = {"GUNICORN_WORKER_CLASS": self.config.worker_class, **self.extra_env}

    def replica_command(self) -> list[str]:
        """granian with the shipped launcher serving APP, or gunicorn for comparison."""
        assert self.config is not None  # __post_init__ fills it in
        if self.config.server == "gunicorn":
            return [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), self.app]
        return [*super().replica_command(), self.app]

    def start(self) -> "ServerStack":
        """Start the stack as LocalStack does, then sign its admin in for the benchmark's
        requests (through nginx and straight at each replica). The benchmark's stacks share
        their database: the first one to start on it creates the first admin, and every later
        one takes that admin's password."""
        first = _ADMIN_PASSWORDS.setdefault(self.mongo_uri or "", self.admin_password_file)
        if first != self.admin_password_file:
            self.admin_password_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(first, self.admin_password_file)
        super().start()
        for index in range(len(self.backends)):  # the replicas answer nginx's secret only
            credentials.also_send(self.replica_url(index), self.replica_headers)
        if self.app == WSGI_APP:  # the comparison apps (hello, flask_hello) have no accounts
            urls = [self.url, *(self.replica_url(i) for i in range(len(self.backends)))]
            authority = self.ca_file if self.tls else None
            credentials.sign_in(urls, self.admin_password(), self.credential, authority)
        return self

    def replica_url(self, index: int = 0) -> str:
        """The address of one replica itself, bypassing nginx."""
        return f"http://127.0.0.1:{self.backends[index].port}"


def render_nginx(template: str, runtime_dir: Path, **values: str) -> Path:
    """Render TEMPLATE (beside this file) into RUNTIME_DIR/nginx.conf, checked with `nginx -t`."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    text = Template((BENCH / template).read_text()).substitute(
        user_line=f"user {user};" if (user := worker_user()) else "",
        runtime_dir=str(runtime_dir),
        **values,
    )
    config = runtime_dir / "nginx.conf"
    config.write_text(text)
    check_config(find_nginx(), config)
    return config


@dataclass
class PracticeSetup:
    """The practice-style tier: N Flask dev servers (`python3 app.py`) behind a plain nginx."""

    state_dir: Path
    mongo_uri: str
    mongo_db: str
    replicas: int = 2
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list, init=False, repr=False)

    @property
    def url(self) -> str:
        """Where its nginx answers."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "PracticeSetup":
        """Start the dev servers, then nginx with a round-robin upstream of them."""
        try:
            ports = [free_port() for _ in range(self.replicas)]
            for number, port in enumerate(ports, start=1):
                env = {"HOST": "127.0.0.1", "PORT": str(port), "MONGO_URI": self.mongo_uri}
                env["MONGO_DB"] = self.mongo_db
                log = self.state_dir / "logs" / f"practice-{number}.log"
                # The practice's CMD, `python3 app.py`, with this checkout's interpreter.
                self.processes.append(start([sys.executable, str(PRACTICE_APP)], log, env))
            for port, process in zip(ports, self.processes, strict=True):
                url = f"http://127.0.0.1:{port}/api/whoami"
                wait_until(partial(http_ok, url), timeout=30, what=url, process=process)
            servers = "\n".join(f"        server 127.0.0.1:{port};" for port in ports)
            config = render_nginx(
                "practice-nginx.conf.template",
                self.state_dir / "nginx",
                listen=f"127.0.0.1:{self.port}",
                upstream_servers=servers,
            )
            self.processes.append(start_nginx(config, f"{self.url}/api/whoami"))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop nginx first, then the dev servers."""
        for process in reversed(self.processes):
            stop(process)
        self.processes.clear()

    def __enter__(self) -> "PracticeSetup":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@dataclass
class FixedNginx:
    """nginx answering a fixed 200 by itself: the ceiling of the proxy tier on this machine."""

    state_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "FixedNginx":
        config = render_nginx(
            "fixed-200-nginx.conf.template", self.state_dir, listen=f"127.0.0.1:{self.port}"
        )
        self.process = start_nginx(config, f"{self.url}/")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None  # __enter__ started it
        stop(self.process)
