"""Kubernetes monitoring on paper (kubernetes/monitoring, kubernetes/overlays/monitoring): the
generated files equal what monitoring/ generates, the overlay renders, its built-in objects pass
kubernetes-validate --strict, and the prometheus-operator objects, which kubernetes-validate has
no schema for (it only warns), are checked here instead: their fields, promtool on the rules,
amtool on the Alertmanager config, and the references between the objects.
"""

import base64
import shutil
import subprocess

import pytest
import yaml  # type: ignore[import-untyped]  # (PyYAML ships no type hints; no stubs in the lock)

from devtools.generators import kubernetes_monitoring
from devtools.paths import REPO
from devtools.processes import find_executable
from tests.test_kubernetes import KUBERNETES_VERSION

OVERLAY = REPO / "kubernetes" / "overlays" / "monitoring"
OPERATOR = "monitoring.coreos.com/v1"
# The fields of the operator's resources that these manifests may use: a misspelt field, which
# no schema here would catch, fails instead (names from the operator's API reference).
FIELDS = {
    "ServiceMonitor": {"selector", "endpoints", "namespaceSelector", "jobLabel"},
    "endpoint": {"port", "path", "interval", "scrapeTimeout", "scheme"},
    "PrometheusRule": {"groups"},
    "group": {"name", "interval", "rules"},
    "rule": {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"},
    "Alertmanager": {"replicas", "configSecret", "secrets", "securityContext", "resources"},
}


def _tool(name: str, install: str) -> str:
    """The program NAME, or a visible skip naming INSTALL."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"needs {name}: {install}")
    return found


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> list[dict]:
    """The monitoring overlay rendered by `kubectl kustomize`."""
    kubectl = _tool("kubectl", "apt-get install -y kubectl")
    output = subprocess.run(
        [kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def _one(documents: list[dict], kind: str) -> dict:
    """The only object of KIND."""
    (found,) = [doc for doc in documents if doc["kind"] == kind]
    return found


def test_the_generated_files_are_what_monitoring_generates():
    """prometheus-rule.yaml, alertmanager.yaml and service-monitor.yaml equal the generator's
    output: run `make kubernetes-monitoring` after changing monitoring/."""
    for path, text in kubernetes_monitoring.generated().items():
        assert path.read_text() == text, f"{path} is stale: run `make kubernetes-monitoring`"


def test_built_in_objects_pass_strict_validation_and_operator_ones_have_no_schema(
    documents, tmp_path
):
    """kubernetes-validate --strict passes every built-in object; for the operator's kinds it
    only warns that it has no schema (so the tests below check them)."""
    validator = find_executable("kubernetes-validate")
    assert validator, "kubernetes-validate is not installed: make test installs it (uv sync)"
    built_in = [doc for doc in documents if doc["apiVersion"] != OPERATOR]
    path = tmp_path / "built-in.yaml"
    path.write_text(yaml.safe_dump_all(built_in))
    command = [validator, "--strict", "-k", KUBERNETES_VERSION]
    result = subprocess.run(
        [*command, "--no-warn", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(built_in), result.stdout
    operator = [doc for doc in documents if doc["apiVersion"] == OPERATOR]
    assert {doc["kind"] for doc in operator} == {"ServiceMonitor", "PrometheusRule", "Alertmanager"}
    path = tmp_path / "operator.yaml"
    path.write_text(yaml.safe_dump_all(operator))
    result = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)
    assert result.stdout.count("Couldn't find schema") == len(operator), result.stdout


def test_operator_objects_use_only_known_fields(documents):
    """Every spec field of the ServiceMonitor, PrometheusRule and Alertmanager is one the
    operator defines."""
    monitor = _one(documents, "ServiceMonitor")["spec"]
    assert set(monitor) <= FIELDS["ServiceMonitor"]
    for endpoint in monitor["endpoints"]:
        assert set(endpoint) <= FIELDS["endpoint"], endpoint
    rule = _one(documents, "PrometheusRule")["spec"]
    assert set(rule) <= FIELDS["PrometheusRule"]
    for group in rule["groups"]:
        assert set(group) <= FIELDS["group"], group["name"]
        for each in group["rules"]:
            assert set(each) <= FIELDS["rule"], each
    assert set(_one(documents, "Alertmanager")["spec"]) <= FIELDS["Alertmanager"]


def test_the_prometheus_rule_holds_the_tested_alerts(documents, tmp_path):
    """Its groups are monitoring/alerts.yml's (which promtool tests), and promtool accepts them."""
    promtool = _tool("promtool", "scripts/install-from-forky.sh promtool")
    groups = _one(documents, "PrometheusRule")["spec"]["groups"]
    assert groups == yaml.safe_load((REPO / "monitoring" / "alerts.yml").read_text())["groups"]
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alertmanager_reads_its_config_and_webhook_from_secrets_it_mounts(documents, tmp_path):
    """The config Secret the Alertmanager names holds a config amtool accepts, with the routes of
    monitoring/'s, and its url_file is in a Secret that the Alertmanager mounts."""
    amtool = _tool("amtool", "scripts/install-from-forky.sh prometheus-alertmanager")
    alertmanager = _one(documents, "Alertmanager")["spec"]
    (secret,) = [
        doc
        for doc in documents
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == alertmanager["configSecret"]
    ]
    config_text = base64.b64decode(secret["data"]["alertmanager.yaml"]).decode()
    config = tmp_path / "alertmanager.yaml"
    config.write_text(config_text)
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = yaml.safe_load((REPO / "monitoring/alertmanager/alertmanager.yml").read_text())
    loaded = yaml.safe_load(config_text)
    assert loaded["route"] == shipped["route"]
    assert loaded["inhibit_rules"] == shipped["inhibit_rules"]
    mounted = {f"/etc/alertmanager/secrets/{name}/" for name in alertmanager["secrets"]}
    for receiver in loaded["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            assert any(webhook["url_file"].startswith(path) for path in mounted), webhook


def test_the_service_monitor_scrapes_the_backend_pods_through_the_network_policy(documents):
    """The ServiceMonitor selects the backend Service (named "backend": the job label the rules
    use), by a port name the Service has; that port leads to the replicas' container port,
    which a NetworkPolicy opens to the cluster's Prometheus; another lets Prometheus reach
    Alertmanager's port."""
    monitor = _one(documents, "ServiceMonitor")["spec"]
    services = [
        doc
        for doc in documents
        if doc["kind"] == "Service"
        and monitor["selector"]["matchLabels"].items() <= doc["metadata"].get("labels", {}).items()
    ]
    assert [service["metadata"]["name"] for service in services] == ["backend"]
    (service,) = services
    (endpoint,) = monitor["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    (backend,) = [
        doc
        for doc in documents
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "backend"
    ]
    (container,) = backend["spec"]["template"]["spec"]["containers"]
    (container_port,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    pod_labels = backend["spec"]["template"]["metadata"]["labels"]

    def allowed_from_prometheus(labels: dict, number: int) -> bool:
        """A NetworkPolicy admits the monitoring namespace's Prometheus to pods LABELS:NUMBER."""
        for policy in (doc for doc in documents if doc["kind"] == "NetworkPolicy"):
            selector = policy["spec"]["podSelector"].get("matchLabels", {})
            if not selector.items() <= labels.items():
                continue
            for rule in policy["spec"].get("ingress", []):
                peers = rule.get("from", [])
                ports = {p["port"] for p in rule.get("ports", [])}
                if number in ports and any(
                    peer.get("namespaceSelector", {}).get("matchLabels")
                    == {"kubernetes.io/metadata.name": "monitoring"}
                    and peer.get("podSelector", {}).get("matchLabels")
                    == {"app.kubernetes.io/name": "prometheus"}
                    for peer in peers
                ):
                    return True
        return False

    assert allowed_from_prometheus(pod_labels, container_port["containerPort"])
    assert not allowed_from_prometheus({"app.kubernetes.io/name": "database"}, 27017)
    assert allowed_from_prometheus({"app.kubernetes.io/name": "alertmanager"}, 9093)
