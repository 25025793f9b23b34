"""The Kubernetes manifests: valid offline against kubernetes-validate's bundled schemas,
all but the example Secret listed by the kustomization, and consistent with each other
and the image (user, labels, service, ports, probes on /healthz and /readyz).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.deploy_helpers import (
    K8S,
    MANIFESTS,
    engine_toml,
    final_stage,
    pod_spec,
    the,
    worker_container,
)


def web_port() -> int:
    port = tomllib.loads(engine_toml())["web_port"]
    assert isinstance(port, int)
    return port


def container_port(port: int | str) -> int:
    """A probe's or service's port, named ports resolved against the container."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in worker_container()["ports"] if "name" in p}
    assert port in named, f"no container port named {port!r}"
    return int(named[port])


# --- the manifests ---------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_offline_strictly(path: Path) -> None:
    version = kubernetes_validate.latest_version()
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs, f"{path.name} holds no object"
    for doc in docs:
        # Raises on a schema violation, an unknown field (strict) or an unknown kind.
        validated = kubernetes_validate.validate(doc, version, strict=True)
        assert validated == ".".join(version.split(".")[:2])


def kinds(path: Path) -> set[str]:
    return {doc["kind"] for doc in yaml.safe_load_all(path.read_text()) if doc}


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    # `kubectl apply -k` would overwrite the real password with the example's placeholder.
    expected = [p.name for p in MANIFESTS if "Secret" not in kinds(p)]
    assert sorted(kustomization["resources"]) == expected
    assert kinds(K8S / "secret.yaml") == {"Secret"}, "the example stays, for its shape"
    for key in ("secretGenerator", "generators", "components"):
        assert key not in kustomization, f"{key}: nothing may bring a Secret back in"


def test_pod_security_matches_the_image_user() -> None:
    security = pod_spec()["securityContext"]
    (user,) = [rest for keyword, rest in final_stage() if keyword == "USER"][-1:]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == int(user.split(":")[0])
    assert worker_container()["securityContext"]["allowPrivilegeEscalation"] is False


def test_statefulset_service_and_labels_fit_together() -> None:
    statefulset, service = the("StatefulSet"), the("Service")
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "segment-engine"
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["clusterIP"] == "None", "a StatefulSet's service is headless"
    assert service["spec"]["selector"].items() <= labels.items()
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert statefulset["spec"]["replicas"] == 2


def test_probes_ask_the_worker_if_it_is_alive_and_ready() -> None:
    container = worker_container()
    # Liveness restarts the pod: only "the process answers". Readiness (partitions
    # assigned and recovered, broker reachable) only takes it out of the Service.
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_every_port_is_the_configured_web_port() -> None:
    port = web_port()
    container = worker_container()
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert container_port(get["port"]) == port, probe
    annotations = the("StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    (metrics,) = [p for p in the("Service")["spec"]["ports"] if p["name"] == "metrics"]
    assert container_port(metrics["targetPort"]) == port
    exposed = [rest for keyword, rest in final_stage() if keyword == "EXPOSE"]
    assert exposed == [str(port)]
