"""``le4nn-train --model dcgan|cdcgan`` and ``le4nn-predict GENERATOR --generate`` as subprocesses."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import le4nn
from le4nn import gan
from le4nn.layers import Dense, Flatten
from le4nn.models import Sequential, load_model

# Small widths, part of the bundled sample, one epoch: a few seconds.
SMOKE = ("--dataset", "sample", "--epochs", "1", "--subset", "128", "--batch-size", "32", "--widths", "16,8",
         "--seed", "1")


def _cli_environment() -> dict:
    """As the ``cli`` fixture's (offline, this le4nn), for the module-scoped training runs."""
    env = {**os.environ, "LE4NN_OFFLINE": "1"}
    env.pop("LE4NN_DATA", None)
    src = str(Path(le4nn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    """Run le4nn-train once per GAN preset; {"dcgan": output folder, "cdcgan": ...} and the runs."""
    out = tmp_path_factory.mktemp("gans")
    runs = {}
    for run, args in (("dcgan", ()), ("cdcgan", ()), ("scdcgan", ("--clusters", "5"))):
        model = "cdcgan" if run == "cdcgan" else "dcgan"
        runs[run] = subprocess.run(
            [sys.executable, "-m", "le4nn.cli.train", "--model", model, *SMOKE, *args, "--output", str(out / run)],
            capture_output=True, text=True, env=_cli_environment(), timeout=600,
        )
    return out, runs


@pytest.mark.parametrize("model", ["dcgan", "cdcgan", "scdcgan"])
def test_train_writes_grid_losses_and_generator(generators, model):
    out, runs = generators
    result = runs[model]
    assert result.returncode == 0, result.stderr
    run = out / model
    for name in ("samples_epoch_001.png", "samples.png", "generator.npz", "gan_losses.csv"):
        assert (run / name).stat().st_size > 0, name
    assert (run / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(run / "gan_losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"} <= set(rows[0])
    assert str(run / "generator.npz") in result.stdout and "samples.png" in result.stdout
    spec = gan.generator_spec(load_model(run / "generator.npz", compile=False))
    classes = {"dcgan": None, "cdcgan": 10, "scdcgan": 5}[model]
    assert (spec.latent_dim, spec.num_classes, spec.image_shape, spec.clustered) == (
        100, classes, (28, 28, 1), model == "scdcgan")
    if model == "scdcgan":
        assert "5 k-means clusters" in result.stdout and "row k shows cluster k" in result.stdout


def test_generate_png_and_npy(generators, cli, tmp_path):
    generator = str(generators[0] / "cdcgan" / "generator.npz")
    png = cli("predict", generator, "--generate", "16", "--digit", "7", "--output", "sevens.png")
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "sevens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    npy = cli("predict", generator, "--generate", "16", "--digit", "7", "--seed", "5", "--output", "sevens.npy")
    assert npy.returncode == 0, npy.stderr
    images = np.load(tmp_path / "sevens.npy")
    assert images.shape == (16, 28, 28) and images.dtype == np.uint8
    again = cli("predict", generator, "--generate", "16", "--digit", "7", "--seed", "5", "--output", "again.npy")
    assert again.returncode == 0, again.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), images)  # --seed reproduces them
    unconditional = cli("predict", str(generators[0] / "dcgan" / "generator.npz"), "--generate", "9",
                        "--output", "any.npy")
    assert unconditional.returncode == 0, unconditional.stderr
    assert np.load(tmp_path / "any.npy").shape == (9, 28, 28)
    clustered = cli("predict", str(generators[0] / "scdcgan" / "generator.npz"), "--generate", "7",
                    "--output", "clustered.npy")
    assert clustered.returncode == 0 and "random clusters of 5" in clustered.stderr, clustered.stderr
    assert np.load(tmp_path / "clustered.npy").shape == (7, 28, 28)


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        ("cdcgan", ["--digit", "10"], "--digit must be in 0..9"),
        ("cdcgan", ["--digit", "-1"], "--digit must be in 0..9"),
        ("dcgan", ["--digit", "3"], "unconditional generator"),
        ("scdcgan", ["--digit", "3"], "conditioned on 5 k-means clusters, not on digits"),
        ("cdcgan", ["--output", "images.txt"], "must end in .png"),
    ],
)
def test_generate_errors(generators, cli, model, args, message):
    result = cli("predict", str(generators[0] / model / "generator.npz"), "--generate", "4", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_generate_refuses_a_classifier_and_classifying_refuses_a_generator(generators, cli, tmp_path):
    classifier = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")])
    classifier.save(tmp_path / "classifier.npz")
    result = cli("predict", "classifier.npz", "--generate", "4")
    assert result.returncode == 2 and "is not a generator" in result.stderr
    result = cli("predict", str(generators[0] / "dcgan" / "generator.npz"), input="0\n")
    assert result.returncode == 2 and "--generate" in result.stderr
    result = cli("predict", "classifier.npz", "--digit", "3", input="0\n")
    assert result.returncode == 2 and "--digit goes with --generate" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "dcgan", "--recipe", "mnist"], "--recipe: not used by --model dcgan"),
        (["--model", "cdcgan", "--optimizer", "sgd"], "--optimizer: not used by --model cdcgan"),
        (["--model", "dcgan", "--widths", "8"], "--widths must be two positive integers"),
        (["--model", "cnn", "--widths", "8,8"], "--widths goes with --model dcgan or cdcgan"),
        (["--model", "dcgan", "--ema-decay", "1"], "--ema-decay: must be in [0, 1)"),
        (["--model", "cdcgan", "--clusters", "5"], "--clusters goes with --model dcgan"),
        (["--model", "dcgan", "--clusters", "1"], "--clusters must be 0 (none) or at least 2"),
        (["--model", "cnn", "--clusters", "5"], "--clusters goes with --model dcgan or cdcgan"),
        (["--model", "mlp", "--ema-decay", "0.9"], "--ema-decay goes with --model dcgan or cdcgan"),
    ],
)
def test_bad_gan_options(cli, args, message):
    result = cli("train", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX-only")
def test_ctrl_c_keeps_the_last_saved_generator(tmp_path):
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "le4nn.cli.train", "--model", "cdcgan", "--dataset", "sample", "--epochs", "500",
         "--subset", "64", "--batch-size", "32", "--widths", "8,4", "--output", "run"],
        cwd=tmp_path, env=_cli_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in process.stderr:  # one line per epoch when not on a terminal, after the epoch's files
        if line.startswith("Epoch 1/"):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "the generator of epoch" in stderr and "Traceback" not in stderr
    generator = load_model(tmp_path / "run" / "generator.npz", compile=False)
    assert gan.generator_spec(generator).num_classes == 10
    with open(tmp_path / "run" / "gan_losses.csv") as f:
        assert len(list(csv.DictReader(f))) == generator.epochs_done


def test_diverging_gan_exits_1_with_one_line(cli):
    result = cli("train", "--model", "dcgan", *SMOKE, "--lr", "1e30", "--output", "run", "--quiet")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines() if line.strip()]
    assert len(result.stderr.splitlines()) == 1
    assert "training diverged" in result.stderr and "--lr" in result.stderr


def test_generator_with_nan_weights_is_refused(cli, tmp_path):
    generator = gan.build_generator(width=4)
    generator.layers[1].params["kernel"][...] = np.nan
    generator.save(tmp_path / "nan-generator.npz")
    result = cli("predict", "nan-generator.npz", "--generate", "4", "--output", "x.png")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "nan-generator.npz" in result.stderr and "not finite" in result.stderr
    assert not (tmp_path / "x.png").exists()
