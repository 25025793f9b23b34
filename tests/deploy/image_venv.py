"""The image's venv without Docker: deploy/Dockerfile's build stage done step by step on
the files that stage copies, and its worker started as the image starts it.

The wheels the lock names are downloaded once per lock into a wheelhouse (pytest's cache
folder), then every venv installs them with ``--no-index``: a venv holds exactly what
the lock and the copied files give it, nothing from the project's own venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from brokers.embedded import stop_process
from cli.local import settings_env
from tests.conftest import need
from tests.deploy.deploy_helpers import StageFiles, dockerfile_env, final_stage, stages

LOCK = "deploy/requirements.lock"
# The project's own venv must not leak into the image's.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_FIND_LINKS")


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in LEAKY and not k.startswith("SEGMENT_ENGINE_")
    }
    return {**env, **extra}


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``command`` (with ``env`` added); the test fails with its output when it does."""
    args = [str(part) for part in command]
    result = subprocess.run(
        args, cwd=cwd, env=child_env(**(env or {})), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        shown = " ".join(args) if len(args) < 12 else " ".join([*args[:10], "..."])
        output = result.stdout[-4000:] + result.stderr[-4000:]
        pytest.fail(f"{shown} exited {result.returncode}:\n{output}")
    return result.stdout


def wheelhouse(cache: Path, lock: Path, build_requires: Sequence[str]) -> Path:
    """A folder with every file ``lock`` names and the build requirements' wheels, kept
    under ``cache`` per lock: offline once filled, and pip's own cache fills it fast."""
    key = hashlib.sha256(lock.read_bytes() + " ".join(build_requires).encode()).hexdigest()
    folder = cache / key[:16]
    for stale in cache.iterdir():
        if stale.is_dir() and stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir(exist_ok=True)
    locked = ["--require-hashes", "--only-binary=:all:", "-r", str(lock)]
    for args in (locked, ["--no-deps", *build_requires]):
        download = [sys.executable, "-m", "pip", "download", "--dest", str(folder), *args]
        offline = [*download, "--no-index", "--find-links", str(folder)]
        if subprocess.run(offline, env=child_env(), capture_output=True, check=False).returncode:
            online = subprocess.run(download, capture_output=True, text=True, check=False)
            if online.returncode and not index_reachable():
                need(f"a reachable package index (for the wheels {lock.name} names)")
            if online.returncode:
                pytest.fail(f"pip download {' '.join(args)}:\n{online.stdout}{online.stderr}")
    return folder


def index_reachable() -> bool:
    """Whether pip finds pip itself on its configured index, as it does on any that works:
    a download that failed there failed for want of a network, not for a wrong lock."""
    probe = [sys.executable, "-m", "pip", "index", "versions", "pip"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def build_venv(venv: Path, files: StageFiles, wheels: Path) -> None:
    """The build stage's steps: a venv of the locked dependencies (hashes required), the
    project's wheel from the copied files alone, installed with ``--no-deps``, pip check."""
    run(sys.executable, "-m", "venv", venv)
    pip: list[str | Path] = [venv / "bin" / "python", "-m", "pip"]
    local: list[str | Path] = ["--no-index", "--find-links", wheels]
    run(*pip, "install", *local, "--require-hashes", "--only-binary=:all:", "-r", files.at(LOCK))
    dist = files.root / "wheels"
    build_env = dockerfile_env(stages()["build"])
    run(*pip, "wheel", *local, "--no-deps", "--wheel-dir", dist, files.workdir, env=build_env)
    (wheel,) = dist.glob("segment_engine-*.whl")
    run(*pip, "install", *local, "--no-deps", wheel)
    run(*pip, "check")


def image_command() -> list[str]:
    """The image's ENTRYPOINT followed by its CMD (both exec form)."""
    final = dict(final_stage())
    command: list[str] = json.loads(final["ENTRYPOINT"]) + json.loads(final["CMD"])
    return command


class ImageWorker:
    """The image's command run from ``venv`` under the image's ENV, ``settings`` (nested
    settings, as environment variables) on top; ``home`` is its working directory."""

    def __init__(self, venv: Path, settings: Mapping[str, Any], home: Path) -> None:
        self.log_path = home / "worker.log"
        image = dockerfile_env(final_stage())
        # PATH=/opt/segment-engine/bin:$PATH, with this venv in place of the image's.
        path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
        env = child_env(**{k: v for k, v in image.items() if k != "PATH"}, PATH=path)
        env.update(HOME=str(home), **settings_env(settings))
        command = image_command()
        found = shutil.which(command[0], path=path)
        assert found == str(venv / "bin" / command[0]), f"{command[0]} resolves to {found}"
        with self.log_path.open("w") as log:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_for(self, url: str, timeout: float) -> str:
        """The body ``url`` answers with, polled until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                pytest.fail(f"the worker exited {self._proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    body: str = response.read().decode()
                    return body
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # 503 included
                time.sleep(0.2)
        pytest.fail(f"no 200 at {url} within {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> int:
        return stop_process(self._proc, 20)

    def log(self) -> str:
        return self.log_path.read_text()[-6000:]
