"""End-to-end runs of ``le4nn-train`` as a subprocess on the bundled sample."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from le4nn.datasets import sample
from le4nn.models import load_model


def test_short_run_writes_a_loadable_model(cli, tmp_path):
    result = cli("train", "--model", "lecture", "--epochs", "1", "--subset", "1000", "--output", "run")
    assert result.returncode == 0, result.stderr
    assert "bundled" in result.stdout  # says which data it used
    assert "test accuracy" in result.stdout
    model = load_model(tmp_path / "run" / "model.npz")
    (_, _), (x_test, _) = sample.load_data()
    probabilities = model.predict(x_test[:10, :, :, None].astype(np.float32) / 255)
    assert probabilities.shape == (10, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])


def test_handout_task_3_prints_every_epoch_loss(cli, tmp_path):
    """The handout's task 3: the 3-layer network with plain SGD prints the loss of each epoch."""
    result = cli("train", "--model", "mlp", "--epochs", "10", "--batch-size", "100", "--lr", "0.01",
                 "--optimizer", "sgd", "--output", "task3")
    assert result.returncode == 0, result.stderr
    epoch_lines = [line for line in result.stderr.splitlines() + result.stdout.splitlines()
                   if line.startswith("Epoch ")]
    assert len(epoch_lines) == 10
    losses = [float(line.split("loss: ")[1].split()[0]) for line in epoch_lines]
    assert losses[-1] < losses[0]
    assert "SGD(learning_rate=0.01" in result.stdout
    assert (tmp_path / "task3" / "model.npz").exists()


def test_plots_are_written_when_matplotlib_is_present(cli, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    result = cli("train", "--model", "mlp", "--epochs", "1", "--output", "plots")
    assert result.returncode == 0, result.stderr
    for name in ("history.png", "confusion.png", "misclassified.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_resume_continues_from_the_checkpoint(cli, tmp_path):
    first = cli("train", "--model", "mlp", "--epochs", "1", "--output", "run", "--quiet")
    assert first.returncode == 0, first.stderr
    resumed = cli("train", "--model", "mlp", "--epochs", "2", "--output", "run",
                  "--resume", str(tmp_path / "run" / "checkpoint.npz"))
    assert resumed.returncode == 0, resumed.stderr
    assert "from epoch 2" in resumed.stdout
    with open(tmp_path / "run" / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX-only")
def test_ctrl_c_saves_a_checkpoint_and_prints_the_resume_command(tmp_path, cli_env):
    process = subprocess.Popen(
        [sys.executable, "-m", "le4nn.cli.train", "--model", "mlp", "--epochs", "200", "--output", "run"],
        cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in process.stderr:  # one line per epoch when not on a terminal
        if line.startswith("Epoch 1/"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Resume with:" in stderr and "--resume" in stderr
    checkpoint = stderr.split("the model is saved in ")[1].split(".npz")[0] + ".npz"
    model = load_model(tmp_path / checkpoint if not os.path.isabs(checkpoint) else checkpoint)
    assert model._epochs_done >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nonsense"], "neither a preset"),
        (["--dataset", "no-such-data"], "neither a known data set"),
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--optimizer", "nonsense"], "unknown optimizer"),
        (["--resume", "missing.npz"], "not found"),
    ],
)
def test_bad_options_give_one_line_errors(cli, args, message):
    result = cli("train", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_is_installed():
    if shutil.which("le4nn-train") is None:
        pytest.skip("le4nn is not installed (running from the source tree)")
    result = subprocess.run(["le4nn-train", "--help"], capture_output=True, text=True,
                            env={**os.environ, "LE4NN_OFFLINE": "1"})
    assert result.returncode == 0 and "--resume" in result.stdout
