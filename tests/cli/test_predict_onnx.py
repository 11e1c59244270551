"""``le4nn-predict MODEL.onnx``: a PyTorch (NCHW) classifier exported to ONNX classifies files and test-set
indices as PyTorch does; broken files and a missing onnx package are one line on stderr, exit status 2."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="le4nn-predict reads .onnx models with the onnx package (pip install 'le4nn[onnx]')")
torch = pytest.importorskip("torch", reason="the .onnx model of these tests is exported from PyTorch")

import le4nn  # noqa: E402
from tests.models.onnx.helpers import torch_to_onnx  # noqa: E402


@pytest.fixture(scope="module")
def torch_classifier(tmp_path_factory):
    """(module, path): the lecture CNN in torch.nn with random weights, exported to ONNX."""
    nn = torch.nn
    torch.manual_seed(3)
    module = nn.Sequential(nn.Conv2d(1, 9, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(9 * 14 * 14, 64), nn.ReLU(), nn.Linear(64, 10))
    path = tmp_path_factory.mktemp("onnx") / "lecture.onnx"
    return module.eval(), torch_to_onnx(module, np.zeros((1, 1, 28, 28), np.float32), path)


def torch_classes(module, images_uint8: np.ndarray) -> list[int]:
    x = torch.from_numpy(images_uint8.astype(np.float32)[:, None] / 255)
    with torch.no_grad():
        return module(x).argmax(dim=1).tolist()


def test_classifies_files_as_pytorch(cli, tmp_path, torch_classifier):
    module, path = torch_classifier
    images = np.random.default_rng(0).integers(0, 256, (37, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    result = cli("predict", str(path), "--input", "images.npy")
    assert result.returncode == 0, result.stderr
    assert [int(line) for line in result.stdout.split()] == torch_classes(module, images)


def test_answers_test_set_indices_as_pytorch(cli, torch_classifier):
    from le4nn import datasets

    module, path = torch_classifier
    (images, _) = datasets.load("sample")[1]
    result = cli("predict", str(path), "--dataset", "sample", input="0\n5\n17\n")
    assert result.returncode == 0, result.stderr
    assert [int(line) for line in result.stdout.split()] == torch_classes(module, images[[0, 5, 17]])


def test_broken_onnx_files_are_one_line_exit_2(cli, tmp_path):
    (tmp_path / "garbage.onnx").write_bytes(np.random.default_rng(1).bytes(3000))
    (tmp_path / "cut.onnx").write_bytes(b"\x08\x07\x12")
    for name in ("garbage.onnx", "cut.onnx"):
        result = cli("predict", name, "--input", "x.npy")
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"le4nn-predict: error: {name}: "), result.stderr


def test_unsupported_operator_names_the_node(cli, tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, 28, 28])
    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"], name="odd")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "erf.onnx").write_bytes(model.SerializeToString())
    result = cli("predict", "erf.onnx", input="0\n")
    assert result.returncode == 2
    assert "node 'odd' (Erf): operator 'Erf' is not supported" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_onnx_package_says_what_to_install(cli, tmp_path, torch_classifier):
    fake = tmp_path / "no_onnx" / "onnx"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named onnx (test stand-in)')\n")
    src = str(Path(le4nn.__file__).resolve().parent.parent)
    result = cli("predict", str(torch_classifier[1]), input="0\n",
                 env={"PYTHONPATH": os.pathsep.join([str(fake.parent), src])})
    assert result.returncode == 2
    assert 'pip install "le4nn[onnx]"' in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_model_exported_by_le4nn_answers_as_its_npz(cli, tmp_path):
    """le4nn-export, then le4nn-predict on the .onnx file: the digits of the .npz model (the import of
    le4nn's own export keeps every weight bit for bit, so the argmax is the same)."""
    from le4nn.cli.presets import build_preset

    le4nn.utils.set_random_seed(8)
    model = build_preset("cnn", (28, 28, 1), 10)
    model.save(tmp_path / "cnn.npz")
    exported = cli("export", "cnn.npz", "cnn.onnx")
    assert exported.returncode == 0, exported.stderr
    images = np.random.default_rng(2).integers(0, 256, (37, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    answers = [cli("predict", name, "--input", "images.npy") for name in ("cnn.npz", "cnn.onnx")]
    assert all(result.returncode == 0 for result in answers), [result.stderr for result in answers]
    assert answers[0].stdout == answers[1].stdout and len(answers[0].stdout.split()) == 37
