"""Hostile and unsupported ONNX files: one ModelFileError naming the file and, where there is one, the node
(never a traceback from deep inside, never a silently wrong model)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import needs the onnx package (pip install 'le4nn[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from le4nn.models import ModelFileError, OnnxNotInstalledError, load_onnx  # noqa: E402
from tests.helpers import run_python  # noqa: E402
from tests.models.onnx.helpers import save_graph  # noqa: E402

W = np.arange(24, dtype=np.float32).reshape(4, 6) / 24


def graph(nodes, in_shape=(6,), inits=None, tensors=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *in_shape])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    initializers = [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()] + list(tensors)
    return helper.make_graph(nodes, "g", [x], [y], initializers)


def gemm(inputs=("x", "W", "B"), **attrs):
    return helper.make_node("Gemm", list(inputs), ["y"], name="the_gemm", transB=1, **attrs)


def write(proto_graph, path, opset=17):
    """Write a graph without onnx's checker (the hostile ones would not pass it); the output shapes come
    from shape inference where it can tell them, else a symbolic one (the checker wants one)."""
    model = helper.make_model(proto_graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - a graph shape inference cannot read is written as it is
        pass
    for output in model.graph.output:
        if not output.type.tensor_type.HasField("shape"):
            output.type.tensor_type.shape.dim.add().dim_param = "batch"
    path.write_bytes(model.SerializeToString())
    return path


def refused(path, *fragments, **kwargs) -> str:
    with pytest.raises(ModelFileError) as info:
        load_onnx(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def valid_file(tmp_path):
    return save_graph(graph([gemm()], inits={"W": W, "B": np.ones(4, np.float32)}), tmp_path / "ok.onnx")


def conv_graph(**attrs):
    return graph([helper.make_node("Conv", ["x", "K"], ["y"], name="the_conv", **attrs)], (2, 8, 8),
                 {"K": np.ones((3, 2, 3, 3), np.float32)})


# Each: the graph, then fragments the message must hold (the node's name and the reason).
UNSUPPORTED = {
    "operator": (graph([helper.make_node("Erf", ["x"], ["y"], name="odd_one")]), ("'odd_one'", "Erf", "not supported")),
    "domain": (graph([helper.make_node("Gelu", ["x"], ["y"], name="ms", domain="com.microsoft")]),
               ("'ms'", "com.microsoft::Gelu")),
    "dilations": (conv_graph(dilations=[2, 2]), ("'the_conv'", "dilations")),
    "group": (graph([helper.make_node("Conv", ["x", "K"], ["y"], name="the_conv", group=2)], (2, 8, 8),
                    {"K": np.ones((2, 1, 3, 3), np.float32)}), ("'the_conv'", "group=2")),
    "same-lower": (conv_graph(auto_pad="SAME_LOWER"), ("'the_conv'", "SAME_LOWER")),
    "ceil-mode": (graph([helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], ceil_mode=1)],
                        (2, 7, 7)), ("'pool'", "ceil_mode=1")),
    "conv-transpose-crop": (
        graph([helper.make_node("ConvTranspose", ["x", "K"], ["y"], name="up", strides=[2, 2], pads=[1, 1, 1, 1],
                                output_padding=[1, 1])], (2, 5, 5), {"K": np.ones((2, 3, 3, 3), np.float32)}),
        ("'up'", "no le4nn Conv2DTranspose")),
    "weights-disagree-with-input": (graph([gemm(("x", "W"))], (7,), {"W": W}),
                                    ("'the_gemm'", "6 input features", "has 7")),
    "huge-declared-input": (graph([helper.make_node("Flatten", ["x"], ["f"], name="flat"), gemm(("f", "W"))],
                                  (100000, 100000, 3), {"W": W}), ("'the_gemm'", "30000000000")),
    "reshape-fixes-batch": (graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")], (6,),
                                  {"s": np.array([1, 6], np.int64)}), ("'rs'", "fixes the batch size")),
    "flatten-of-nhwc": (graph([helper.make_node("Transpose", ["x"], ["t"], name="tr", perm=[0, 3, 1, 2]),
                               helper.make_node("Flatten", ["t"], ["y"], name="flat")], (4, 4, 2)),
                        ("'flat'", "transpose back")),
    "output-held-nhwc": (graph([helper.make_node("Transpose", ["x"], ["y"], name="tr", perm=[0, 3, 1, 2])],
                               (4, 4, 2)), ("graph output 'y'", "transposed")),
    "add-constant": (graph([helper.make_node("Add", ["x", "c"], ["y"], name="plus")], (6,),
                           {"c": np.ones(6, np.float32)}), ("'plus'", "adds a constant")),
    "constant-folding-bomb": (graph([helper.make_node("Mul", ["a", "b"], ["m"], name="bomb"),
                                     helper.make_node("Relu", ["x"], ["y"], name="r")], (6,),
                                    {"a": np.ones((2000, 1), np.float32), "b": np.ones((1, 2000), np.float32)}),
                              ("'bomb'", "4000000 elements")),
    "shape-index-out-of-range": (graph([helper.make_node("Shape", ["x"], ["s"], name="shape"),
                                        helper.make_node("Gather", ["s", "i"], ["g"], name="pick"),
                                        helper.make_node("Relu", ["x"], ["y"], name="r")], (6,),
                                       {"i": np.array(5, np.int64)}), ("'pick'", "out of range")),
    "float64-weights": (graph([gemm(("x", "W"))], (6,), {"W": W.astype(np.float64)}), ("'the_gemm'", "float64")),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_graph_names_the_node(case, tmp_path):
    proto_graph, fragments = UNSUPPORTED[case]
    refused(write(proto_graph, tmp_path / f"{case}.onnx"), *fragments)


def test_damaged_files(tmp_path):
    data = valid_file(tmp_path).read_bytes()
    for cut in (1, 7, len(data) // 2, len(data) - 3):
        refused(write_bytes(tmp_path / f"cut{cut}.onnx", data[:cut]))
    refused(write_bytes(tmp_path / "garbage.onnx", np.random.default_rng(0).bytes(4000)))
    refused(write_bytes(tmp_path / "text.onnx", b"this is not a model\n" * 20))
    refused(write_bytes(tmp_path / "empty.onnx", b""), "empty")
    refused(tmp_path, "folder")
    with pytest.raises(FileNotFoundError):
        load_onnx(tmp_path / "missing.onnx")


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def raw_tensor(dims, data: bytes):
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=dims)
    tensor.raw_data = data
    return tensor


def test_tensor_declaring_more_than_it_holds_is_refused_before_allocation(tmp_path):
    huge = raw_tensor([2**20, 2**20], np.zeros(4, np.float32).tobytes())
    refused(write(graph([gemm(("x", "W"))], tensors=[huge]), tmp_path / "huge.onnx"), "'W'", "elements")
    short = raw_tensor([4, 6], np.zeros(5, np.float32).tobytes())
    refused(write(graph([gemm(("x", "W"))], tensors=[short]), tmp_path / "short.onnx"), "'W'", "holds 20 bytes")


def test_external_data_is_refused(tmp_path):
    tensor = numpy_helper.from_array(W, "W")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../../etc/passwd")
    refused(write(graph([gemm(("x", "W"))], tensors=[tensor]), tmp_path / "external.onnx"), "'W'", "external data")


def test_non_finite_weights_follow_load_model_policy(tmp_path):
    bad = W.copy()
    bad[1, 2] = np.nan
    path = save_graph(graph([gemm(("x", "W"))], inits={"W": bad}), tmp_path / "nan.onnx")
    refused(path, "the_gemm", "not finite", "allow_nonfinite=True")
    model = load_onnx(path, allow_nonfinite=True)
    assert np.isnan(model.get_weights()[0]).sum() == 1


def test_old_opset_and_free_image_size_are_refused(tmp_path):
    refused(write(graph([gemm(("x", "W"))], inits={"W": W}), tmp_path / "old.onnx", opset=5), "opset 5")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "height", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    free = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    refused(write(free, tmp_path / "free.onnx"), "dimension 2", "'height'")


def test_missing_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    path = valid_file(tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(OnnxNotInstalledError, match=r'pip install "le4nn\[onnx\]"') as info:
        load_onnx(path)
    assert isinstance(info.value, ImportError)


def test_importing_le4nn_does_not_import_onnx():
    result = run_python("import sys, le4nn, le4nn.models; from le4nn.models import load_onnx; "
                        "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
