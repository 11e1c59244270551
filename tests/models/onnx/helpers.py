"""Helpers of the ONNX tests (``from tests.models.onnx.helpers import ...``): the one tolerance, real
MNIST images, PyTorch export and ONNX Runtime.

"Relative" error, as used everywhere here: max|a − b| / max(max|b|, 1e-30) over the whole output (b
the reference: PyTorch or ONNX Runtime), at most :data:`RTOL` = 1e-5 (float32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RTOL = 1e-5
BATCHES = (1, 37)
SHARED_MNIST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist"


def relative_error(actual, reference) -> float:
    actual, reference = np.asarray(actual, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert actual.shape == reference.shape, (actual.shape, reference.shape)
    return float(np.max(np.abs(actual - reference)) / max(float(np.max(np.abs(reference))), 1e-30))


def assert_close(actual, reference, what: str = "") -> None:
    error = relative_error(actual, reference)
    assert error <= RTOL, f"{what}: relative error {error:.3g} > {RTOL}"


def image_batches(mnist_images, channels_first: bool = True):
    """(label, x) pairs: random and real images at batch sizes 1 and 37, (N, 1, 28, 28) or (N, 28, 28, 1)."""
    rng = np.random.default_rng(17)
    for batch in BATCHES:
        for label, images in (("random", rng.random((batch, 28, 28), dtype=np.float32)),
                              ("mnist", mnist_images[:batch])):
            x = images[:, None] if channels_first else images[..., None]
            yield f"{label} batch {batch}", np.ascontiguousarray(x)


def torch_to_onnx(module, example, path: Path, **options) -> Path:
    """``torch.onnx.export`` with the TorchScript exporter (dynamo=False: the dynamo one needs onnxscript),
    opset 17, a dynamic batch axis, input "x" and output "y"."""
    import warnings

    import torch

    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.as_tensor(example), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, **options)
    return path


def save_graph(graph, path: Path, opset: int = 17) -> Path:
    """An onnx.helper graph as a checked model file."""
    import onnx

    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)  # the output types (the checker wants their shapes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def run_onnxruntime(path: Path, feeds: dict) -> list:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)
