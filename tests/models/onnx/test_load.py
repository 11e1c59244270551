"""load_onnx on hand-built onnx.helper graphs, one per operator and attribute form: le4nn's predict equals
ONNX Runtime's output (relative error as in helpers.py) at batch 1 and 37, and the layers are the
expected ones (layout, Dropout mode, weights bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import needs the onnx package (pip install 'le4nn[onnx]')")
pytest.importorskip("onnxruntime", reason="the operator tests compare with ONNX Runtime (pip install onnxruntime)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from le4nn import layers  # noqa: E402
from le4nn.models import load_onnx  # noqa: E402
from tests.models.onnx.helpers import BATCHES, assert_close, run_onnxruntime, save_graph  # noqa: E402

RNG = np.random.default_rng(5)


def weights(*shape, low=-1.0, high=1.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def graph(nodes, in_shape, inits: dict, elem=TensorProto.FLOAT, extra_inputs=()):
    x = helper.make_tensor_value_info("x", elem, ["batch", *in_shape])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_graph(nodes, "g", [x, *extra_inputs], [y],
                             [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])


def node(op, inputs, output="y", **attrs):
    return helper.make_node(op, inputs, [output], name=f"the_{op.lower()}", **attrs)


def conv_case(**attrs):
    return [node("Conv", ["x", "W", "B"], **attrs)], (3, 9, 8), {"W": weights(4, 3, 3, 2), "B": weights(4)}


def chain(first, *ops):
    """``first`` (op, inputs, attrs) then unary ops on its output."""
    op, inputs, attrs = first
    nodes = [helper.make_node(op, inputs, ["t0"], name="n0", **attrs)]
    for i, name in enumerate(ops):
        nodes.append(helper.make_node(name, [f"t{i}"], [f"t{i + 1}"], name=f"n{i + 1}"))
    nodes.append(helper.make_node("Identity", [f"t{len(ops)}"], ["y"], name="out"))
    return nodes


CASES = {
    "gemm-transB": ([node("Gemm", ["x", "W", "B"], transB=1)], (6,), {"W": weights(4, 6), "B": weights(4)}),
    "gemm-alpha-beta": ([node("Gemm", ["x", "W", "B"], alpha=0.5, beta=2.0)], (6,),
                        {"W": weights(6, 4), "B": weights(1, 4)}),
    "matmul-add": ([helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"), node("Add", ["B", "m"])], (6,),
                   {"W": weights(6, 4), "B": weights(4)}),
    "matmul": ([node("MatMul", ["x", "W"])], (6,), {"W": weights(6, 4)}),
    "conv-pads-strides": conv_case(pads=[1, 0, 2, 1], strides=[2, 1]),
    "conv-same-upper": conv_case(auto_pad="SAME_UPPER", strides=[2, 2]),
    "conv-valid": conv_case(auto_pad="VALID"),
    "conv-no-bias": ([node("Conv", ["x", "W"], kernel_shape=[1, 1])], (3, 5, 5), {"W": weights(2, 3, 1, 1)}),
    "conv-transpose-k4-s2-p1": ([node("ConvTranspose", ["x", "W", "B"], strides=[2, 2], pads=[1, 1, 1, 1])],
                                (3, 5, 6), {"W": weights(3, 2, 4, 4), "B": weights(2)}),
    "conv-transpose-k3-s1": ([node("ConvTranspose", ["x", "W"])], (3, 5, 6), {"W": weights(3, 2, 3, 3)}),
    "conv-transpose-k2-s3-output-padding": (
        [node("ConvTranspose", ["x", "W"], strides=[3, 3], output_padding=[1, 1])], (2, 4, 4),
        {"W": weights(2, 3, 2, 2)}),
    "maxpool-pads": ([node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
                     (2, 7, 8), {}),
    "maxpool-same-upper": ([node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")],
                           (2, 7, 7), {}),
    "averagepool-exclude-pad": ([node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                                (2, 6, 6), {}),
    "averagepool-include-pad": ([node("AveragePool", ["x"], kernel_shape=[3, 2], strides=[2, 2],
                                      pads=[1, 0, 1, 0], count_include_pad=1)], (2, 6, 6), {}),
    "global-average-pool": (chain(("GlobalAveragePool", ["x"], {}), "Flatten"), (3, 5, 4), {}),
    "reduce-mean": ([node("ReduceMean", ["x"], axes=[2, 3], keepdims=0)], (3, 5, 4), {}),
    "squeeze-after-global-pool": ([helper.make_node("GlobalAveragePool", ["x"], ["p"], name="gap"),
                                   node("Squeeze", ["p", "a"])], (3, 5, 4), {"a": np.array([2, 3], np.int64)}),
    "nhwc-global-pool-flatten": ([helper.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
                                  helper.make_node("GlobalAveragePool", ["t"], ["p"], name="gap"),
                                  node("Flatten", ["p"])], (5, 4, 3), {}),
    "batch-normalization": ([node("BatchNormalization", ["x", "g", "b", "m", "v"], epsilon=1e-3)], (3, 4, 4),
                            {"g": weights(3), "b": weights(3), "m": weights(3), "v": weights(3, low=0.5, high=2)}),
    "activations": (chain(("Relu", ["x"], {}), "Sigmoid", "Tanh"), (5,), {}),
    "leaky-relu": ([node("LeakyRelu", ["x"], alpha=0.2)], (3, 4, 4), {}),
    "softmax-last": ([node("Softmax", ["x"], axis=1)], (7,), {}),
    "softmax-channels": ([node("Softmax", ["x"], axis=1)], (3, 2, 2), {}),
    "flatten": ([node("Flatten", ["x"])], (3, 2, 4), {}),
    "reshape": ([node("Reshape", ["x", "s"])], (3, 2, 4), {"s": np.array([-1, 4, 6], np.int64)}),
    "reshape-copy-batch": ([node("Reshape", ["x", "s"])], (3, 2, 4), {"s": np.array([0, -1], np.int64)}),
    "concat-add": ([helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("Tanh", ["x"], ["b"], name="t"),
                    helper.make_node("Add", ["a", "b"], ["c"], name="add"),
                    node("Concat", ["a", "c"], axis=1)], (2, 3, 3), {}),
    "dropout-inverted": ([node("Dropout", ["x", "r"])], (6,), {"r": np.array(0.25, np.float32)}),
    "dropout-handout": ([helper.make_node("Dropout", ["x", "r"], ["d"], name="drop"), node("Mul", ["d", "s"])],
                        (6,), {"r": np.array(0.25, np.float32), "s": np.array(0.75, np.float32)}),
    "resize-nearest": ([node("Resize", ["x", "", "s"], mode="nearest", coordinate_transformation_mode="asymmetric",
                             nearest_mode="floor")], (2, 3, 4), {"s": np.array([1, 1, 2, 3], np.float32)}),
    "resize-nearest-half-pixel": ([node("Resize", ["x", "", "s"], mode="nearest")], (2, 3, 4),
                                  {"s": np.array([1, 1, 3, 2], np.float32)}),
    "resize-bilinear": ([node("Resize", ["x", "", "s"], mode="linear",
                              coordinate_transformation_mode="pytorch_half_pixel")], (2, 3, 4),
                        {"s": np.array([1, 1, 2, 2], np.float32)}),
    "identity": ([node("Identity", ["x"])], (4,), {}),
}


def check_with_onnxruntime(path, model, in_shape, integer=False):
    for batch in BATCHES:
        if integer:
            x = RNG.integers(0, 10, (batch, *in_shape)).astype(np.int64)
        else:
            x = RNG.standard_normal((batch, *in_shape)).astype(np.float32)
        (expected,) = run_onnxruntime(path, {"x": x})
        assert_close(model.predict(x.astype(np.float32), batch_size=64), expected, f"batch {batch}")


@pytest.mark.parametrize("case", list(CASES))
def test_operator_matches_onnxruntime(case, tmp_path):
    nodes, in_shape, inits = CASES[case]
    path = save_graph(graph(nodes, in_shape, inits), tmp_path / f"{case}.onnx")
    model = load_onnx(path)
    check_with_onnxruntime(path, model, in_shape)
    kinds = {type(layer) for layer in model.layers}
    if case.startswith("dropout"):
        (dropout,) = [layer for layer in model.layers if isinstance(layer, layers.Dropout)]
        assert (dropout.rate, dropout.mode) == (0.25, case.removeprefix("dropout-"))
        assert len(model.layers) == 2  # the input and the Dropout: the Mul is folded into it
    if case.startswith("matmul-add"):
        assert kinds == {layers.InputLayer, layers.Dense}
    if case.startswith("nhwc"):
        assert [layer.data_format for layer in model.layers if hasattr(layer, "data_format")] == ["channels_last"]
    if case.startswith(("conv", "maxpool", "averagepool", "resize")):
        assert all(getattr(layer, "data_format", "channels_first") == "channels_first" for layer in model.layers)


def test_gather_of_a_table_is_an_embedding(tmp_path):
    table = weights(10, 4)
    path = save_graph(graph([node("Gather", ["T", "x"])], (3,), {"T": table}, elem=TensorProto.INT64),
                      tmp_path / "embedding.onnx")
    model = load_onnx(path)
    (embedding,) = [layer for layer in model.layers if isinstance(layer, layers.Embedding)]
    assert np.array_equal(embedding.get_weights()[0], table)
    check_with_onnxruntime(path, model, (3,), integer=True)


def nhwc_graph(conv_w, conv_b, bn, dense_w, dense_b):
    """What le4nn's exporter writes for a channels_last model: NHWC input, Transpose to NCHW before the
    first image operator, back to NHWC before Flatten."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x_nchw", "W", "B"], ["c"], name="conv2d", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="re_lu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="max_pooling2d", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["p", "g", "b", "m", "v"], ["n"], name="batch_normalization",
                         epsilon=1e-3, momentum=0.99),
        helper.make_node("Transpose", ["n"], ["n_nhwc"], name="to_nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["n_nhwc"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "D", "E"], ["y"], name="dense"),
    ]
    inits = {"W": conv_w, "B": conv_b, **dict(zip("gbmv", bn, strict=True)), "D": dense_w, "E": dense_b}
    return graph(nodes, (8, 6, 3), inits)


def test_nhwc_graph_with_layout_transposes_becomes_channels_last(tmp_path):
    """The le4nn -> ONNX -> le4nn shape: weights back bit for bit, no transpose layer, channels_last."""
    from le4nn.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
    from le4nn.models import Sequential

    original = Sequential([Conv2D(4, (3, 3), padding="same", activation="relu", input_shape=(8, 6, 3)),
                           MaxPooling2D(), BatchNormalization(), Flatten(), Dense(5)])
    original.layers[2].set_weights([weights(4), weights(4), weights(4), weights(4, low=0.5, high=2)])
    kernel, bias = original.layers[0].get_weights()
    dense_w, dense_b = original.layers[4].get_weights()
    path = save_graph(nhwc_graph(kernel.transpose(3, 2, 0, 1), bias, original.layers[2].get_weights(), dense_w,
                                 dense_b), tmp_path / "nhwc.onnx")
    model = load_onnx(path)
    assert model.input_shape == (None, 8, 6, 3)
    assert [layer.data_format for layer in model.layers if hasattr(layer, "data_format")] == ["channels_last"] * 2
    assert [layer.axis for layer in model.layers if isinstance(layer, layers.BatchNormalization)] == [-1]
    imported = model.get_weights()
    assert len(imported) == len(original.get_weights())
    for mine, theirs in zip(imported, original.get_weights(), strict=True):
        assert mine.dtype == theirs.dtype and np.array_equal(mine.view(np.uint32), theirs.view(np.uint32))
    x = RNG.standard_normal((37, 8, 6, 3)).astype(np.float32)
    assert_close(model.predict(x), original.predict(x), "le4nn model vs its import")
    check_with_onnxruntime(path, model, (8, 6, 3))
