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

from le4nn.cli import train as train_cli
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
    assert model.epochs_done >= 1


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


# --- signals, divergence, files --------------------------------------------------------------------

FAST = ("--dataset", "sample", "--model", "mlp", "--hidden", "8", "--quiet")


def _history_epochs(path) -> list[str]:
    with open(path) as f:
        return [row["epoch"] for row in csv.DictReader(f)]


def _start_and_wait_for_epoch_1(tmp_path, cli_env, *extra):
    process = subprocess.Popen(
        [sys.executable, "-m", "le4nn.cli.train", "--model", "mlp", "--epochs", "500", "--output", "run", *extra],
        cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in process.stderr:  # one line per epoch when not on a terminal
        if line.startswith("Epoch 1/"):
            break
    return process


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to a child process is POSIX-only")
def test_sigterm_saves_a_checkpoint_like_ctrl_c(tmp_path, cli_env):
    process = _start_and_wait_for_epoch_1(tmp_path, cli_env)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "SIGTERM: stopping after this batch" in stderr and "Resume with:" in stderr
    assert load_model(tmp_path / "run" / "checkpoint-interrupted.npz").epochs_done >= 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")
def test_resume_after_kill_9_does_not_duplicate_history_rows(tmp_path, cli_env, cli):
    process = _start_and_wait_for_epoch_1(tmp_path, cli_env)
    process.kill()
    process.communicate(timeout=60)
    done = load_model(tmp_path / "run" / "checkpoint.npz").epochs_done
    resumed = cli("train", "--model", "mlp", "--epochs", str(done + 2), "--output", "run", "--quiet",
                  "--resume", str(tmp_path / "run" / "checkpoint.npz"))
    assert resumed.returncode == 0, resumed.stderr
    assert _history_epochs(tmp_path / "run" / "history.csv") == [str(e) for e in range(done + 2)]
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_resume_drops_the_rows_of_epochs_the_checkpoint_lacks(run_main, tmp_path):
    status, _, stderr = run_main(train_cli, *FAST, "--epochs", "2", "--subset", "300", "--output", "run")
    assert status == 0, stderr
    history = tmp_path / "run" / "history.csv"
    header = history.read_text().splitlines()[0]
    with open(history, "a") as f:  # a row written just before a kill -9, its checkpoint never saved
        f.write("2," + ",".join(["9"] * (header.count(","))) + "\r\n")
    status, _, stderr = run_main(train_cli, *FAST, "--epochs", "3", "--subset", "300", "--output", "run",
                                 "--resume", "run/checkpoint.npz")
    assert status == 0, stderr
    assert _history_epochs(history) == ["0", "1", "2"]
    assert ",9,9," not in history.read_text()


def test_stale_temporaries_of_a_killed_run_are_removed(run_main, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    run = tmp_path / "run"
    run.mkdir()
    stale = run / f".checkpoint.npz.{dead}.k1ll3d.tmp"
    alive = run / f".checkpoint.npz.{os.getpid()}.wr1t1ng.tmp"  # another writer still running: kept
    foreign = run / ".checkpoint.npz.notours.tmp"  # not our naming pattern: kept
    for path in (stale, alive, foreign):
        path.write_bytes(b"partial")
    status, _, stderr = run_main(train_cli, *FAST, "--epochs", "1", "--subset", "200", "--output", "run")
    assert status == 0, stderr
    assert not stale.exists() and alive.exists() and foreign.exists()


def test_diverging_run_stops_keeps_no_nan_model_and_exits_1(cli, tmp_path):
    result = cli("train", "--dataset", "sample", "--model", "lecture", "--epochs", "2", "--subset", "300",
                 "--lr", "1e30", "--output", "run")
    assert result.returncode == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("le4nn-train: error: training diverged") and "--lr" in last
    assert "Traceback" not in result.stderr and "RuntimeWarning" not in result.stderr
    assert not (tmp_path / "run" / "model.npz").exists()
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    if checkpoint.exists():  # only an epoch that ended finite is ever saved
        assert all(np.isfinite(w).all() for w in load_model(checkpoint).get_weights())


def test_resume_of_a_nan_checkpoint_is_refused(run_main, nan_model):
    status, _, stderr = run_main(train_cli, *FAST, "--epochs", "2", "--resume", str(nan_model), "--output", "run")
    assert status == 2 and len(stderr) == 1
    assert "nan-model.npz" in stderr[0] and "not finite" in stderr[0]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_outputs_follow_the_umask(run_main, tmp_path):
    previous = os.umask(0o027)
    try:
        status, _, stderr = run_main(train_cli, *FAST, "--epochs", "1", "--subset", "200", "--output", "run")
    finally:
        os.umask(previous)
    assert status == 0, stderr
    for name in ("model.npz", "checkpoint.npz", "history.csv", "results.json"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640, name
