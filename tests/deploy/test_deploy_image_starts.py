"""The image starts the worker: a venv built as deploy/Dockerfile builds the image's, from
exactly the files its build stage copies (``.dockerignore`` applied) and the hash-locked
dependencies, imports every module the project ships, and runs the image's command
(``segment-engine worker``) under the image's ENV against the embedded broker until
``/metrics`` and the StatefulSet's probes answer; then SIGTERM stops it cleanly.

No Docker engine runs here or in CI, so the steps are the Dockerfile's, done in a
temporary folder: about 40 s on an idle machine (the venv's install is most of it), a
few seconds more when the wheels must be downloaded first.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import pytest

from brokers.embedded import EmbeddedBroker, free_port
from tests.conftest import worker_timeouts
from tests.deploy.deploy_helpers import (
    ROOT,
    DockerIgnore,
    copy_stage_files,
    worker_container,
)
from tests.deploy.image_venv import LOCK, ImageWorker, build_venv, run, wheelhouse

pytestmark = pytest.mark.integration

PROBES = ("livenessProbe", "readinessProbe")
# Each module's file, or why it does not import.
IMPORT_EACH = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = [importlib.import_module(name).__file__, None]
    except Exception as exc:
        found[name] = [None, f"{type(exc).__name__}: {exc}"]
print(json.dumps(found))
"""
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


class ImageVenv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"


@pytest.fixture(scope="module")
def image_venv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ImageVenv:
    folder = tmp_path_factory.mktemp("image")
    files = copy_stage_files("build", folder / "stage")
    copied = tomllib.loads((files.workdir / "pyproject.toml").read_text())
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    wheels = wheelhouse(
        tmp_path_factory.mktemp("wheels") if cache is None else cache.mkdir("deploy-wheelhouse"),
        files.at(LOCK),
        copied["build-system"]["requires"],
    )
    build_venv(folder / "venv", files, wheels)
    return ImageVenv(folder / "venv")


def shipped_modules() -> list[str]:
    """Every module of the packages pyproject.toml ships, found in the repository."""
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    names = []
    tops = [p for p in ROOT.iterdir() if any(fnmatch.fnmatch(p.name, i) for i in include)]
    for path in sorted(p for top in tops for p in top.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if "__pycache__" not in parts and any(fnmatch.fnmatch(name, i) for i in include):
            names.append(name)
    return names


def test_the_image_venv_holds_every_shipped_module_and_data_file(image_venv: ImageVenv) -> None:
    modules = shipped_modules()
    assert {"cli.main", "streams.app", "replay.sources", "synthetic"} <= set(modules)
    # -I: neither the working directory nor PYTHON* variables reach sys.path.
    found = json.loads(
        run(image_venv.python, "-I", "-c", IMPORT_EACH, *modules, cwd=image_venv.path)
    )
    failed = {name: error for name, (_, error) in found.items() if error}
    assert not failed, f"modules that do not import in the image: {failed}"
    site = Path(found["cli"][0]).parents[1]
    assert site.is_relative_to(image_venv.path), f"cli imported from {site}"
    outside = [name for name, (file, _) in found.items() if not Path(file).is_relative_to(site)]
    assert not outside, f"imported from outside the image's venv: {outside}"
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            shipped = sorted((ROOT / package).glob(pattern))
            assert shipped, f"package data {package}/{pattern} matches nothing"
            missing = [p for p in shipped if not (site / p.relative_to(ROOT)).is_file()]
            assert not missing, f"package data missing from the image: {missing}"


def test_the_image_starts_the_worker(
    image_venv: ImageVenv, tansu: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = {
        "kafka_bootstrap": tansu.bootstrap,
        "app_id": "image-test",
        # The image binds 0.0.0.0 for the pod's probes; the test stays on loopback.
        "web_bind": "127.0.0.1",
        "web_port": free_port(),
        "data_dir": str(tmp_path / "data"),
        **worker_timeouts(tansu),
    }
    probes = {name: worker_container()[name]["httpGet"]["path"] for name in PROBES}
    worker = ImageWorker(image_venv.path, settings, tmp_path)
    try:
        url = f"http://127.0.0.1:{settings['web_port']}"
        metrics = worker.wait_for(f"{url}/metrics", timeout=60)
        assert "segment_engine_" in metrics, metrics[:500]
        # The StatefulSet's probes, on the same port: alive at once, ready (partitions
        # assigned and recovered) soon after on a fresh group. Stopped before that, the
        # worker crashes on its way out (it is still declaring its output topics).
        worker.wait_for(f"{url}{probes['livenessProbe']}", timeout=5)
        worker.wait_for(f"{url}{probes['readinessProbe']}", timeout=60)
    finally:
        code = worker.stop()
    assert code == 0, f"the worker exited {code} on SIGTERM:\n{worker.log()}"


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("pyproject.toml", False),
        ("tests/deploy/test_deploy_image.py", True),
        ("cli/main.py", False),
        ("cli/__pycache__/main.cpython-311.pyc", True),
        ("cli/stray.pyc", True),
        ("deploy/requirements.lock", False),
        ("deploy/Dockerfile", True),
        (".venv/bin/python", True),
    ],
)
def test_dockerignore_lets_in_only_what_the_image_is_built_from(path: str, excluded: bool) -> None:
    assert DockerIgnore((ROOT / ".dockerignore").read_text()).excludes(path) is excluded


@pytest.mark.parametrize(
    ("rules", "path", "excluded"),
    [
        ("*\n!a/", "a/b/c", False),  # a directory's exception covers what is inside
        ("a\n!a/b", "a/c", True),
        ("a\n!a/b", "a/b", False),
        ("!a\na", "a", True),  # the last matching rule decides
        ("**/x", "x", True),  # ** spans no directory too
        ("**/x", "p/q/x/y", True),
        ("*.md", "docs/a.md", False),  # * stops at /, from the context's root
        ("/docs/", "docs/a.md", True),  # leading and trailing slashes dropped
        ("d?cs", "docs", True),
        ("d[a-n]cs", "docs", False),
        ("# comment\n\n  docs  ", "docs", True),
    ],
)
def test_dockerignore_reader_follows_dockers_rules(rules: str, path: str, excluded: bool) -> None:
    assert DockerIgnore(rules).excludes(path) is excluded
