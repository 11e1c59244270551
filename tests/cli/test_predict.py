"""End-to-end runs of ``le4nn-predict`` as a subprocess (handout tasks 1 and 4, and the contest)."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from le4nn.datasets import sample
from le4nn.models import load_model


def _test_images():
    (_, _), (x_test, y_test) = sample.load_data()
    return x_test, y_test


def test_indices_from_stdin(cli, trained_model):
    result = cli("predict", str(trained_model), input="0\n1\n\n999\n")
    assert result.returncode == 0, result.stderr
    answers = [int(line) for line in result.stdout.split()]
    x_test, _ = _test_images()
    model = load_model(trained_model)
    expected = np.argmax(model.predict(x_test[[0, 1, 999], :, :, None].astype(np.float32) / 255), axis=1)
    assert answers == expected.tolist()


def test_random_init_is_reproducible(cli):
    first = cli("predict", "--random-init", "--seed", "7", input="3\n4\n5\n")
    second = cli("predict", "--random-init", "--seed", "7", input="3\n4\n5\n")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.split()) == 3


def test_prediction_file_for_a_contest_dump(cli, trained_model, tmp_path):
    x_test, y_test = _test_images()
    (tmp_path / "le4MNIST_X.dump").write_bytes(pickle.dumps(x_test[:200].reshape(200, 784), protocol=2))
    np.save(tmp_path / "labels.npy", y_test[:200])
    result = cli("predict", str(trained_model), "--input", "le4MNIST_X.dump", "--output", "predict.txt",
                 "--labels", "labels.npy")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "predict.txt").read_text().splitlines()
    assert len(lines) == 200 and all(line in "0123456789" and line for line in lines)
    accuracy = float(result.stderr.split("accuracy ")[1].split()[0])
    assert accuracy == pytest.approx(np.mean(np.array(lines, dtype=int) == y_test[:200]))
    assert "confusion matrix" in result.stderr


def test_npy_and_png_inputs(cli, trained_model, tmp_path):
    x_test, _ = _test_images()
    np.save(tmp_path / "images.npy", x_test[:5])
    npy = cli("predict", str(trained_model), "--input", "images.npy")
    assert npy.returncode == 0, npy.stderr
    plt_image = pytest.importorskip("matplotlib.image", reason="matplotlib is not installed")
    for i in range(2):
        plt_image.imsave(tmp_path / f"digit{i}.png", x_test[i], cmap="gray", vmin=0, vmax=255)
    png = cli("predict", str(trained_model), "--input", "digit0.png", "digit1.png")
    assert png.returncode == 0, png.stderr
    assert png.stdout.split() == npy.stdout.split()[:2]
    np.save(tmp_path / "channels.npy", x_test[5:8, :, :, None])  # (N, 28, 28, 1) goes with (N, 28, 28)
    both = cli("predict", str(trained_model), "--input", "images.npy", "channels.npy", "digit0.png")
    channels = cli("predict", str(trained_model), "--input", "channels.npy")
    assert both.returncode == 0 and channels.returncode == 0, both.stderr + channels.stderr
    assert both.stdout.split() == npy.stdout.split() + channels.stdout.split() + png.stdout.split()[:1]


def test_show_saves_the_image_and_reads_it_back(cli, trained_model, tmp_path):
    """--show writes the test image alone, 10× enlarged; --input reads that PNG back (another size than
    the model's: prepared the MNIST way) and answers the same digit."""
    pytest.importorskip("matplotlib", reason="reading PNG files needs matplotlib")
    result = cli("predict", str(trained_model), "--show", input="12\n")
    assert result.returncode == 0, result.stderr
    digit = result.stdout.split()[0]
    path = tmp_path / f"le4nn-image-12-predicted-{digit}.png"
    assert path.exists() and f"(image saved to {path.name})" in result.stderr
    from le4nn.datasets.inputs import png_size

    assert png_size(path, path.read_bytes()[:24]) == (280, 280)
    again = cli("predict", str(trained_model), "--input", path.name)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [digit]


def test_a_photo_of_handwriting_is_prepared_the_mnist_way(cli, trained_model, tmp_path):
    """Dark digits on light, noisy paper, 12× enlarged and off centre in a 420×360 picture, as a phone
    photo of handwriting: le4nn-predict answers as for the 28×28 test images themselves."""
    from le4nn import datasets
    from le4nn.plot import save_png

    (_, _), (x_test, _) = datasets.load("sample")
    rng = np.random.default_rng(4)
    for i in range(6):
        picture = np.full((420, 360), 230.0)
        top, left = rng.integers(0, 420 - 336), rng.integers(0, 360 - 336)
        picture[top : top + 336, left : left + 336] -= 0.8 * np.kron(x_test[i], np.ones((12, 12)))
        picture += rng.normal(0, 6, picture.shape)
        save_png(np.clip(np.rint(picture), 0, 255).astype(np.uint8), tmp_path / f"photo{i}.png")
    np.save(tmp_path / "originals.npy", x_test[:6])
    photos = cli("predict", str(trained_model), "--input", *[f"photo{i}.png" for i in range(6)])
    originals = cli("predict", str(trained_model), "--input", "originals.npy")
    assert photos.returncode == 0 and originals.returncode == 0, photos.stderr + originals.stderr
    assert photos.stdout.split() == originals.stdout.split()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["missing.npz"], "", "not found"),
        (["MODEL"], "7\nseven\n", "not an integer"),
        (["MODEL"], "100000\n", "out of range"),
        (["MODEL", "--input", "missing.dump"], "", "not found"),
        (["MODEL", "--input", "garbage.bin"], "", "not a contest dump"),
        (["MODEL", "--input", "wrong_size.npy"], "", "do not fit the model"),
        (["MODEL", "--input", "ok.npy", "--labels", "short.npy"], "", "labels for"),
        ([], "", "give a MODEL file or --random-init"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_status(cli, trained_model, tmp_path, args, stdin, message):
    (tmp_path / "garbage.bin").write_bytes(b"this is not an image file at all")
    np.save(tmp_path / "wrong_size.npy", np.zeros((2, 32, 32), np.uint8))
    np.save(tmp_path / "ok.npy", np.zeros((3, 28, 28), np.uint8))
    np.save(tmp_path / "short.npy", np.zeros(2, np.int64))
    args = [str(trained_model) if a == "MODEL" else a for a in args]
    result = cli("predict", *args, input=stdin)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_model_file_that_is_not_a_model(cli, tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated zip")
    result = cli("predict", "broken.npz", input="1\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr


# --- hostile and unusual input files (issue 15) -------------------------------------------------------

def _hostile_dump() -> bytes:
    """A u1 array pickle whose dtype BUILD state gives it a (1000, 1000) sub-array (a segfault before)."""

    class Reduced:
        def __init__(self, *value):
            self.value = value

        def __reduce__(self):
            return self.value

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1
        from numpy.core.multiarray import _reconstruct
    dtype = Reduced(np.dtype, ("u1", False, True), (3, "|", (np.dtype("u1"), (1000, 1000)), None, None, -1, -1, 0))
    array = Reduced(_reconstruct, (np.ndarray, (0,), b"b"), (1, (8, 784), dtype, False, bytes(8 * 784)))
    return pickle.dumps(array, protocol=2)


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"evil.dump": _hostile_dump()}, ["--input", "evil.dump"], "evil.dump: refused to unpickle"),
        ({"ok.npy": np.zeros((1, 28, 28), np.uint8), "labels.txt": "100000\n"},
         ["--input", "ok.npy", "--labels", "labels.txt"], "labels.txt: label 100000 (number 1) is out of range"),
        ({"ok.npy": np.zeros((2, 28, 28), np.uint8), "labels.txt": "1\nabc\n"},
         ["--input", "ok.npy", "--labels", "labels.txt"], "labels.txt: line 2: 'abc' is not an integer"),
        ({"strings.npy": np.array(["a"])}, ["--input", "strings.npy"], "strings.npy: the .npy file holds dtype"),
        ({"nan.npy": np.full((1, 28, 28), np.nan)}, ["--input", "nan.npy"], "nan.npy: the pixels include NaN"),
        ({"many-dims.idx": bytes([0, 0, 8, 65]) + bytes(260)}, ["--input", "many-dims.idx"],
         "many-dims.idx: the idx header declares 65 dimensions"),
        ({"ok.npy": np.zeros((2, 28, 28), np.uint8), "small.npy": np.zeros((2, 10, 10), np.uint8)},
         ["--input", "ok.npy", "small.npy"], "small.npy: images of shape (10, 10, 1) do not fit the model"),
    ],
    ids=["subarray-dump", "label-100000", "label-word", "string-npy", "nan-npy", "idx-65-dims", "wrong-size-npy"],
)
def test_hostile_input_files_end_in_one_line_and_status_2(cli, trained_model, tmp_path, files, args, message):
    for name, content in files.items():
        if isinstance(content, np.ndarray):
            np.save(tmp_path / name, content)
        else:
            (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    result = cli("predict", str(trained_model), *args)
    assert result.returncode == 2, (result.returncode, result.stderr)  # not a signal death (negative)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_integer_and_float_pixels_predict_as_uint8_pixels_do(cli, trained_model, tmp_path):
    x_test, _ = _test_images()
    forms = {"u8": x_test[:50], "i64": x_test[:50].astype(np.int64), "f64": x_test[:50].astype(np.float64),
             "scaled": x_test[:50].astype(np.float32) / np.float32(255)}
    outputs = []
    for name, array in forms.items():
        np.save(tmp_path / f"{name}.npy", array)
        result = cli("predict", str(trained_model), "--input", f"{name}.npy")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert len(set(outputs)) == 1 and len(outputs[0].split()) == 50


# --- piped indices: every good line is answered, every bad one reported ---------------------------


@pytest.mark.parametrize(("stdin", "answered", "bad"), [
    ("0\nabc\n1\n", 2, ["line 2: not an integer: 'abc'"]),
    ("5\n-1\n100000\n7\n", 2, ["line 2: index -1 is out of range", "line 3: index 100000 is out of range"]),
    ("1.5\n\n2\n", 1, ["line 1: not an integer: '1.5'"]),
])
def test_piped_bad_lines_are_reported_and_the_rest_answered(cli, stdin, answered, bad):
    result = cli("predict", "--random-init", "--seed", "3", input=stdin)
    good = cli("predict", "--random-init", "--seed", "3",
               input="".join(line + "\n" for line in stdin.split() if line.isdigit() and int(line) < 1000))
    assert result.returncode == 2
    assert result.stdout == good.stdout and len(result.stdout.split()) == answered
    lines = result.stderr.splitlines()
    assert len(lines) == len(bad)
    for line, expected in zip(lines, bad, strict=True):
        assert line.startswith("le4nn-predict: error: ") and expected in line


def test_generated_npy_is_written_atomically_with_the_umask(run_main, tmp_path):
    from le4nn import gan
    from le4nn.cli import predict as predict_cli

    gan.build_generator(width=4).save(tmp_path / "g.npz")
    (tmp_path / "images.npy").write_bytes(b"old")
    previous = os.umask(0o022)
    try:
        status, _, stderr = run_main(predict_cli, "g.npz", "--generate", "3", "--output", "images.npy")
    finally:
        os.umask(previous)
    assert status == 0, stderr
    assert np.load(tmp_path / "images.npy").shape[0] == 3
    assert (tmp_path / "images.npy").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz", "images.npy"]


# --- models taking other layouts than (H, W, C) (issue 15's sweep) ------------------------------------

def _layout_models():
    """Untrained models taking MNIST images as (C, H, W), as flat 784 pixels, as (H, W), and a functional
    (H, W, C) one; with the layout each takes, from (N, 28, 28, 1) images."""
    from le4nn.layers import Add, Conv2D, Dense, Flatten, Input
    from le4nn.models import Model, Sequential

    inputs = Input((28, 28, 1))
    branch = Conv2D(2, 3, padding="same")(inputs)
    merged = Add()([branch, Conv2D(2, 3, padding="same")(branch)])
    functional = Model(inputs, Dense(10, activation="softmax")(Flatten()(merged)))
    return {
        "channels-first": (Sequential([Conv2D(2, 3, data_format="channels_first", input_shape=(1, 28, 28)), Flatten(),
                                       Dense(10, activation="softmax")]), lambda x: x.transpose(0, 3, 1, 2)),
        "flat": (Sequential([Dense(10, activation="softmax", input_shape=(784,))]), lambda x: x.reshape(len(x), -1)),
        "height-width": (Sequential([Flatten(input_shape=(28, 28)), Dense(10, activation="softmax")]),
                         lambda x: x[..., 0]),
        "functional": (functional, lambda x: x),
    }


@pytest.mark.parametrize("layout", ["channels-first", "flat", "height-width", "functional"])
def test_models_of_other_input_layouts_classify_files_and_indices(run_main, tmp_path, monkeypatch, layout):
    from le4nn.cli import predict as predict_cli

    model, arrange = _layout_models()[layout]
    model.save(tmp_path / "model.npz")
    x_test, _ = _test_images()
    np.save(tmp_path / "images.npy", x_test[:20])
    expected = np.argmax(model.predict(arrange(x_test[:20, :, :, None].astype(np.float32) / 255)), axis=1)
    status, out, stderr = run_main(predict_cli, "model.npz", "--input", "images.npy", prog="le4nn-predict")
    assert status == 0, stderr
    assert [int(v) for v in out.split()] == expected.tolist()
    monkeypatch.setattr("sys.stdin", io.StringIO("3\n0\n"))
    status, out, stderr = run_main(predict_cli, "model.npz", "--dataset", "sample", prog="le4nn-predict")
    assert status == 0, stderr
    assert [int(v) for v in out.split()] == expected[[3, 0]].tolist()


def test_a_model_with_two_outputs_is_one_line(run_main, tmp_path):
    from le4nn.cli import predict as predict_cli
    from le4nn.layers import Dense, Flatten, Input
    from le4nn.models import Model

    inputs = Input((28, 28, 1))
    hidden = Flatten()(inputs)
    Model(inputs, [Dense(10)(hidden), Dense(3)(hidden)]).save(tmp_path / "two.npz")
    np.save(tmp_path / "images.npy", np.zeros((2, 28, 28), np.uint8))
    status, _, stderr = run_main(predict_cli, "two.npz", "--input", "images.npy", prog="le4nn-predict")
    assert status == 2 and len(stderr) == 1 and "two.npz: the model has several inputs or outputs" in stderr[0]


def test_ctrl_c_at_the_prompt_is_one_line_and_status_130(run_main, tmp_path, monkeypatch):
    from le4nn.cli import predict as predict_cli
    from le4nn.cli.presets import build_preset

    build_preset("mlp", (28, 28, 1), 10, hidden=4).save(tmp_path / "model.npz")

    class CtrlC(io.StringIO):
        def readline(self, *args):
            raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin", CtrlC())
    status, _, stderr = run_main(predict_cli, "model.npz", "--dataset", "sample", prog="le4nn-predict")
    assert (status, stderr) == (130, ["le4nn-predict: interrupted"])  # was a KeyboardInterrupt traceback
