"""Kubernetes on paper: the manifests under kubernetes/ are rendered with kustomize, validated
against the schemas of a stated Kubernetes version, and checked against the rest of the
repository (labels, probe paths, ports, environment variables, secret keys). No cluster runs
here, so nothing is applied.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from attendee_directory import create_app
from attendee_directory.config import ServerSettings, Settings
from devtools.paths import REPO
from devtools.processes import find_executable

KUBERNETES_VERSION = "1.33.0"
OVERLAY = REPO / "kubernetes" / "overlays" / "registry"
WORKLOADS = ("Deployment", "StatefulSet")


def _kubectl() -> str:
    """kubectl (its built-in kustomize renders the manifests), or a visible skip."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("needs kubectl for `kubectl kustomize` (apt-get install -y kubectl)")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The overlay rendered to one YAML file."""
    output = subprocess.run(
        [_kubectl(), "kustomize", str(OVERLAY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    path = tmp_path_factory.mktemp("kubernetes") / "rendered.yaml"
    path.write_text(output)
    return path


@pytest.fixture(scope="module")
def documents(rendered) -> list[dict]:
    """The rendered objects."""
    return [doc for doc in yaml.safe_load_all(rendered.read_text()) if doc]


def _validate(path: Path) -> subprocess.CompletedProcess:
    """kubernetes-validate, strict, against KUBERNETES_VERSION's schemas."""
    validator = find_executable("kubernetes-validate")
    if validator is None:
        pytest.fail("kubernetes-validate is not installed: make test installs it (uv sync)")
    return subprocess.run(
        [validator, "--strict", "-k", KUBERNETES_VERSION, "--no-warn", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _of_kind(documents: list[dict], *kinds: str) -> list[dict]:
    """The documents of KINDS."""
    return [doc for doc in documents if doc["kind"] in kinds]


def _pod_labels(documents: list[dict]) -> list[dict]:
    """The pod template labels of every workload."""
    return [w["spec"]["template"]["metadata"]["labels"] for w in _of_kind(documents, *WORKLOADS)]


def _selects_a_pod(selector: dict, documents: list[dict]) -> bool:
    """True when the label SELECTOR matches some workload's pods."""
    return any(
        all(labels.get(k) == v for k, v in selector.items()) for labels in _pod_labels(documents)
    )


def _containers(documents: list[dict]):
    """(workload name, container) for every container."""
    for workload in _of_kind(documents, *WORKLOADS):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            yield workload["metadata"]["name"], container


def test_every_manifest_is_valid_for_the_stated_kubernetes_version(rendered, documents):
    """kubernetes-validate --strict accepts every object, and the overlay renders them all."""
    result = _validate(rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(documents), result.stdout
    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "StatefulSet", "Service", "NetworkPolicy", "Ingress"} <= kinds
    assert {"PodDisruptionBudget", "HorizontalPodAutoscaler", "Namespace"} <= kinds


def test_the_validator_rejects_a_broken_manifest(rendered, tmp_path):
    """The check can fail: an unknown field and a wrong type are refused."""
    broken = rendered.read_text().replace("replicas: 2", 'replicas: "two"', 1)
    broken = broken.replace("containerPort: 5000", "containerPort: 5000\n          hostPortt: 1", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    assert _validate(path).returncode != 0


def test_every_selector_matches_the_pods_it_means(documents):
    """Services, PDBs, NetworkPolicies and workloads select labels that pods really carry."""
    for service in _of_kind(documents, "Service"):
        assert _selects_a_pod(service["spec"]["selector"], documents), service["metadata"]
    for budget in _of_kind(documents, "PodDisruptionBudget"):
        assert _selects_a_pod(budget["spec"]["selector"]["matchLabels"], documents)
    for workload in _of_kind(documents, *WORKLOADS):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in selector.items()), workload["metadata"]
    for policy in _of_kind(documents, "NetworkPolicy"):
        selectors = [policy["spec"]["podSelector"].get("matchLabels", {})]
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "namespaceSelector" not in peer:  # pods of another namespace: not ours
                    selectors.append(peer["podSelector"]["matchLabels"])
        for selector in selectors:
            assert not selector or _selects_a_pod(selector, documents), policy["metadata"]


def test_references_between_objects_resolve(documents):
    """The HPA scales a Deployment that exists, the Ingress names a Service port that exists,
    and every Service's target port is a port that its pods declare."""
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in documents}
    for autoscaler in _of_kind(documents, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) in names
    services = {s["metadata"]["name"]: s for s in _of_kind(documents, "Service")}
    for ingress in _of_kind(documents, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports
    declared = {
        (container["name"], port["name"])
        for _, container in _containers(documents)
        for port in container.get("ports", [])
    }
    for service in services.values():
        for port in service["spec"]["ports"]:
            assert any(name == port["targetPort"] for _, name in declared), port


def test_the_only_allowed_paths_are_webserver_to_backend_and_backend_to_database(documents):
    """Default deny, then exactly webserver -> backend:5000 and backend -> database:27017."""
    policies = {p["metadata"]["name"]: p["spec"] for p in _of_kind(documents, "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    backend_in = policies["backend"]["ingress"]
    assert backend_in == [
        {
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "webserver"}}}],
            "ports": [{"port": 5000, "protocol": "TCP"}],
        }
    ]
    database_in = policies["database"]["ingress"]
    assert database_in[0]["from"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "backend"
    }
    assert database_in[0]["ports"] == [{"port": 27017, "protocol": "TCP"}]


def test_probes_name_routes_the_app_serves_on_ports_its_container_declares(documents):
    """Every HTTP probe path of the backend is a route of the Flask app, on a declared port."""
    app = create_app({"SETTINGS": Settings(mongo_uri="mongodb://127.0.0.1:1/")})
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for workload, container in _containers(documents):
        ports = {port["name"] for port in container.get("ports", [])}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(kind, {}).get("httpGet")
            if probe is None:
                continue
            assert probe["port"] in ports, (workload, kind)
            if workload == "backend":
                assert probe["path"] in routes, (workload, kind, probe["path"])
    backend = dict(_containers(documents))["backend"]
    assert {p.get("httpGet", {}).get("path") for p in _probes(backend)} == {"/healthz", "/readyz"}


def _probes(container: dict) -> list[dict]:
    """The container's probes."""
    return [container[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe")]


def test_the_database_probe_is_the_script_that_the_database_image_installs(documents):
    """The readiness probe runs the healthcheck that database/Dockerfile puts in the image."""
    database = dict(_containers(documents))["database"]
    command = database["readinessProbe"]["exec"]["command"]
    assert command[0] in (REPO / "database" / "Dockerfile").read_text()
    assert (REPO / "database" / "image" / Path(command[0]).name).exists()


def test_ports_agree_with_the_dockerfiles(documents):
    """The container ports are ones each image EXPOSEs (the webserver's plain HTTP one: the
    Ingress ends TLS)."""
    exposed = {
        name: {
            int(port)
            for port in re.search(
                r"^EXPOSE ([\d ]+)$", (REPO / name / "Dockerfile").read_text(), re.M
            )[1].split()
        }
        for name in ("backend", "webserver")
    }
    for workload, container in _containers(documents):
        if workload in exposed:
            ports = {p["containerPort"] for p in container["ports"]}
            assert ports and ports <= exposed[workload], (workload, ports)


def test_environment_names_are_ones_the_backend_reads(documents):
    """Every variable given to the backend is read by its settings or its server launcher."""
    fields = {*Settings.model_fields, *ServerSettings.model_fields}
    read = {name.upper() for name in fields}
    read |= {f"{name}_FILE" for name in read}  # config.py reads NAME_FILE for every NAME
    backend = dict(_containers(documents))["backend"]
    given = {variable["name"] for variable in backend["env"]}
    assert given <= read, given - read


def test_secret_keys_are_the_files_that_make_secrets_writes(documents):
    """The Secret mongo-credentials is made from scripts/make-secrets.sh's files (operations.md)."""
    written = set(
        re.findall(r"^\s*write (\w+)", (REPO / "scripts/make-secrets.sh").read_text(), re.M)
    )
    used = set()
    for workload in _of_kind(documents, *WORKLOADS):
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == "mongo-credentials"
                used |= {item["key"] for item in volume["secret"]["items"]}
    assert used and used <= written, used - written


def _webserver_settings(documents: list[dict]) -> dict[str, str]:
    """The environment the webserver's container gets from its ConfigMap (envFrom)."""
    (container,) = [c for name, c in _containers(documents) if name == "webserver"]
    (source,) = container["envFrom"]
    name = source["configMapRef"]["name"]
    (config_map,) = [d for d in _of_kind(documents, "ConfigMap") if d["metadata"]["name"] == name]
    return config_map["data"]


def test_the_webserver_is_compose_s_image_configured_by_a_config_map(documents):
    """The Deployment runs the image compose builds (only the registry differs, set by the
    overlay), and the settings for the cluster's DNS come from its ConfigMap when it starts."""
    from nginx_config import render_container

    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    compose_image = compose["services"]["webserver"]["image"].split(":")[0]
    manifests = yaml.safe_load_all((REPO / "kubernetes" / "base" / "webserver.yaml").read_text())
    (deployment,) = [doc for doc in manifests if doc["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == compose_image
    config = render_container(env=_webserver_settings(documents))
    assert "resolver kube-dns.kube-system.svc.cluster.local valid=5s;" in config
    assert "server backend.vdt2023.svc.cluster.local:5000 " in config
    assert "server_name vdt2023.example.org;" in config
    assert "set_real_ip_from 10.0.0.0/8;" in config


def test_pods_run_as_the_users_the_images_declare(documents):
    """runAsUser/runAsGroup are each Dockerfile's numeric USER (the database: compose's user)."""
    declared = {
        name: re.search(r"^USER (\d+):(\d+)", (REPO / name / "Dockerfile").read_text(), re.M)
        for name in ("backend", "webserver")
    }
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    database_user = compose["services"]["database"]["user"].split(":")
    for workload in _of_kind(documents, *WORKLOADS):
        name = workload["metadata"]["name"]
        context = workload["spec"]["template"]["spec"]["securityContext"]
        expected = declared[name].groups() if name in declared else tuple(database_user)
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == expected, name


def test_the_autoscaler_and_the_disruption_budget_fit_together(documents):
    """The HPA never scales below what the PDB keeps, and has a CPU request to scale on."""
    (autoscaler,) = _of_kind(documents, "HorizontalPodAutoscaler")
    (budget,) = _of_kind(documents, "PodDisruptionBudget")
    assert autoscaler["spec"]["minReplicas"] > budget["spec"]["minAvailable"]
    backend = dict(_containers(documents))["backend"]
    assert backend["resources"]["requests"]["cpu"]


def test_every_manifest_file_is_part_of_a_kustomization():
    """No YAML under kubernetes/ is left out of the rendering (and so of the validation)."""
    listed = set()
    for kustomization in (REPO / "kubernetes").rglob("kustomization.yaml"):
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
            listed.add((kustomization.parent / entry).resolve())
    files = {
        path.resolve()
        for path in (REPO / "kubernetes").rglob("*.yaml")
        if path.name != "kustomization.yaml"
    }
    assert files <= listed, sorted(str(path) for path in files - listed)


def test_dns_egress_goes_only_to_the_cluster_dns(documents):
    """Every egress rule that opens port 53 names the cluster's DNS pods (kube-dns in
    kube-system), and every port 53 is inside such a rule."""
    checked = 0
    for policy in _of_kind(documents, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            if not any(port["port"] == 53 for port in rule.get("ports", [])):
                continue
            checked += 1
            (peer,) = rule["to"]
            assert peer["namespaceSelector"]["matchLabels"] == {
                "kubernetes.io/metadata.name": "kube-system"
            }, policy["metadata"]["name"]
            assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert checked == 2  # the webserver's and the backend's


def test_the_ingress_ends_tls_for_every_host_it_serves(documents):
    """Each Ingress lists every host of its rules under tls, with the Secret of its certificate."""
    (ingress,) = _of_kind(documents, "Ingress")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    covered = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    assert hosts <= covered
    assert all(entry["secretName"] for entry in ingress["spec"]["tls"])


def test_the_cluster_webserver_serves_plain_http_behind_the_ingress(documents):
    """With its ConfigMap's TLS=off (the Ingress ends TLS): the app on 8080, no redirect and no
    HSTS of its own, and the scheme the Ingress reports passed on to the replicas."""
    from nginx_config import render_container

    config = render_container(env=_webserver_settings(documents))
    assert "listen 8080;" in config and "ssl" not in config.replace("ssl_", "")
    assert "return 308" not in config and "Strict-Transport-Security" not in config
    assert "proxy_set_header X-Forwarded-Proto $forwarded_proto;" in config
