"""The settings the worker runs with in its pod: the ConfigMap's engine.toml under the
pod's environment loads with the real settings loader, every ``SEGMENT_ENGINE_`` variable
names a real setting, and the paths it writes are writable mounts. Offline.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from pydantic import BaseModel

from cli.main import build_parser
from settings import Settings, load_settings
from tests.deploy.deploy_helpers import (
    DEPLOY,
    DOCKERFILE,
    K8S,
    dockerfile_env,
    engine_toml,
    manifests,
    pod_spec,
    the,
    worker_container,
)

ENV_PREFIX = "SEGMENT_ENGINE_"
ENV_NAME = re.compile(rf"\b{ENV_PREFIX}[A-Z0-9][A-Z0-9_]*")


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
    kafka = manifests()["Secret/segment-engine-kafka"]
    assert password.get_secret_value() == kafka["stringData"]["sasl-password"]
    token = settings.web_token
    assert token is not None
    assert (
        token.get_secret_value() == manifests()["Secret/segment-engine-web"]["stringData"]["token"]
    )

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
