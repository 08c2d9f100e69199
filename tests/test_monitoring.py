"""The Prometheus config and alert rules pass promtool: config, rules, and every rule's tests;
the Alertmanager config and its example receivers pass amtool, and each alert takes the route
it should."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml  # type: ignore[import-untyped]  # (PyYAML ships no type hints; no stubs in the lock)

from devtools.paths import REPO

MONITORING = REPO / "monitoring"
ALERTMANAGER = MONITORING / "alertmanager"
INSTALL = "scripts/install-from-forky.sh promtool"
AMTOOL_INSTALL = "scripts/install-from-forky.sh prometheus-alertmanager"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    """Run promtool with ARGS in monitoring/; skip, saying how to install it, if absent."""
    if shutil.which("promtool") is None:
        pytest.skip(f"promtool is not installed: run `{INSTALL}` (Debian forky's 3.5.3)")
    return subprocess.run(
        ["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "tests/alerts_test.yml"),
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool_accepts(args):
    """promtool exits 0: the config loads, the rules parse, every rule test passes."""
    result = _promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_tests_and_a_runbook_line():
    """Each alert is named in the rule tests (firing and not) and has a runbook anchor in docs."""
    alerts = re.findall(r"^\s+- alert: (\w+)$", (MONITORING / "alerts.yml").read_text(), re.M)
    assert len(alerts) >= 6
    tests = (MONITORING / "tests" / "alerts_test.yml").read_text()
    # Each case: "alertname: X" then "exp_alerts: []" (must not fire) or a list (must fire).
    cases = re.findall(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", tests)
    runbook = (MONITORING.parent / "docs" / "monitoring.md").read_text()
    for alert in alerts:
        mine = [empty for name, empty in cases if name == alert]
        assert "" in mine, f"{alert}: no firing test"
        assert " []" in mine, f"{alert}: no not-firing test"
        assert f"### {alert}" in runbook, f"{alert}: no runbook line in docs/monitoring.md"


def _amtool(*args: str) -> subprocess.CompletedProcess:
    """Run amtool with ARGS in monitoring/alertmanager/; skip, naming the install, if absent."""
    if shutil.which("amtool") is None:
        pytest.skip(f"amtool is not installed: run `{AMTOOL_INSTALL}` (Debian forky's 0.33)")
    return subprocess.run(
        ["amtool", *args], cwd=ALERTMANAGER, capture_output=True, text=True, timeout=60
    )


def _alerts() -> list[dict]:
    """Every alert rule of monitoring/alerts.yml."""
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_amtool_accepts_the_alertmanager_config():
    """amtool check-config exits 0 on the shipped config: routes, inhibit rule, receivers."""
    result = _amtool("check-config", "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 inhibit rules" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "example", sorted(p.name for p in (ALERTMANAGER / "examples").glob("*.yml"))
)
def test_amtool_accepts_each_example_receiver(example, tmp_path):
    """Each example's receivers, put in place of the shipped ones, make a config amtool accepts,
    with the same receiver names (the routes keep working) and every secret read from a file."""
    config = yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())
    receivers = yaml.safe_load((ALERTMANAGER / "examples" / example).read_text())["receivers"]
    assert [r["name"] for r in receivers] == [r["name"] for r in config["receivers"]]
    text = yaml.safe_dump(receivers)
    for secret in ("auth_password:", "api_url:", "bot_token:", " url:"):
        assert secret not in text, f"{example}: {secret} written in the config, not a *_file"
    assert "_file: /run/secrets/" in text, f"{example}: no secret read from a file"
    config["receivers"] = receivers
    merged = tmp_path / example
    merged.write_text(yaml.safe_dump(config))
    result = _amtool("check-config", str(merged))
    assert result.returncode == 0, result.stdout + result.stderr


def _route(*labels: str) -> str:
    """The receiver that alertmanager.yml's routes pick for an alert with LABELS."""
    result = _amtool("config", "routes", "test", "--config.file=alertmanager.yml", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


# What each severity must reach: critical pages someone, warning makes a ticket.
RECEIVER_OF = {"critical": "page", "warning": "ticket"}


@pytest.mark.parametrize("alert", _alerts(), ids=lambda rule: rule["alert"])
def test_each_alert_reaches_the_receiver_of_its_severity(alert):
    """`amtool config routes test` with the alert's own labels names its severity's receiver."""
    labels = {"alertname": alert["alert"], **alert.get("labels", {})}
    assert labels.get("severity") in RECEIVER_OF, f"{alert['alert']}: severity not routed"
    route = _route(*(f"{key}={value}" for key, value in labels.items()))
    assert route == RECEIVER_OF[labels["severity"]]


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=DatabaseUnreachable", "severity=critical", "instance=10.0.0.2:5000"), "page"),
        (("alertname=BackendReplicaDown", "severity=warning"), "ticket"),
        # An alert of unknown severity (a rule added without one) still reaches someone.
        (("alertname=SomethingNew",), "ticket"),
        (("alertname=SomethingNew", "severity=info"), "ticket"),
    ],
    ids=["critical", "warning", "no-severity", "other-severity"],
)
def test_routes_send_each_severity_to_its_receiver(labels, receiver):
    """Hand-written cases beside the rules' own: the fallbacks too."""
    assert _route(*labels) == receiver


def test_the_database_alert_inhibits_the_replica_alerts_it_causes():
    """The inhibit rule's source is an alert of alerts.yml and each target names one, so a
    rename in alerts.yml cannot silently disable it."""
    config = yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())
    names = {rule["alert"] for rule in _alerts()}
    (rule,) = config["inhibit_rules"]
    (source,) = rule["source_matchers"]
    assert source == 'alertname="DatabaseUnreachable"'
    (target,) = rule["target_matchers"]
    matched = re.fullmatch(r'alertname=~"([\w|]+)"', target)
    assert matched, target
    targets = set(matched[1].split("|"))
    assert targets <= names, targets - names
    assert "BackendReplicaDown" in targets
    assert "DatabaseUnreachable" not in targets


def test_prometheus_sends_alerts_to_the_alertmanager_it_scrapes():
    """prometheus.yml's alerting block names the compose service that runs Alertmanager."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert "alertmanager" in compose["services"]


GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "attendee-directory.json"
# Grafana's own variables, which need no definition in the dashboard.
GRAFANA_BUILT_INS = {"__rate_interval", "__interval", "__range", "__all"}


def _names(text: str) -> set[str]:
    """Every variable name in TEXT, whichever of Grafana's three syntaxes it uses."""
    return {a or b for a, b in re.findall(r"\$\{?(\w+)\}?|\[\[(\w+)\]\]", text)}


def test_the_dashboard_uses_the_provisioned_datasource_and_defines_its_variables():
    """The dashboard's JSON: every panel and query names the provisioned datasource's uid; every
    variable a query uses is defined (or Grafana's own), and every one defined is used; panel
    ids and titles are unique; the provisioning points at the dashboards' directory."""
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    uid = datasource["uid"]
    provider = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/attendee-directory.yml").read_text()
    )
    (files,) = provider["providers"]
    assert (
        files["options"]["path"] == "/etc/grafana/vdt/dashboards"
    )  # compose's mount + dashboards/
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    queried = [panel for panel in panels if panel["type"] != "row"]
    assert len(queried) >= 15
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({p["title"] for p in queried}) == len(queried)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used: set[str] = set()
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid, variable["name"]
    for panel in queried:
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            names = _names(target["expr"]) - GRAFANA_BUILT_INS
            assert names <= defined, (panel["title"], names - defined)
            used |= names
    assert defined == used, f"defined but never used: {defined - used}"
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert "./monitoring/grafana:/etc/grafana/vdt:ro" in compose["services"]["grafana"]["volumes"]


def test_swarm_runs_the_monitoring_profile_on_the_manager_unpublished(tmp_path):
    """`COMPOSE_PROFILES=monitoring swarm/deploy.sh`'s stack file: Alertmanager, Prometheus and
    Grafana on the manager (their config is bind-mounted from there) with no published port (a
    swarm would publish it on every address), found by DNS round robin, the webhook URL passed."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("needs compose v2 for `docker compose config`: scripts/install-compose-v2.sh")
    secrets = tmp_path / "secrets"
    subprocess.run([REPO / "scripts/make-secrets.sh", secrets], capture_output=True, check=True)
    env = {
        **os.environ,
        "COMPOSE_PROFILES": "monitoring",
        "SECRETS_DIR": str(secrets),
        "ALERT_WEBHOOK_URL": "https://alerts.example.org/hook",
    }
    files = ["-f", "compose.yaml", "-f", "swarm/compose.swarm.yaml"]
    config = subprocess.run(
        ["docker", "compose", *files, "config", "--format", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    stack = subprocess.run(
        [sys.executable, "swarm/stack_file.py"],
        cwd=REPO, input=config, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    services = json.loads(stack)["services"]
    for name in ("prometheus", "alertmanager", "grafana"):
        deploy = services[name]["deploy"]
        assert deploy["placement"]["constraints"] == ["node.role == manager"], name
        assert deploy["endpoint_mode"] == "dnsrr", name
        assert not services[name].get("ports"), name
    alertmanager = services["alertmanager"]
    assert alertmanager["environment"]["ALERT_WEBHOOK_URL"] == "https://alerts.example.org/hook"
    assert {"type": "tmpfs", "target": "/alertmanager"}.items() <= alertmanager["volumes"][
        -1
    ].items()
    assert services["node-exporter"]["deploy"]["mode"] == "global"
