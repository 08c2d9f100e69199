"""`make run MONITORING=1`: a local Prometheus and Alertmanager (Debian's packages) for the
local replicas.

The scrape settings, the alert rules and the alert routes are monitoring/prometheus.yml,
monitoring/alerts.yml and monitoring/alertmanager/alertmanager.yml, the compose profile's own
files; only the addresses differ. Compose finds the replicas by DNS, this run lists their
127.0.0.1 ports as static targets, as the local nginx config lists them as upstreams (nginx.py).
nginx's stub_status is read by Debian's nginx exporter and the host by node-exporter when they
are installed; otherwise their jobs are left out and the run says so. ALERT_WEBHOOK_URL is
written to the file that the Alertmanager config's url_file names (it expands no variables).
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml  # type: ignore[import-untyped]  # (PyYAML ships no type hints; no stubs in the lock)

from ..paths import REPO
from ..processes import free_port, http_ok, start, stop, wait_until

MONITORING = REPO / "monitoring"
INSTALL_COMMAND = "sudo scripts/install-from-forky.sh prometheus"
EXPORTER = "prometheus-nginx-exporter"  # Debian's name of nginx/nginx-prometheus-exporter
EXPORTER_INSTALL_COMMAND = f"sudo scripts/install-from-forky.sh {EXPORTER}"
NODE_EXPORTER = "prometheus-node-exporter"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name of the alertmanager binary
ALERTMANAGER_INSTALL_COMMAND = f"sudo scripts/install-from-forky.sh {ALERTMANAGER}"
# Where the containers' start writes ALERT_WEBHOOK_URL (alertmanager.yml's url_file).
CONTAINER_WEBHOOK_FILE = "/alertmanager/webhook_url"


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


def find_alertmanager() -> str:
    """The alertmanager binary on PATH, or PrometheusMissing naming the install command."""
    found = shutil.which(ALERTMANAGER)
    if found is None:
        raise PrometheusMissing(
            "MONITORING=1 needs Alertmanager, which is not installed. Install Debian forky's "
            f"package (0.33) with:\n    {ALERTMANAGER_INSTALL_COMMAND}"
        )
    return found


def check_webhook_url(url: str) -> str:
    """URL if it is an http(s) URL with a host (what Alertmanager can post to), else ValueError
    saying so; checked at the start, where Alertmanager would fail only at its first alert."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("ALERT_WEBHOOK_URL must be an http:// or https:// URL with a host")
    return url


def local_config(
    backends: list[int],
    nginx_exporter: int | None,
    own_port: int,
    alertmanager: int | None = None,
    node_exporter: int | None = None,
    config_dir: Path = MONITORING,
    backend_secret: Path | None = None,
) -> dict:
    """CONFIG_DIR's prometheus.yml with its service discovery replaced by 127.0.0.1 targets.

    BACKENDS are the replicas' ports, NGINX_EXPORTER, ALERTMANAGER and NODE_EXPORTER the other
    parts' ports (None: that job, and for Alertmanager the alerting block, is left out). Every
    other setting is kept. BACKEND_SECRET: the file of the front door's secret, which the local
    replicas require on /metrics too (sent as a bearer credential).
    """
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text())
    targets = {
        "backend": [f"127.0.0.1:{port}" for port in backends],
        "nginx": [f"127.0.0.1:{nginx_exporter}"] if nginx_exporter else [],
        "node": [f"127.0.0.1:{node_exporter}"] if node_exporter else [],
        "alertmanager": [f"127.0.0.1:{alertmanager}"] if alertmanager else [],
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
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": targets["alertmanager"]}]}]
        }
    else:
        config.pop("alerting", None)
    # Rule files are relative to the config file; this one is written elsewhere.
    config["rule_files"] = [str(config_dir / name) for name in config.get("rule_files", [])]
    return config


def local_alertmanager_config(webhook_file: Path, config_dir: Path = MONITORING) -> dict:
    """CONFIG_DIR's alertmanager/alertmanager.yml with the containers' url_file replaced by
    WEBHOOK_FILE, the file this run writes ALERT_WEBHOOK_URL to."""
    config = yaml.safe_load((config_dir / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            if webhook.get("url_file") == CONTAINER_WEBHOOK_FILE:
                webhook["url_file"] = str(webhook_file)
    return config


@dataclass
class LocalPrometheus:
    """Prometheus, Alertmanager and the exporters (those installed) for a started LocalStack."""

    runtime_dir: Path
    port: int
    logs: Path
    alertmanager_port: int = 9093
    # Sent every alert (ALERT_WEBHOOK_URL); None: Alertmanager holds them (docs/monitoring.md).
    alert_webhook_url: str | None = None
    # Where prometheus.yml, alerts.yml and alertmanager/ are: a test's shortened copies.
    config_dir: Path = MONITORING
    process: subprocess.Popen | None = None
    exporter: subprocess.Popen | None = None
    exporter_port: int | None = None
    alertmanager: subprocess.Popen | None = None
    node_exporter: subprocess.Popen | None = None
    node_exporter_port: int | None = None

    @property
    def url(self) -> str:
        """Where Prometheus' HTTP API (and Debian's placeholder page) answers."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def alertmanager_url(self) -> str:
        """Where Alertmanager's UI and API answer."""
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def _start_alertmanager(self) -> None:
        """Start Alertmanager on 127.0.0.1 with the routes of alertmanager.yml; wait for it."""
        directory = self.runtime_dir / "alertmanager"
        directory.mkdir()
        webhook_file = directory / "webhook_url"
        if self.alert_webhook_url:
            # The URL may hold a token (a chat's webhook): readable by this user only.
            descriptor = os.open(webhook_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(self.alert_webhook_url)
        config = directory / "alertmanager.yml"
        config.write_text(yaml.safe_dump(local_alertmanager_config(webhook_file, self.config_dir)))
        self.alertmanager = self._started(
            "Alertmanager",
            [
                find_alertmanager(),
                f"--config.file={config}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                # One instance: no gossip port (it would listen on every address).
                "--cluster.listen-address=",
            ],
            f"{self.alertmanager_url}/-/ready",
            timeout=30,
        )

    def _started(
        self, name: str, command: list[str], ready_url: str, timeout: float = 20
    ) -> subprocess.Popen:
        """Start COMMAND with its log under logs/, and wait until READY_URL answers 2xx."""
        log = self.logs / f"{name.lower().replace(' ', '-')}.log"
        process = start(command, log)
        wait_until(
            lambda: http_ok(ready_url, timeout=5),
            timeout=timeout,
            what=f"{name} (log: {log})",
            process=process,
        )
        return process

    def _start_node_exporter(self, binary: str) -> None:
        """Start node-exporter on 127.0.0.1 (host CPU, memory, load, network); wait for it."""
        self.node_exporter_port = free_port()
        self.node_exporter = self._started(
            "node-exporter",
            [binary, f"--web.listen-address=127.0.0.1:{self.node_exporter_port}"],
            f"http://127.0.0.1:{self.node_exporter_port}/metrics",
        )

    def start(
        self, backends: list[int], status_socket: Path, backend_secret: Path | None = None
    ) -> "LocalPrometheus":
        """Start the exporters (those installed; the nginx one on STATUS_SOCKET), Alertmanager,
        then Prometheus, each waited for; Prometheus scrapes the replicas with BACKEND_SECRET's
        secret (local_config)."""
        binary = find_prometheus()
        find_alertmanager()
        try:
            exporter = shutil.which(EXPORTER)
            if exporter:
                self.exporter_port = free_port()
                self.exporter = self._started(
                    "nginx exporter",
                    [
                        exporter,
                        f"--web.listen-address=127.0.0.1:{self.exporter_port}",
                        f"--nginx.scrape-uri=unix:{status_socket}:/stub_status",
                    ],
                    f"http://127.0.0.1:{self.exporter_port}/metrics",
                )
            node_exporter = shutil.which(NODE_EXPORTER)
            if node_exporter:
                self._start_node_exporter(node_exporter)
            # A fresh database each run, as the compose profile's tmpfs: no stale targets.
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir.mkdir(parents=True)
            self._start_alertmanager()
            config = self.runtime_dir / "prometheus.yml"
            settings = local_config(
                backends,
                self.exporter_port,
                self.port,
                alertmanager=self.alertmanager_port,
                node_exporter=self.node_exporter_port,
                config_dir=self.config_dir,
                backend_secret=backend_secret,
            )
            config.write_text(yaml.safe_dump(settings))
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
        """Stop Prometheus, Alertmanager and the exporters."""
        for process in (self.process, self.alertmanager, self.exporter, self.node_exporter):
            if process is not None:
                stop(process)
        self.process = self.alertmanager = self.exporter = self.node_exporter = None

    def describe(self) -> str:
        """What was started, for the person who started it."""
        nginx = (
            f"nginx exporter on 127.0.0.1:{self.exporter_port}"
            if self.exporter_port
            else f"no nginx exporter ({EXPORTER_INSTALL_COMMAND} adds it)"
        )
        node = (
            f"node-exporter on 127.0.0.1:{self.node_exporter_port}"
            if self.node_exporter_port
            else f"no node-exporter (sudo scripts/install-from-forky.sh {NODE_EXPORTER} adds it)"
        )
        alerts = (
            "alerts to ALERT_WEBHOOK_URL"
            if self.alert_webhook_url
            else "no ALERT_WEBHOOK_URL: alerts are held there (amtool alert query)"
        )
        return (
            f"{self.url}/api/v1/targets (config {self.runtime_dir / 'prometheus.yml'}); {nginx}; "
            f"{node}\nalertmanager: {self.alertmanager_url} ({alerts})"
        )
