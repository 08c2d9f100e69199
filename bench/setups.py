"""What the benchmark runs: our stack under a chosen WSGI server, the practice-style setup, nginx.

Every server listens on a free 127.0.0.1 port, logs under the benchmark's state directory and
is stopped when its `with` block ends.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from local_stack.nginx import check_config, find_nginx, start_nginx
from local_stack.processes import free_port, http_ok, start, stop, wait_until
from local_stack.stack import GUNICORN_CONF, LocalStack, Replica

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PRACTICE_APP = REPO / "practice_style" / "app.py"
PROPOSED_PATCH = BENCH / "proposed" / "list-estimated-count.patch"


@dataclass(frozen=True)
class ServerConfig:
    """How each replica serves the app: WSGI server, worker class, workers and threads."""

    server: str  # "gunicorn" or "granian"
    workers: int
    threads: int
    worker_class: str = "gthread"  # gunicorn only

    @property
    def label(self) -> str:
        """A short name for tables, e.g. 'gunicorn gthread 1x4'."""
        if self.server == "granian":
            return f"granian wsgi {self.workers}x{self.threads}"
        if self.worker_class == "sync":
            return f"gunicorn sync {self.workers}x1"
        return f"gunicorn {self.worker_class} {self.workers}x{self.threads}"


@dataclass
class ServerStack(LocalStack):
    """LocalStack whose replicas serve APP with the WSGI server that CONFIG names."""

    config: ServerConfig = ServerConfig("gunicorn", 1, 4)
    app: str = "attendee_directory.wsgi:app"

    def __post_init__(self) -> None:
        self.workers, self.threads = self.config.workers, self.config.threads
        self.extra_env = {"GUNICORN_WORKER_CLASS": self.config.worker_class, **self.extra_env}

    def start_replica(self, replica: Replica) -> None:
        """Start one replica under gunicorn (the production config) or granian."""
        if self.config.server == "granian":
            # Access log on, as gunicorn's config has it, so both do the same work per request.
            args = [str(Path(sys.executable).with_name("granian")), "--interface", "wsgi"]
            args += ["--host", "127.0.0.1", "--port", str(replica.port), "--access-log"]
            args += ["--workers", str(self.workers), "--blocking-threads", str(self.threads)]
        else:
            args = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
        args.append(self.app)
        replica.process = start(args, self.logs / f"{replica.name}.log", self.replica_env(replica))

    def replica_url(self, index: int = 0) -> str:
        """The address of one replica itself, bypassing nginx."""
        return f"http://127.0.0.1:{self.backends[index].port}"


def render_nginx(template: str, runtime_dir: Path, **values: str) -> Path:
    """Render bench/TEMPLATE into RUNTIME_DIR/nginx.conf, checked with `nginx -t`."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    text = Template((BENCH / template).read_text()).substitute(
        # As root, workers would run as nobody, who may not read a checkout under /root.
        user_line="user root;" if os.geteuid() == 0 else "",
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
                wait_until(lambda u=url: http_ok(u), timeout=30, what=url, process=process)
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

    def __exit__(self, *exc_info) -> None:
        stop(self.process)


def proposed_backend(work_dir: Path) -> tuple[Path | None, str]:
    """A copy of the backend package with the proposed patch applied, and what became of it.

    Returns (directory to put first on PYTHONPATH, note); the directory is None when the patch
    is already in the working tree (nothing left to compare) or no longer applies.
    """
    check = ["git", "apply", "--check", "--reverse", str(PROPOSED_PATCH)]
    if subprocess.run(check, cwd=REPO, capture_output=True, check=False).returncode == 0:
        return None, "already applied to backend/: the stack above includes it"
    shutil.rmtree(work_dir, ignore_errors=True)
    source = REPO / "backend" / "attendee_directory" / "attendees.py"
    copy = work_dir / "backend" / "attendee_directory"
    shutil.copytree(source.parent, copy)
    # Inside this checkout, git would take WORK_DIR for a subfolder of the repository and skip
    # every path outside it; above the ceiling it applies to plain files, like patch(1).
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(work_dir.parent)}
    applied = subprocess.run(
        ["git", "apply", str(PROPOSED_PATCH)],
        cwd=work_dir,
        env=env,
        capture_output=True,
        check=False,
    )
    if applied.returncode != 0 or (copy / source.name).read_text() == source.read_text():
        return None, f"does not apply to backend/ any more: {applied.stderr.decode().strip()}"
    return work_dir / "backend", "measured from a patched copy of the package, run beside the rest"
