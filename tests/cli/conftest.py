"""Run the console scripts as subprocesses, offline, against whatever le4nn is importable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import le4nn


def _env() -> dict:
    env = dict(os.environ)
    env["LE4NN_OFFLINE"] = "1"  # nothing is downloaded during the tests
    env.pop("LE4NN_DATA", None)  # the default data is then the bundled sample
    src = str(Path(le4nn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def cli_env():
    """The environment the console scripts run in (offline, bundled sample, this le4nn)."""
    return _env()


@pytest.fixture
def cli(tmp_path):
    """``cli("train", *args, input=...)`` runs ``python -m le4nn.cli.<program>`` in tmp_path."""

    def run(program: str, *args: str, input: str | None = None, timeout: float = 300):
        return subprocess.run(
            [sys.executable, "-m", f"le4nn.cli.{program}", *args],
            input=input, capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """A small lecture-CNN model trained by le4nn-train on part of the bundled sample."""
    out = tmp_path_factory.mktemp("trained")
    result = subprocess.run(
        [sys.executable, "-m", "le4nn.cli.train", "--model", "lecture", "--epochs", "2", "--subset", "2000",
         "--output", str(out), "--quiet"],
        capture_output=True, text=True, env=_env(), timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return out / "model.npz"
