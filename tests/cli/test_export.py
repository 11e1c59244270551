"""``le4nn-export MODEL.npz OUT.onnx [--opset N] [--class-names ...]``: exit codes, one-line errors, the file."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from le4nn.cli import export
from le4nn.cli.presets import build_preset
from le4nn.layers import Dense, Flatten, Layer
from le4nn.models import Sequential
from tests.models.onnx.helpers import BATCHES, assert_agrees, real_images, require_onnx, session


@pytest.fixture
def lecture_file(tmp_path):
    model = build_preset("lecture", (28, 28, 1), 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(tmp_path / "lecture.npz")
    return tmp_path / "lecture.npz", model


def test_exports_a_saved_model(run_main, lecture_file, tmp_path):
    onnx, _ = require_onnx()
    path, model = lecture_file
    status, _, err = run_main(export, str(path), "lecture.onnx", "--opset", "17", "--class-names",
                              "zero,one,two,three,four,five,six,seven,eight,nine")
    assert status == 0, err
    assert len(err) == 1 and err[0].startswith("wrote lecture.onnx")
    proto = onnx.load(str(tmp_path / "lecture.onnx"))
    assert proto.opset_import[0].version == 17
    assert json.loads({p.key: p.value for p in proto.metadata_props}["class_names"])[9] == "nine"
    sess = session(tmp_path / "lecture.onnx")
    for n in BATCHES:
        assert_agrees(model, sess, [real_images("mnist", n)], f"batch {n}")


def test_console_script_runs_as_a_module(cli, lecture_file):
    require_onnx()
    path, _ = lecture_file
    result = cli("export", str(path), "out.onnx")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "wrote out.onnx" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.npz", "out.onnx"], "missing.npz"),
    (["{model}", "no/such/folder/out.onnx"], "does not exist"),
    (["{model}", "out.onnx", "--opset", "16"], "argument --opset: must be an integer >= 17"),
    (["{model}", "out.onnx", "--opset", "999"], "opset must be an integer from 17"),
    (["{model}", "out.onnx", "--class-names", "a,,b"], "argument --class-names"),
    (["{model}", "out.onnx", "--class-names", "a,b"], "class_names has 2 names"),
    (["{model}", "{model}"], "is the model file itself"),
    (["{model}"], "the following arguments are required"),
    (["{garbage}", "out.onnx"], "garbage.npz"),
])
def test_bad_arguments_are_one_line_and_exit_2(run_main, lecture_file, tmp_path, args, message):
    require_onnx()
    path, _ = lecture_file
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 this is no model")
    args = [a.format(model=path, garbage=tmp_path / "garbage.npz") for a in args]
    status, out, err = run_main(export, *args, prog="le4nn-export")
    assert status == 2
    assert out == "" and len(err) == 1 and err[0].startswith("le4nn-export: error: ") and message in err[0], err
    assert not (tmp_path / "out.onnx").exists()


class _Custom(Layer):
    def forward(self, x, training=False):
        return x


def test_unsupported_layer_and_missing_onnx_are_one_line(run_main, tmp_path, monkeypatch):
    require_onnx()
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(3)])
    model.save(tmp_path / "ok.npz")
    monkeypatch.setattr("le4nn.models.onnx.export_layers.EMITTERS", {})  # as if Dense had no ONNX form
    status, _, err = run_main(export, "ok.npz", "out.onnx")
    assert status == 2 and len(err) == 1 and "Flatten layer" in err[0] and "no ONNX export" in err[0], err
    monkeypatch.setitem(sys.modules, "onnx", None)
    status, _, err = run_main(export, "ok.npz", "out.onnx")
    assert status == 2 and len(err) == 1 and 'pip install "le4nn[onnx]"' in err[0], err
    assert not (tmp_path / "out.onnx").exists()


def test_non_finite_model_is_refused(run_main, nan_model):
    require_onnx()
    status, _, err = run_main(export, str(nan_model), "out.onnx")
    assert status == 2 and len(err) == 1 and np.any(["NaN" in line for line in err]), err
