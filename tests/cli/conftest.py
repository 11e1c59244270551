"""Run the console scripts as subprocesses, offline, against whatever le4nn is importable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    """``cli("train", *args, input=..., env={...})`` runs ``python -m le4nn.cli.<program>`` in tmp_path
    (``env``: variables to set on top of the test environment)."""

    def run(program: str, *args: str, input: str | None = None, timeout: float = 300, env: dict | None = None):
        return subprocess.run(
            [sys.executable, "-m", f"le4nn.cli.{program}", *args],
            input=input, capture_output=True, text=True, cwd=tmp_path, env={**_env(), **(env or {})},
            timeout=timeout,
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


@pytest.fixture
def run_main(tmp_path, monkeypatch, capsys):
    """``run_main(module, *args)`` runs a console script in-process as its entry point does
    (``le4nn.cli.common.run``, argparse's exits included) in tmp_path, offline on the bundled sample;
    returns (exit status, stdout, the lines of stderr).  The backend and thread count are restored."""
    from le4nn.cli import common

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LE4NN_OFFLINE", "1")
    monkeypatch.delenv("LE4NN_DATA", raising=False)
    backend, threads = le4nn.get_backend(), le4nn.get_num_threads()

    def call(module, *args: str, prog: str | None = None):
        capsys.readouterr()
        try:
            status = common.run(module.main if hasattr(module, "main") else module.judge_main,
                                prog or module.__name__, list(args))
        except SystemExit as exc:
            status = exc.code
        finally:
            le4nn.set_backend(backend)
            le4nn.set_num_threads(threads)
        out, err = capsys.readouterr()
        return status, out, err.splitlines()

    return call


@pytest.fixture
def nan_model(tmp_path):
    """A small MLP for 28×28 images saved with a NaN in its first kernel (``nan-model.npz``)."""
    from le4nn.cli.presets import build_preset

    model = build_preset("mlp", (28, 28, 1), 10, hidden=8)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.layers[1].params["kernel"][0, 0] = np.nan
    model.save(tmp_path / "nan-model.npz")
    return tmp_path / "nan-model.npz"
