"""`make run MONITORING=1`: a local Prometheus (Debian's package) scraping the local replicas.

The scrape settings and the alert rules are monitoring/prometheus.yml and monitoring/alerts.yml,
the compose profile's own files; only the targets differ. Compose finds the replicas by DNS,
this run lists their 127.0.0.1 ports as static targets, as the local nginx config lists them
as upstreams (nginx.py). nginx's stub_status is read by Debian's nginx exporter
when it is installed; otherwise the nginx job is left out and the run says so.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # (PyYAML ships no type hints; no stubs in the lock)

from ..paths import REPO
from ..processes import free_port, http_ok, start, stop, wait_until

MONITORING = REPO / "monitoring"
INSTALL_COMMAND = "sudo scripts/install-from-forky.sh prometheus"
EXPORTER = "prometheus-nginx-exporter"  # Debian's name of nginx/nginx-prometheus-exporter
EXPORTER_INSTALL_COMMAND = f"sudo scripts/install-from-forky.sh {EXPORTER}"


class PrometheusMissing(RuntimeError):
    """Prometheus is not installed; the message names the command that installs it."""


def find_prometheus() -> str:
    """The prometheus binary on PATH, or PrometheusMissing naming the install command."""
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusMissing(
            "MONITORING=1 needs Prometheus, which is not installed. Install Debian forky's "
            f"package (3.5.3) with:\n    {INSTALL_COMMAND}"
        )
    return found


def local_config(
    backends: list[int],
    nginx_exporter: int | None,
    own_port: int,
    backend_secret: Path | None = None,
) -> dict:
    """monitoring/prometheus.yml with its service discovery replaced by 127.0.0.1 targets.

    BACKENDS are the replicas' ports, NGINX_EXPORTER the exporter's port (None: no nginx job).
    Jobs with no local counterpart (node-exporter) are dropped; every other setting is kept.
    BACKEND_SECRET: the file of the front door's secret, which the local replicas require on
    /metrics too (sent as a bearer credential).
    """
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {
        "backend": [f"127.0.0.1:{port}" for port in backends],
        "nginx": [f"127.0.0.1:{nginx_exporter}"] if nginx_exporter else [],
        "prometheus": [f"127.0.0.1:{own_port}"],
    }
    jobs = []
    for job in config["scrape_configs"]:
        if not targets.get(job["job_name"]):
            continue
        local = {key: value for key, value in job.items() if not key.endswith("_sd_configs")}
        local["static_configs"] = [{"targets": targets[job["job_name"]]}]
        if job["job_name"] == "backend" and backend_secret is not None:
            local["authorization"] = {"type": "Bearer", "credentials_file": str(backend_secret)}
        jobs.append(local)
    config["scrape_configs"] = jobs
    # Rule files are relative to the config file; this one is written elsewhere.
    config["rule_files"] = [str(MONITORING / name) for name in config.get("rule_files", [])]
    return config


@dataclass
class LocalPrometheus:
    """Prometheus (and the nginx exporter, if installed) for a started LocalStack."""

    runtime_dir: Path
    port: int
    logs: Path
    process: subprocess.Popen | None = None
    exporter: subprocess.Popen | None = None
    exporter_port: int | None = None

    @property
    def url(self) -> str:
        """Where Prometheus' HTTP API (and Debian's placeholder page) answers."""
        return f"http://127.0.0.1:{self.port}"

    def start(
        self, backends: list[int], status_socket: Path, backend_secret: Path | None = None
    ) -> "LocalPrometheus":
        """Start the exporter (if installed) on STATUS_SOCKET, then Prometheus, each waited for;
        Prometheus scrapes the replicas with BACKEND_SECRET's secret (local_config)."""
        binary = find_prometheus()
        try:
            exporter = shutil.which(EXPORTER)
            if exporter:
                self.exporter_port = free_port()
                self.exporter = start(
                    [
                        exporter,
                        f"--web.listen-address=127.0.0.1:{self.exporter_port}",
                        f"--nginx.scrape-uri=unix:{status_socket}:/stub_status",
                    ],
                    self.logs / "nginx-exporter.log",
                )
                wait_until(
                    lambda: http_ok(f"http://127.0.0.1:{self.exporter_port}/metrics"),
                    timeout=20,
                    what=f"nginx exporter (log: {self.logs / 'nginx-exporter.log'})",
                    process=self.exporter,
                )
            # A fresh database each run, as the compose profile's tmpfs: no stale targets.
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir.mkdir(parents=True)
            config = self.runtime_dir / "prometheus.yml"
            scrape = local_config(backends, self.exporter_port, self.port, backend_secret)
            config.write_text(yaml.safe_dump(scrape))
            self.process = start(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.runtime_dir / 'data'}",
                    # The UI and API on this machine only, as compose publishes them.
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                self.logs / "prometheus.log",
            )
            wait_until(
                lambda: http_ok(f"{self.url}/-/ready"),
                timeout=30,
                what=f"Prometheus (log: {self.logs / 'prometheus.log'})",
                process=self.process,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Prometheus and the exporter."""
        for process in (self.process, self.exporter):
            if process is not None:
                stop(process)
        self.process = self.exporter = None

    def describe(self) -> str:
        """What was started, for the person who started it."""
        nginx = (
            f"nginx exporter on 127.0.0.1:{self.exporter_port}"
            if self.exporter_port
            else f"no nginx exporter ({EXPORTER_INSTALL_COMMAND} adds it)"
        )
        return f"{self.url}/api/v1/targets (config {self.runtime_dir / 'prometheus.yml'}); {nginx}"
