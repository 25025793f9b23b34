"""``deploy/compose.yaml``: valid under the Compose specification (Debian's
docker-compose checks it; no Docker engine runs here), on the Apache Kafka version the
tests run, with engine services whose environment the settings accept. Offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import Settings
from tests.deploy.deploy_helpers import DEPLOY

COMPOSE = DEPLOY / "compose.yaml"
POM = DEPLOY.parent / "brokers" / "kafka-pom.xml"
ENGINE_SERVICES = ("trainer", "worker-1", "worker-2", "generate")


def docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing (Debian package); CI must not skip")
        pytest.skip("docker-compose is missing (apt-get install docker-compose)")
    return binary


def config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([docker_compose(), "-f", str(path), "config"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    done = config(COMPOSE)
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return resolved


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts ("source:target[:mode]",
    resolved against the file's folder)."""
    pairs = (volume.split(":")[:2] for volume in service["volumes"])
    return {target: Path(source) for source, target in pairs}


def test_the_compose_file_is_valid_and_a_broken_one_is_not(tmp_path: Path) -> None:
    assert config(COMPOSE).returncode == 0
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["kafka"]["restart_policy"] = "always"  # not a service key
    copy = tmp_path / "compose.yaml"
    copy.write_text(yaml.safe_dump(broken))
    done = config(copy)
    assert done.returncode != 0 and "restart_policy" in done.stderr


def test_kafka_is_the_version_the_tests_run(services: dict[str, Any]) -> None:
    [pinned] = re.findall(
        r"<artifactId>kafka_2\.13</artifactId>\s*<version>([^<]+)</version>", POM.read_text()
    )
    assert services["kafka"]["image"] == f"apache/kafka:{pinned}"
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"


def test_the_engine_services_run_the_cluster_setup(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = {name: services[name]["command"][0] for name in ENGINE_SERVICES}
    assert commands == {"trainer": "trainer", "worker-1": "worker", "worker-2": "worker",
                        "generate": "generate"}  # fmt: skip
    for name in ENGINE_SERVICES:
        service = services[name]
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        for key in [k for k in os.environ if k.startswith("SEGMENT_ENGINE_")]:
            monkeypatch.delenv(key)
        for key, value in service["environment"].items():
            monkeypatch.setenv(key, str(value))
        settings = Settings()
        host = settings.kafka_bootstrap.split(":")[0]
        assert host in services, f"{name}: bootstrap {settings.kafka_bootstrap}"
        assert settings.trainer == "separate" and settings.engine.learned.epoch_seconds > 0
    assert services["generate"]["restart"] == "no"


def test_prometheus_scrapes_both_workers_with_the_shipped_rules(
    services: dict[str, Any],
) -> None:
    mounted = mounts(services["prometheus"])
    prometheus = mounted["/etc/prometheus/compose.yml"]
    assert mounted["/etc/prometheus/alerts.yml"] == DEPLOY / "prometheus" / "alerts.yml"
    scrape = yaml.safe_load(prometheus.read_text())
    assert scrape["rule_files"] == ["alerts.yml"]
    port = Settings.model_fields["web_port"].default
    [job] = scrape["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"worker-1:{port}", f"worker-2:{port}"]
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package `prometheus`); CI must not skip")
        pytest.skip("promtool is missing (apt-get install prometheus)")
    done = subprocess.run([promtool, "check", "config", str(prometheus)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_grafana_gets_the_dashboard_and_a_data_source_of_the_same_uid(
    services: dict[str, Any],
) -> None:
    mounted = mounts(services["grafana"])
    shipped = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    source = mounted["/etc/grafana/provisioning/datasources/prometheus.yml"]
    [ours] = yaml.safe_load(source.read_text())["datasources"]
    [theirs] = yaml.safe_load(shipped.read_text())["datasources"]
    assert ours["uid"] == theirs["uid"] and ours["url"] == "http://prometheus:9090"
    assert (
        mounted["/var/lib/grafana/dashboards/segment-engine"] == DEPLOY / "grafana" / "dashboards"
    )
