"""Helpers of the ONNX tests (``from tests.models.onnx.helpers import ...``): the optional packages, the one
measure of agreement between ONNX Runtime (or PyTorch) and le4nn, and real test images.

The helpers of the import tests (PyTorch export, hand-built graphs, ONNX Runtime without graph
optimizations) follow the export tests' ones.

Agreement: :func:`relative_error` is max|a − b| / max(max|b|, 1e-30), in float64, over all elements of one
output: the largest deviation relative to the reference's largest magnitude (an elementwise relative
error would be meaningless where the reference is near 0, e.g. a softmax's tiny probabilities or a
ReLU's zeros).  Exported models must agree with ``predict`` to :data:`TOLERANCE` (float32).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest

#: The largest :func:`relative_error` accepted between ONNX Runtime (or PyTorch) and le4nn (float32).
TOLERANCE = 1e-5
#: The batch sizes every comparison runs at.
BATCHES = (1, 37)
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
SHARED_MNIST = SHARED_DATA / "mnist"


def relative_error(actual, expected) -> float:
    """max|actual − expected| / max(max|expected|, 1e-30), computed in float64 (shapes must agree)."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def require_onnx():
    """(onnx, onnxruntime), or skip the test saying what to install."""
    onnx = pytest.importorskip("onnx", reason='onnx is not installed (pip install "le4nn[onnx]")')
    ort = pytest.importorskip("onnxruntime", reason='onnxruntime is not installed (pip install "le4nn[onnx]")')
    return onnx, ort


def session(path):
    """An ONNX Runtime session on the CPU for the model file at ``path``."""
    _, ort = require_onnx()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the machine is shared; results must not depend on it anyway
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(sess, xs: list[np.ndarray]) -> list[np.ndarray]:
    """The session's outputs for the inputs ``xs`` (in the graph's input order)."""
    feeds = {meta.name: np.ascontiguousarray(x, dtype=np.float32) for meta, x in zip(sess.get_inputs(), xs,
                                                                                     strict=True)}
    return sess.run(None, feeds)


def assert_agrees(model, sess, xs: list[np.ndarray], what: str = "") -> float:
    """ONNX Runtime's outputs equal ``model.predict``'s to :data:`TOLERANCE`; returns the worst error."""
    expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    got = run_session(sess, xs)
    assert len(got) == len(expected)
    worst = 0.0
    for k, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert np.isfinite(a).all(), f"{what}: output {k} of ONNX Runtime is not finite"
        error = relative_error(a, b)
        assert error <= TOLERANCE, f"{what}: output {k} differs by {error:.3g} (relative) at batch {len(xs[0])}"
        worst = max(worst, error)
    return worst


@functools.lru_cache(maxsize=1)
def _mnist_test_images():
    from le4nn.datasets import mnist

    (_, _), (x_test, _) = mnist.load_data(SHARED_DATA / "mnist", download=False)
    return x_test[:64].astype(np.float32)[..., None] / 255


@functools.lru_cache(maxsize=1)
def _cifar_test_images():
    from le4nn.datasets import cifar10

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the partial set warns that batches are missing
        (_, _), (x_test, _) = cifar10.load_data(SHARED_DATA / "cifar-10-partial", download=False)
    return x_test[:64].astype(np.float32) / 255


def real_images(kind: str, n: int) -> np.ndarray:
    """The first ``n`` test images of ``kind`` ("mnist": (n, 28, 28, 1), "cifar10": (n, 32, 32, 3)) in [0, 1],
    or skip when the shared data are absent."""
    loader = {"mnist": _mnist_test_images, "cifar10": _cifar_test_images}[kind]
    try:
        images = loader()
    except Exception as exc:  # absent or unreadable: the test cannot use real images here
        pytest.skip(f"real {kind} images are not available under {SHARED_DATA}: {exc}")
    if len(images) < n:
        pytest.skip(f"only {len(images)} {kind} test images under {SHARED_DATA}")
    return images[:n]


def randomize_batchnorm(model, seed: int = 0) -> None:
    """Give every BatchNormalization non-trivial γ, β and moving statistics (fresh ones are the identity)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            store = layer.params if name in layer.params else layer.state
            if type(layer).__name__ == "BatchNormalization" and name in store:
                shape = store[name].shape
                value = rng.uniform(0.5, 1.5, shape) if name in ("gamma", "moving_variance") else rng.normal(0, 0.3,
                                                                                                             shape)
                store[name][...] = value


def assert_close(actual, reference, what: str = "") -> None:
    error = relative_error(actual, reference)
    assert error <= TOLERANCE, f"{what}: relative error {error:.3g} > {TOLERANCE}"


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
