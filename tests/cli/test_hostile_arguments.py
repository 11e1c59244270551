"""The table of bad arguments, configs and environments: each ends in exit status 2 and exactly ONE
line on stderr that names the option, file or variable (never a traceback, never a run).

The console scripts run in-process through their entry point's ``run`` (the ``run_main`` fixture);
what must be seen before ``le4nn`` is imported (environment variables) runs in a subprocess.
"""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest

from le4nn.cli import gan as gan_cli
from le4nn.cli import predict as predict_cli
from le4nn.cli import train as train_cli
from le4nn.datasets.idx import save_idx
from le4nn.layers import Dense, Flatten
from le4nn.models import Sequential

TRAIN_FAST = ("--dataset", "sample", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--quiet")
NON_FINITE = ("nan", "inf", "-inf")
FLOAT_OPTIONS = ("--lr", "--weight-decay", "--warmup", "--label-smoothing", "--validation-split")


def assert_one_line_error(result, name: str) -> None:
    status, _, stderr = result
    assert status == 2, stderr
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith(("le4nn-train: error: ", "le4nn-predict: error: ", "python -m le4nn.cli.gan"))
    assert name in stderr[0]


# --- le4nn-train: options ------------------------------------------------------------------------

BAD_TRAIN_OPTIONS = [
    *[(option, [option, value]) for option in FLOAT_OPTIONS for value in NON_FINITE],
    ("--lr", ["--lr", "-0.1"]),
    ("--lr", ["--lr", "0"]),
    ("--lr", ["--lr", "fast"]),
    ("--seed", ["--seed", "-1"]),
    ("--seed", ["--seed", str(2**64)]),
    ("--epochs", ["--epochs", "0"]),
    ("--epochs", ["--epochs", "-1"]),
    ("--batch-size", ["--batch-size", "0"]),
    ("--threads", ["--threads", "0"]),
    ("--threads", ["--threads", str(2**70)]),
    ("--hidden", ["--hidden", str(10**20)]),
    ("--hidden", ["--hidden", "-3"]),
    ("--subset", ["--subset", "0"]),
    ("--warmup", ["--warmup", "-1"]),
    ("--validation-split", ["--validation-split", "1"]),
    ("--label-smoothing", ["--label-smoothing", "1.5"]),
    ("--augment", ["--augment", "bogus"]),
    ("--dataset", ["--dataset", "bogus"]),
    ("--model", ["--model", "bogus"]),
    ("--optimizer", ["--optimizer", "bogus"]),
    ("--schedule", ["--schedule", "cosine:nan"]),
    ("--schedule", ["--schedule", "step:0"]),
    ("--schedule", ["--schedule", "bogus"]),
    ("--ema-decay", ["--model", "dcgan", "--ema-decay", "nan"]),
    ("--clusters", ["--model", "dcgan", "--clusters", "-1"]),
    ("--widths", ["--model", "dcgan", "--widths", "0,0"]),
    ("--subset", ["--model", "dcgan", "--subset", "1"]),
    ("--lr", ["--model", "cdcgan", "--lr", "nan"]),
    ("--batch-size", ["--model", "dcgan", "--batch-size", "0"]),
    ("--subset", ["--subset", "1"]),  # 0 images left to train on after the default validation split
    ("--validation-split", ["--subset", "5", "--validation-split", "0.9"]),
    ("--validation-split", ["--subset", "5", "--validation-split", "1e-20"]),  # no validation image
    ("--resume", ["--resume", "missing.npz"]),
    ("--output", ["--output", ""]),  # an unset shell variable: was a run written into the current folder
]


@pytest.mark.parametrize(("name", "args"), BAD_TRAIN_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_train_option(run_main, tmp_path, name, args):
    assert_one_line_error(run_main(train_cli, *TRAIN_FAST, *args, "--output", "out", prog="le4nn-train"), name)
    assert not (tmp_path / "out" / "model.npz").exists()


@pytest.mark.parametrize("where", ["file", "under a file"])
def test_output_that_is_or_lies_under_a_file(run_main, tmp_path, where):
    (tmp_path / "taken").write_text("keep me")
    output = "taken" if where == "file" else "taken/run"
    assert_one_line_error(run_main(train_cli, *TRAIN_FAST, "--output", output, prog="le4nn-train"), "--output")
    assert (tmp_path / "taken").read_text() == "keep me"


def test_data_set_without_training_images(run_main, tmp_path):
    folder = tmp_path / "empty-mnist"
    folder.mkdir()
    for prefix, count in (("train", 0), ("t10k", 3)):
        save_idx(folder / f"{prefix}-images-idx3-ubyte", np.zeros((count, 28, 28), np.uint8))
        save_idx(folder / f"{prefix}-labels-idx1-ubyte", np.zeros(count, np.uint8))
    result = run_main(train_cli, "--dataset", str(folder), "--model", "mlp", "--output", "out", prog="le4nn-train")
    assert_one_line_error(result, "--dataset")
    assert "no training images" in result[2][0]


def test_a_file_that_is_no_data_set_is_one_line(run_main, tmp_path):
    (tmp_path / "notes.txt").write_text("not a data set")  # tarfile's error lists each method on a line
    assert_one_line_error(run_main(train_cli, *TRAIN_FAST, "--dataset", "notes.txt", "--output", "out",
                                   prog="le4nn-train"), "notes.txt")


# --- le4nn-train: JSON model configs ------------------------------------------------------------


def _config(model) -> str:
    return json.dumps(model.get_config())


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE_CONFIGS = {
    "a list": lambda: "[1, 2, 3]",
    "a string": lambda: '"Sequential"',
    "a number": lambda: "42",
    "empty": lambda: "",
    "not utf-8": lambda: "\udcff",
    "deep nesting": lambda: _deep(100_000),
    "deep nesting in the config": lambda: '{"class_name": "Sequential", "config": ' + _deep(50_000) + "}",
    "an empty object": lambda: "{}",
    "layers not a list": lambda: '{"class_name": "Sequential", "config": {"layers": 7}}',
    "layers of the wrong type": lambda: '{"class_name": "Sequential", "config": {"layers": [1, "x"]}}',
    "no layers": lambda: '{"class_name": "Sequential", "config": {"layers": []}}',
    "an unknown layer": lambda: '{"class_name": "Sequential", "config": {"layers": '
                                '[{"class_name": "Bogus", "config": {}}]}}',
    "an unknown model class": lambda: '{"class_name": "os.system", "config": {}}',
    "a functional config with a bad link": lambda: '{"class_name": "Functional", "config": {"layers": '
                                                   '[{"class_name": "Dense", "config": {"units": 2}, '
                                                   '"inbound": ["nowhere"]}]}}',
    "Dense(3) last for 10 classes": lambda: _config(Sequential([Flatten(input_shape=(28, 28, 1)), Dense(3)])),
    "a wrong input shape": lambda: _config(Sequential([Flatten(input_shape=(32, 32, 3)), Dense(10)])),
    "a layer of 10^12 weights": lambda: _config(Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10)]))
    .replace('"units": 10', '"units": 1300000000'),
    "larger than a model header may be": lambda: " " * (8 * 2**20 + 1),
    "more weights than memory": lambda: json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Flatten", "config": {"input_shape": [28, 28, 1]}},
        {"class_name": "Dense", "config": {"units": 10**12}}, {"class_name": "Dense", "config": {"units": 10}}]}}),
}


@pytest.mark.parametrize("kind", list(HOSTILE_CONFIGS))
def test_hostile_model_config(run_main, tmp_path, kind):
    text = HOSTILE_CONFIGS[kind]()
    (tmp_path / "model.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    result = run_main(train_cli, *TRAIN_FAST, "--model", "model.json", "--output", "out", prog="le4nn-train")
    assert_one_line_error(result, "model.json")
    assert "--model" in result[2][0]


def test_a_valid_config_trains(run_main, tmp_path):
    (tmp_path / "model.json").write_text(_config(Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10)])))
    status, out, stderr = run_main(train_cli, *TRAIN_FAST, "--model", "model.json", "--validation-split", "0",
                                   "--subset", "200", "--output", "out", prog="le4nn-train")
    assert status == 0, stderr
    assert "test accuracy" in out


# --- le4nn-predict ---------------------------------------------------------------------------------

BAD_PREDICT_OPTIONS = [
    ("--seed", ["--random-init", "--seed", "-1"]),
    ("--seed", ["--random-init", "--seed", "x"]),
    ("--dataset", ["--random-init", "--dataset", "bogus"]),
    ("--generate", ["MODEL", "--generate", "1000000000"]),
    ("--generate", ["MODEL", "--generate", "20000", "--output", "grid.png"]),
    ("--generate", ["MODEL", "--generate", "0"]),
    ("--output", ["MODEL", "--generate", "4", "--output", "grid.txt"]),
    ("--output", ["MODEL", "--input", "x.npy", "--output", "taken/predict.txt"]),
    ("--output", ["MODEL", "--input", "x.npy", "--output", "."]),
    ("--output", ["MODEL", "--input", "x.npy", "--output", "missing/predict.txt"]),
    ("--labels", ["MODEL", "--input", "x.npy", "--labels", "big.txt"]),
    ("nan-model.npz", ["NAN_MODEL", "--input", "x.npy"]),
    ("nan-model.npz", ["NAN_MODEL", "--generate", "4"]),
    ("missing.npz", ["missing.npz"]),
]


@pytest.mark.parametrize(("name", "args"), BAD_PREDICT_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_predict_option(run_main, tmp_path, nan_model, name, args):
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")])
    model.save(tmp_path / "model.npz")
    (tmp_path / "taken").write_text("a file")
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))
    (tmp_path / "big.txt").write_text("100000\n1\n")
    args = [{"MODEL": "model.npz", "NAN_MODEL": str(nan_model)}.get(a, a) for a in args]
    assert_one_line_error(run_main(predict_cli, *args, prog="le4nn-predict"), name)


def test_nan_model_does_not_answer(run_main, nan_model, monkeypatch):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("0\n1\n"))
    status, out, stderr = run_main(predict_cli, str(nan_model), prog="le4nn-predict")
    assert status == 2 and out == ""
    assert len(stderr) == 1 and "nan-model.npz" in stderr[0] and "not finite" in stderr[0]


# --- python -m le4nn.cli.gan judge -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "args"), [
    ("--per-class", ["--per-class", "0"]),
    ("--samples", ["--samples", "1000000000"]),
    ("--seed", ["--seed", "-5"]),
    ("missing.npz", []),
])
def test_bad_judge_option(run_main, name, args):
    result = run_main(gan_cli, "judge", "missing.npz", "missing.npz", *args, prog="python -m le4nn.cli.gan")
    assert_one_line_error(result, name)


# --- full disk ------------------------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_keeps_the_previous_predictions(run_main, tmp_path, monkeypatch):
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")])
    model.save(tmp_path / "model.npz")
    np.save(tmp_path / "x.npy", np.zeros((3, 28, 28), np.uint8))
    (tmp_path / "predict.txt").write_text("7\n7\n7\n")
    monkeypatch.setattr("le4nn._files.os.fsync", _disk_full)
    result = run_main(predict_cli, "model.npz", "--input", "x.npy", "--output", "predict.txt", prog="le4nn-predict")
    assert_one_line_error(result, "predict.txt")
    assert "No space left" in result[2][0]
    assert (tmp_path / "predict.txt").read_text() == "7\n7\n7\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "predict.txt", "x.npy"]


def test_full_disk_during_training(run_main, tmp_path, monkeypatch):
    monkeypatch.setattr("le4nn._files.os.fsync", _disk_full)
    result = run_main(train_cli, *TRAIN_FAST, "--subset", "200", "--output", "out", prog="le4nn-train")
    assert_one_line_error(result, "out")
    assert "No space left" in result[2][0]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


# --- environment variables (read when le4nn is imported: a fresh process each) ----------------------

BAD_ENVIRONMENTS = [
    ("LE4NN_NUM_THREADS", "abc"),
    ("LE4NN_NUM_THREADS", "0"),
    ("LE4NN_NUM_THREADS", "-2"),
    ("LE4NN_NUM_THREADS", "99999"),  # a segmentation fault in the first kernel before
    ("LE4NN_BACKEND", "bogus"),
]


@pytest.mark.parametrize("program", ["train", "predict", "gan"])
@pytest.mark.parametrize(("variable", "value"), BAD_ENVIRONMENTS)
def test_bad_environment_variable(cli, program, variable, value):
    args = {"train": ["--model", "mlp", "--epochs", "1", "--subset", "100"], "predict": ["--random-init"],
            "gan": ["judge", "g.npz", "c.npz"]}[program]
    result = cli(program, *args, input="0\n", env={variable: value})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and variable in lines[0] and repr(value) in lines[0], lines


def test_a_warning_is_one_line_without_python_source(run_main, tmp_path):
    """A partial CIFAR-10 folder (as the shared data is) trains, with one ``le4nn-train: warning:`` line."""
    import pickle

    folder = tmp_path / "cifar"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        batch = {b"labels": rng.integers(0, 10, 30).tolist(), b"data": rng.integers(0, 256, (30, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    status, _, stderr = run_main(train_cli, "--dataset", str(folder), *TRAIN_FAST[2:], "--validation-split", "0",
                                 "--output", "out", prog="le4nn-train")
    assert status == 0, stderr
    assert len(stderr) == 1 and stderr[0].startswith("le4nn-train: warning: CIFAR-10 at ") and "incomplete" in stderr[0]
