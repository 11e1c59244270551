"""Backend dispatch of :mod:`le4nn.ops`: choosing the backend (``set_backend``, ``backend()``,
``LE4NN_BACKEND``), the fallback to NumPy when the compiled kernels cannot be imported, the public
signatures and docstrings, and argument validation, which must fail the same way on both backends."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import le4nn
from le4nn import ops
from tests.helpers import run_python


@pytest.fixture(autouse=True)
def keep_backend():
    """Every test leaves the backend as it found it."""
    saved = (ops._requested, ops._impl)
    yield
    ops._requested, ops._impl = saved


# --- choosing the backend ---------------------------------------------------------------------------


def test_set_and_get_backend(native):
    le4nn.set_backend("numpy")
    assert le4nn.get_backend() == "numpy"
    assert ops._current() is ops.reference
    le4nn.set_backend("native")
    assert le4nn.get_backend() == "native"
    le4nn.set_backend(" NumPy ")  # names are case- and space-insensitive
    assert le4nn.get_backend() == "numpy"
    assert le4nn.set_backend is ops.set_backend and le4nn.get_backend is ops.get_backend


def test_backend_context_restores(native):
    le4nn.set_backend("native")
    with le4nn.backend("numpy"):
        assert le4nn.get_backend() == "numpy"
        with le4nn.backend("native"):
            assert le4nn.get_backend() == "native"
        assert le4nn.get_backend() == "numpy"
    assert le4nn.get_backend() == "native"
    with pytest.raises(RuntimeError), le4nn.backend("numpy"):
        raise RuntimeError("inside the block")
    assert le4nn.get_backend() == "native"


def test_backend_context_dispatches(native, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    calls = []

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(ops.reference, name)

    ops._impl = Spy()
    ops.relu_forward(x)
    assert calls == ["relu_forward"]
    with le4nn.backend("numpy"):
        ops.relu_forward(x)
    assert calls == ["relu_forward"]  # the reference directly, not the spy


@pytest.mark.parametrize("name", ["torch", "", "cython", None, 3])
def test_unknown_backend_names_the_choices(name):
    before = le4nn.get_backend()
    with pytest.raises(ValueError, match="native, numpy") as info:
        le4nn.set_backend(name)
    assert repr(name) in str(info.value)
    with pytest.raises(ValueError, match="native, numpy"), le4nn.backend(name):
        pass
    assert le4nn.get_backend() == before


def test_environment_variable_selects_the_backend():
    code = "import le4nn; print(le4nn.get_backend())"
    result = run_python(code, LE4NN_BACKEND="numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"
    if ops.native_available():
        result = run_python(code, LE4NN_BACKEND="native")
        assert result.stdout.strip() == "native", result.stderr
        result = run_python(code, LE4NN_BACKEND=None)  # native by default
        assert result.stdout.strip() == "native", result.stderr


def test_bad_environment_variable_is_a_clear_error():
    result = run_python("import le4nn\nle4nn.get_backend()", LE4NN_BACKEND="fortran")
    assert result.returncode != 0
    assert "ValueError: LE4NN_BACKEND" in result.stderr and "'fortran'" in result.stderr
    assert "native, numpy" in result.stderr


FALLBACK_SCRIPT = """
    import importlib.abc, sys, warnings

    class Block(importlib.abc.MetaPathFinder):
        # A source checkout without a build: one compiled kernel module cannot be imported.
        def find_spec(self, name, path=None, target=None):
            if name == "le4nn._kernels.im2col":
                raise ImportError("simulated: no compiled kernels")
            return None

    sys.meta_path.insert(0, Block())
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import numpy as np
        import le4nn
        from le4nn import ops
        x = np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 0.5]], dtype=np.float32)
        FIRST_CALL
        assert ops.relu_forward(x).tolist() == [[0.0, 0.0, 2.0], [3.0, 0.0, 0.5]]
        loss, probs = ops.softmax_cross_entropy_forward(x, np.array([2, 0]))
        assert abs(probs.sum() - 2) < 1e-6 and loss > 0
        assert ops.sigmoid_forward(np.zeros(3)).tolist() == [0.5, 0.5, 0.5]
        le4nn.set_backend(AGAIN)  # asking again neither fails nor warns again
        with le4nn.backend(AGAIN):
            ops.relu_forward(x)
        print(le4nn.get_backend(), le4nn.native_available())
    fallback = [w for w in caught if issubclass(w.category, ops.BackendFallbackWarning)]
    print(len(fallback), len(caught))
    for w in fallback:
        print(w.message)
        print(w.filename)
"""

FIRST_CALLS = [
    "ops.relu_forward(x)",
    "le4nn.get_backend()",
    "le4nn.set_backend('native')",
    "with le4nn.backend('native'): pass",
]


@pytest.mark.parametrize("first_call", FIRST_CALLS)
def test_fallback_when_the_kernels_are_missing(first_call):
    code = FALLBACK_SCRIPT.replace("FIRST_CALL", first_call).replace("AGAIN", "'native'")
    result = run_python(code, LE4NN_BACKEND=None)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "numpy False"
    assert lines[1] == "1 1"  # exactly one warning, and no other
    assert "compiled kernels are unavailable" in lines[2] and "simulated" in lines[2]
    assert lines[3] == "<string>"  # the warning points at the caller, not into le4nn


def test_no_warning_when_numpy_is_requested():
    code = FALLBACK_SCRIPT.replace("FIRST_CALL", "pass").replace("AGAIN", "'numpy'")
    result = run_python(code, LE4NN_BACKEND="numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["numpy False", "0 0"]


# --- signatures and docstrings ------------------------------------------------------------------------


#: Ops that update their first argument in place (no ``out``).
IN_PLACE_OPS = {"sgd_update"}


@pytest.mark.parametrize("name", ops.OPS)
def test_public_ops_share_signature_and_docs(name):
    reference = getattr(ops.reference, name)
    dispatcher = getattr(ops, name)
    assert inspect.signature(dispatcher) == inspect.signature(reference)
    assert reference.__doc__ and len(reference.__doc__.strip()) > 20
    assert dispatcher.__doc__ == reference.__doc__
    assert dispatcher.__name__ == name
    if name not in IN_PLACE_OPS:
        assert "out" in inspect.signature(reference).parameters
    if ops.native_available():
        native = getattr(ops._load_native(), name)
        assert inspect.signature(native) == inspect.signature(reference)
        assert native.__doc__ == reference.__doc__


def test_public_names():
    assert set(ops.OPS) <= set(ops.__all__)
    for name in ("backend", "get_backend", "set_backend", "native_available", "BackendFallbackWarning"):
        assert name in ops.__all__
    for name in ("backend", "get_backend", "set_backend", "native_available", "set_num_threads",
                 "get_num_threads"):
        assert name in le4nn.__all__ and callable(getattr(le4nn, name))


def test_stub_declares_every_op_as_its_reference():
    """``ops/__init__.pyi`` (what editors read: go-to-definition on ``ops.im2col`` opens reference.py)
    imports exactly :data:`ops.OPS` from the reference, in that order, and declares all of ``__all__``."""
    stub = ast.parse(Path(ops.__file__).with_name("__init__.pyi").read_text(encoding="utf-8"))
    from_reference = [alias.name for node in stub.body if isinstance(node, ast.ImportFrom)
                      and node.module == "le4nn.ops.reference" for alias in node.names]
    assert from_reference == list(ops.OPS)
    names = {alias.asname for node in stub.body if isinstance(node, ast.ImportFrom) for alias in node.names
             if alias.asname == alias.name}  # re-exported
    names |= {node.name for node in stub.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    names |= {node.target.id for node in stub.body if isinstance(node, ast.AnnAssign)}
    assert set(ops.__all__) <= names


def test_ops_listed_in_the_same_order_in_both_twins(native):
    """reference.py (the textbook file) and native.py define their ops in the order of ``OPS``."""
    for module in (ops.reference, ops._load_native()):
        defined = [name for name, value in vars(module).items() if name in ops.OPS and callable(value)]
        assert defined == list(ops.OPS), module.__name__


# --- validation: the same error, naming the op and the argument, on both backends -------------------

f32, f64 = np.float32, np.float64


def x4(shape=(2, 3, 6, 6), dtype=f32):
    return np.ones(shape, dtype)


def a(shape, dtype=f32):
    return np.ones(shape, dtype)


def _read_only(shape, dtype=f32):
    array = a(shape, dtype)
    array.flags.writeable = False
    return array


# (op, args, kwargs, exception, words that the message must contain besides the op name)
BAD_CALLS = [
    # im2col / col2im
    ("im2col", (x4((3, 6, 6)), 3, 3), {}, ValueError, ["x", "4-D"]),
    ("im2col", (x4()[..., ::2], 3, 3), {}, ValueError, ["x", "C-contiguous"]),
    ("im2col", (x4().astype(np.int32), 3, 3), {}, TypeError, ["x", "float32 or float64"]),
    ("im2col", (x4().tolist(), 3, 3), {}, TypeError, ["x", "NumPy array"]),
    ("im2col", (x4(), 3, 3, 0), {}, ValueError, ["stride"]),
    ("im2col", (x4(), 3, 3, (1, 0)), {}, ValueError, ["stride"]),
    ("im2col", (x4(), 3, 3, 1, -1), {}, ValueError, ["padding"]),
    ("im2col", (x4(), 7, 3), {}, ValueError, ["kernel", "larger"]),
    ("im2col", (x4(), 0, 3), {}, ValueError, ["kernel size"]),
    ("im2col", (x4(), 2.5, 3), {}, TypeError, ["kh"]),
    ("im2col", (x4(), 3, 3), {"out": a((27, 32), f64)}, TypeError, ["out", "dtype"]),
    ("col2im", (a((27, 72)), (2, 3, 6), 3, 3), {}, ValueError, ["x shape"]),
    ("col2im", (a((27, 71)), (2, 3, 6, 6), 3, 3, 1, 0), {}, ValueError, ["cols", "shape"]),
    ("col2im", (a((27, 72, 1)), (2, 3, 6, 6), 3, 3), {}, ValueError, ["cols", "2-D"]),
    ("col2im", (a((27, 72), np.int64), (2, 3, 6, 6), 3, 3), {}, TypeError, ["cols"]),
    # pooling
    ("maxpool2d_forward", (x4((6, 6)), 2, 2), {}, ValueError, ["x", "4-D"]),
    ("maxpool2d_forward", (x4()[:, :, ::2], 2, 2), {}, ValueError, ["x", "C-contiguous"]),
    ("maxpool2d_forward", (x4().astype(np.float16), 2, 2), {}, TypeError, ["x"]),
    ("maxpool2d_forward", (x4(), 2, 2, 2, 2), {}, ValueError, ["padding", "smaller than the pool"]),
    ("maxpool2d_forward", (x4(), 2, 2), {"argmax_out": a((2, 3, 3, 3), np.int64)}, TypeError,
     ["argmax_out"]),
    ("maxpool2d_backward", (a((2, 3, 3, 3)), a((2, 3, 3, 3)), (2, 3, 6, 6)), {}, TypeError, ["argmax"]),
    ("maxpool2d_backward", (a((2, 3, 3, 3)), np.zeros((2, 3, 3, 2), np.int32), (2, 3, 6, 6)), {},
     ValueError, ["dout", "argmax"]),
    ("maxpool2d_backward", (a((2, 3, 3, 3)), np.full((2, 3, 3, 3), 36, np.int32), (2, 3, 6, 6)), {},
     ValueError, ["argmax"]),
    ("maxpool2d_backward", (a((2, 3, 3, 3)), np.zeros((2, 3, 3, 3), np.int32), (2, 4, 6, 6)), {},
     ValueError, ["dout", "x_shape"]),
    ("avgpool2d_forward", (x4(), 2, 2, 0), {}, ValueError, ["stride"]),
    ("avgpool2d_forward", (x4(dtype=np.int16), 2, 2), {}, TypeError, ["x"]),
    ("avgpool2d_backward", (a((2, 3, 3, 4)), (2, 3, 6, 6), 2, 2), {}, ValueError, ["dout", "shape"]),
    ("avgpool2d_backward", (a((2, 3, 3)), (2, 3, 6, 6), 2, 2), {}, ValueError, ["dout", "4-D"]),
    # activations
    ("sigmoid_forward", (a((3, 4), np.int32),), {}, TypeError, ["x"]),
    ("sigmoid_forward", (a((3, 4))[:, ::2],), {}, ValueError, ["x", "C-contiguous"]),
    ("sigmoid_forward", ([1.0, 2.0],), {}, TypeError, ["x", "NumPy array"]),
    ("sigmoid_forward", (a((3, 4)),), {"out": a((4, 3))}, ValueError, ["out", "shape"]),
    ("sigmoid_backward", (a((3, 4)), a((3, 5))), {}, ValueError, ["dout", "y", "shapes"]),
    ("sigmoid_backward", (a((3, 4)), a((3, 4), f64)), {}, TypeError, ["dout", "y", "dtype"]),
    ("sigmoid_backward", (a((3, 4)), a((3, 8))[:, ::2]), {}, ValueError, ["y", "C-contiguous"]),
    ("relu_forward", (a((3, 4), bool),), {}, TypeError, ["x"]),
    ("relu_forward", (a((4, 3)).T,), {}, ValueError, ["x", "C-contiguous"]),
    ("relu_backward", (a((3, 4), np.int64), a((3, 4))), {}, TypeError, ["dout"]),
    ("relu_backward", (a((12,)), a((3, 4))), {}, ValueError, ["dout", "y", "shapes"]),
    ("relu_backward", (a((3, 4), f64), a((3, 4))), {}, TypeError, ["dout", "y", "dtype"]),
    # softmax
    ("softmax_forward", (np.array(1.0, f32),), {}, ValueError, ["x", "axis"]),
    ("softmax_forward", (a((3, 4), np.uint8),), {}, TypeError, ["x"]),
    ("softmax_forward", (a((3, 8))[:, ::2],), {}, ValueError, ["x", "C-contiguous"]),
    ("softmax_cross_entropy_forward", (a(5), np.zeros(5, int)), {}, ValueError, ["logits", "2-D"]),
    ("softmax_cross_entropy_forward", (a((5, 3), np.int32), np.zeros(5, int)), {}, TypeError, ["logits"]),
    ("softmax_cross_entropy_forward", (a((3, 5)).T, np.zeros(5, int)), {}, ValueError,
     ["logits", "C-contiguous"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.array([0, 1, 3, 0, 0])), {}, ValueError,
     ["label 3", "out of range"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.array([0, 1, -1, 0, 0])), {}, ValueError,
     ["label -1", "out of range"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.zeros(4, int)), {}, ValueError, ["labels", "4"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.zeros((5, 4))), {}, ValueError,
     ["labels", "shape"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.zeros((5, 3, 1))), {}, ValueError,
     ["labels", "shape"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.array([0, 1.5, 2, 0, 0])), {}, ValueError,
     ["labels", "integer"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.array([0, np.nan, 2, 0, 0])), {}, ValueError,
     ["labels", "integer"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.array(list("abcde"))), {}, TypeError, ["labels"]),
    ("softmax_cross_entropy_forward", (a((5, 3)), np.array(["a"] * 15).reshape(5, 3)), {}, TypeError,
     ["labels"]),
    ("softmax_cross_entropy_forward", (a((5, 0)), np.zeros((5, 0))), {}, ValueError, ["class"]),
    ("softmax_cross_entropy_backward", (a((5, 3, 1)), np.zeros(5, int)), {}, ValueError, ["probs", "2-D"]),
    ("softmax_cross_entropy_backward", (a((5, 3)), np.array([0, 0, 0, 0, 9])), {}, ValueError,
     ["label 9", "out of range"]),
    ("softmax_cross_entropy_backward", (a((5, 3)), np.zeros(6, int)), {}, ValueError, ["labels", "6"]),
    ("softmax_cross_entropy_backward", (a((5, 3)), np.zeros((3, 5))), {}, ValueError, ["labels", "shape"]),
    ("softmax_cross_entropy_backward", (a((5, 3)), np.zeros(5, int)), {"out": a((5, 3), f64)}, TypeError,
     ["out", "dtype"]),
    ("softmax_cross_entropy", (a((5, 3, 1)), np.zeros(5, int)), {}, ValueError, ["logits", "2-D"]),
    ("softmax_cross_entropy", (a((5, 3)), np.array([0, 0, 0, 0, 9])), {}, ValueError,
     ["label 9", "out of range"]),
    ("softmax_cross_entropy", (a((5, 3)), np.zeros(6, int)), {}, ValueError, ["labels", "6"]),
    ("softmax_cross_entropy", (a((5, 3)), np.zeros(5, int)), {"grad_out": a((5, 3), f64)}, TypeError,
     ["grad_out", "dtype"]),
    # channels-last windows
    ("im2col_nhwc", (x4((3, 6, 6)), 3, 3), {}, ValueError, ["x", "4-D"]),
    ("im2col_nhwc", (x4((2, 6, 6, 3))[..., ::2], 3, 3), {}, ValueError, ["x", "C-contiguous"]),
    ("im2col_nhwc", (x4((2, 6, 6, 3)), 3, 3, 0), {}, ValueError, ["stride"]),
    ("im2col_nhwc", (x4((2, 6, 6, 3)), 7, 3), {}, ValueError, ["kernel", "larger"]),
    ("im2col_nhwc", (x4((2, 6, 6, 3)), 3, 3), {"out": a((32, 27), f64)}, TypeError, ["out", "dtype"]),
    ("col2im_nhwc", (a((72, 27)), (2, 6, 6), 3, 3), {}, ValueError, ["x shape"]),
    ("col2im_nhwc", (a((71, 27)), (2, 6, 6, 3), 3, 3, 1, 0), {}, ValueError, ["cols", "shape"]),
    ("col2im_nhwc", (a((72, 27), np.int64), (2, 6, 6, 3), 3, 3), {}, TypeError, ["cols"]),
    ("maxpool2d_nhwc_forward", (x4((6, 6, 3)), 2, 2), {}, ValueError, ["x", "4-D"]),
    ("maxpool2d_nhwc_forward", (x4((2, 6, 6, 3)), 2, 2, 2, 2), {}, ValueError,
     ["padding", "smaller than the pool"]),
    ("maxpool2d_nhwc_forward", (x4((2, 6, 6, 3)), 2, 2), {"argmax_out": a((2, 3, 3, 3), np.int64)},
     TypeError, ["argmax_out"]),
    ("maxpool2d_nhwc_backward", (a((2, 3, 3, 3)), a((2, 3, 3, 3)), (2, 6, 6, 3)), {}, TypeError,
     ["argmax"]),
    ("maxpool2d_nhwc_backward", (a((2, 3, 3, 3)), np.zeros((2, 3, 3, 2), np.int32), (2, 6, 6, 3)), {},
     ValueError, ["dout", "argmax"]),
    ("maxpool2d_nhwc_backward", (a((2, 3, 3, 3)), np.full((2, 3, 3, 3), 36, np.int32), (2, 6, 6, 3)), {},
     ValueError, ["argmax", "outside"]),
    ("maxpool2d_nhwc_backward", (a((2, 3, 3, 3)), np.zeros((2, 3, 3, 3), np.int32), (2, 6, 6, 4)), {},
     ValueError, ["dout", "x_shape"]),
    ("conv2d_nhwc_forward", (x4((2, 6, 6, 3)), a((3, 3, 2, 4))), {}, ValueError, ["kernel", "channels"]),
    ("conv2d_nhwc_forward", (x4((2, 6, 6, 3)), a((3, 3, 3, 4), f64)), {}, TypeError, ["dtype"]),
    ("conv2d_nhwc_forward", (x4((2, 6, 6, 3)), a((3, 3, 3))), {}, ValueError, ["kernel", "4-D"]),
    ("conv2d_nhwc_forward", (x4((2, 6, 6, 3)), a((3, 3, 3, 4)), a(5)), {}, ValueError, ["bias", "5"]),
    ("conv2d_nhwc_forward", (x4((2, 6, 6, 3)), a((3, 3, 3, 4)), a(4, f64)), {}, TypeError,
     ["bias", "dtype"]),
    ("conv2d_nhwc_forward", (x4((2, 6, 6, 3)), a((3, 3, 3, 4))), {"out": a((2, 6, 6, 4))}, ValueError,
     ["out", "shape"]),
    ("conv2d_nhwc_filter_grad", (x4((2, 6, 6, 3)), a((2, 4, 4, 5)), 3, 3, 1, 1), {}, ValueError,
     ["dout", "shape"]),
    ("conv2d_nhwc_filter_grad", (x4((2, 6, 6, 3)), a((2, 4, 4, 5), f64), 3, 3), {}, TypeError,
     ["dtype"]),
    ("conv2d_nhwc_filter_grad", (x4((2, 6, 6, 3)), a((2, 4, 4, 5)), 3, 3, 1, 0, a((2, 4, 4, 4))), {},
     ValueError, ["dout", "y", "shapes"]),
    ("conv2d_nhwc_filter_grad", (x4((2, 6, 6, 3)), a((2, 4, 4, 5)), 3, 3), {"out": a((3, 3, 3, 4))},
     ValueError, ["out", "shape"]),
    ("conv2d_nhwc_filter_grad", (x4((2, 6, 6, 3)), a((2, 4, 4, 5)), 3, 3), {"bias_grad_out": a(4)},
     ValueError, ["bias_grad_out", "shape"]),
    ("conv2d_nhwc_filter_grad_pooled", (x4((2, 6, 6, 1)), a((2, 3, 3, 4)), a((2, 3, 3, 4)), None, 3, 3, 1, 1),
     {}, TypeError, ["argmax"]),
    ("conv2d_nhwc_filter_grad_pooled", (x4((2, 6, 6, 1)), a((2, 3, 3, 4)), np.full((2, 3, 3, 4), 36, np.int32),
                                        None, 3, 3, 1, 1), {}, ValueError, ["argmax", "outside"]),
    ("conv2d_nhwc_filter_grad_pooled", (x4((2, 6, 6, 1)), a((2, 3, 3, 4)), np.zeros((2, 3, 3, 4), np.int32),
                                        a((2, 3, 3, 5)), 3, 3, 1, 1), {}, ValueError, ["dout", "pooled", "shapes"]),
    ("conv2d_nhwc_filter_grad_pooled", (x4((2, 6, 6, 1)), a((2, 3, 3, 4), f64), np.zeros((2, 3, 3, 4), np.int32),
                                        None, 3, 3, 1, 1), {}, TypeError, ["dtype"]),
    ("conv2d_nhwc_pool_forward", (x4((2, 6, 6, 1)), a((3, 3, 1, 4)), None, 1, 1, True, 7, 7), {}, ValueError,
     ["kernel", "larger"]),
    ("conv2d_nhwc_pool_forward", (x4((2, 6, 6, 1)), a((3, 3, 2, 4)), None, 1, 1, True, 2, 2), {}, ValueError,
     ["kernel", "channels"]),
    ("conv2d_nhwc_pool_forward", (x4((2, 6, 6, 1)), a((3, 3, 1, 4)), a(3), 1, 1, True, 2, 2), {}, ValueError,
     ["bias"]),
    ("conv2d_nhwc_pool_forward", (x4((2, 6, 6, 1)), a((3, 3, 1, 4)), None, 1, 1, True, 2, 2), {"out": a((2, 3, 3, 5))},
     ValueError, ["out", "shape"]),
    # fused bias + ReLU
    ("bias_relu_forward", (a((3, 4)), a(5)), {}, ValueError, ["bias", "5"]),
    ("bias_relu_forward", (a((3, 4)), None), {}, TypeError, ["bias"]),
    ("bias_relu_forward", (a((3, 4)), a((1, 4))), {}, ValueError, ["bias", "1-D"]),
    ("bias_relu_forward", (a((3, 4), np.int32), a(4)), {}, TypeError, ["x"]),
    ("bias_relu_forward", (a((3, 4)), a(4, f64)), {}, TypeError, ["bias", "dtype"]),
    ("bias_relu_forward", (a((4, 3)).T, a(4)), {}, ValueError, ["x", "C-contiguous"]),
    ("relu_backward_bias", (a((3, 4)), a((3, 5))), {}, ValueError, ["dout", "y", "shapes"]),
    ("sigmoid_backward_bias", (a((3, 4)), a((3, 5))), {}, ValueError, ["dout", "y", "shapes"]),
    ("sigmoid_backward_bias", (a((3, 4), f64), a((3, 4))), {}, TypeError, ["dout", "y", "dtype"]),
    ("relu_backward_bias", (a((3, 4), f64), a((3, 4))), {}, TypeError, ["dout", "y", "dtype"]),
    ("relu_backward_bias", (a((3, 4)), a((3, 4))), {"bias_grad_out": a(3)}, ValueError,
     ["bias_grad_out", "shape"]),
    # Winograd transforms
    ("winograd_input_transform", (x4((2, 6, 6)),), {}, ValueError, ["x", "4-D"]),
    ("winograd_input_transform", (x4((2, 6, 6, 3)), 3), {}, ValueError, ["padding", "at most 2"]),
    ("winograd_input_transform", (x4((2, 1, 6, 3)), 0), {}, ValueError, ["kernel", "larger"]),
    ("winograd_input_transform", (x4((2, 6, 6, 3)),), {"out": a((16, 17, 3))}, ValueError, ["out", "shape"]),
    ("winograd_output_transform", (a((16, 18, 4)), (2, 6, 6)), {}, ValueError, ["out_shape"]),
    ("winograd_output_transform", (a((16, 17, 4)), (2, 6, 6, 4)), {}, ValueError, ["m", "shape"]),
    ("winograd_output_transform", (a((16, 18, 4)), (2, 6, 6, 4), a(3)), {}, ValueError, ["bias"]),
    ("winograd_output_transform", (a((16, 18, 4), np.int32), (2, 6, 6, 4)), {}, TypeError, ["m"]),
    ("winograd_gradient_transform", (a((2, 6, 6)),), {}, ValueError, ["dout", "4-D"]),
    ("winograd_gradient_transform", (a((2, 6, 6, 4)),), {"out": a((16, 18, 4), f64)}, TypeError,
     ["out", "dtype"]),
    ("winograd4_input_transform", (x4((2, 6, 6)),), {}, ValueError, ["x", "4-D"]),
    ("winograd4_input_transform", (x4((2, 6, 6, 3)), (0, 3, 1, 1)), {}, ValueError, ["padding", "at most 2"]),
    ("winograd4_input_transform", (x4((2, 6, 1, 3)), 0), {}, ValueError, ["kernel", "larger"]),
    ("winograd4_input_transform", (x4((2, 6, 6, 3)),), {"out": a((16, 8, 3))}, ValueError, ["out", "shape"]),
    ("winograd4_input_transform", (x4((2, 6, 6, 3)),), {"out": a((36, 8, 6))[:, :, ::2]}, ValueError,
     ["out", "C-contiguous"]),
    ("winograd4_output_transform", (a((36, 8, 4)), (2, 6, 6)), {}, ValueError, ["out_shape"]),
    ("winograd4_output_transform", (a((16, 8, 4)), (2, 6, 6, 4)), {}, ValueError, ["m", "shape", "(36, 8, 4)"]),
    ("winograd4_output_transform", (a((36, 8, 4)), (2, 6, 6, 4), a(3)), {}, ValueError, ["bias"]),
    ("winograd4_output_transform", (a((36, 8, 4), np.int32), (2, 6, 6, 4)), {}, TypeError, ["m"]),
    ("winograd4_output_transform", (a((36, 8, 4)), (2, 6, 6, 4)), {"out": a((2, 6, 6, 4), f64)}, TypeError,
     ["out", "dtype"]),
    ("winograd4_gradient_transform", (a((2, 6, 6)),), {}, ValueError, ["dout", "4-D"]),
    ("winograd4_gradient_transform", (a((2, 6, 6, 4)),), {"out": a((36, 8, 4), f64)}, TypeError,
     ["out", "dtype"]),
    ("winograd4_gradient_transform", (a((2, 6, 6, 4)),), {"out": a((36, 2, 4))}, ValueError, ["out", "shape"]),
    ("winograd_kernel_transform", (a((3, 3, 2)),), {}, ValueError, ["kernel", "4-D"]),
    ("winograd_kernel_transform", (a((5, 5, 2, 3)),), {}, ValueError, ["kernel", "(3, 3, C, K)", "(5, 5, 2, 3)"]),
    ("winograd_kernel_transform", (a((3, 3, 2, 3)), 3), {}, ValueError, ["tile", "2 or 4", "3"]),
    ("winograd_kernel_transform", (a((3, 3, 2, 3)), True), {}, ValueError, ["tile", "True"]),
    ("winograd_kernel_transform", (a((3, 3, 2, 3), np.int32),), {}, TypeError, ["kernel", "float32"]),
    ("winograd_kernel_transform", (a((3, 3, 2, 3)), 4), {"out": a((16, 2, 3))}, ValueError, ["out", "(36, 2, 3)"]),
    ("winograd_kernel_transform", (a((3, 3, 2, 3)), 2, True), {"out": a((16, 2, 3))}, ValueError,
     ["out", "(16, 3, 2)"]),
    ("winograd_filter_gradient", (a((36, 2, 3)),), {}, ValueError, ["partials", "4-D"]),
    ("winograd_filter_gradient", (a((2, 36, 2, 3)), 2), {}, ValueError, ["partials", "(S, 16, C, K)"]),
    ("winograd_filter_gradient", (a((2, 16, 2, 3)), 5), {}, ValueError, ["tile", "2 or 4"]),
    ("winograd_filter_gradient", (a((2, 36, 2, 3)), 4), {"out": a((3, 3, 2, 3), f64)}, TypeError, ["out", "dtype"]),
    ("sparse_matmul", (a((2, 3)), a((4, 5))), {}, ValueError, ["inner sizes", "(2, 3)", "(4, 5)"]),
    ("sparse_matmul", (a((2, 3)), a((3, 5), f64)), {}, TypeError, ["x", "w", "dtype"]),
    ("sparse_matmul", (a((2, 3)), a((3, 5))), {"out": a((2, 4))}, ValueError, ["out", "(2, 5)"]),
    ("sparse_matmul_tn", (a((2, 3)), a((3, 5))), {}, ValueError, ["inner sizes", "xᵀ"]),
    ("sparse_matmul_tn", (a((2, 3, 1)), a((2, 5))), {}, ValueError, ["x", "2-D"]),
    ("sgd_update", (a((2, 3)), a((3, 2)), 0.1), {}, ValueError, ["param", "grad", "(2, 3)", "(3, 2)"]),
    ("sgd_update", (a((2, 3)), a((2, 3), f64), 0.1), {}, TypeError, ["param", "grad", "dtype"]),
    ("sgd_update", (a((2, 3), np.int32), a((2, 3), np.int32), 0.1), {}, TypeError, ["param", "float32"]),
    ("sgd_update", (a((2, 3)), a((2, 3)), 0.1, 0.9), {}, ValueError, ["velocity"]),
    ("sgd_update", (a((2, 3)), a((2, 3)), float("nan")), {}, ValueError, ["learning_rate", "finite"]),
    ("sgd_update", (a((2, 3)), a((2, 3)), 0.1, 0.9, a((2, 2))), {}, ValueError, ["velocity", "(2, 2)"]),
    ("sgd_update", (_read_only((2, 3)), a((2, 3)), 0.1), {}, ValueError, ["param", "read-only"]),
    # batch normalization
    ("batchnorm_forward", (a((3, 4)), a(5), None, 1e-3), {}, ValueError, ["gamma", "5", "4"]),
    ("batchnorm_forward", (a((3, 4)), a(4, f64), None, 1e-3), {}, TypeError, ["gamma", "dtype"]),
    ("batchnorm_forward", (a((3, 4)), None, None, 1e-3, 0), {}, ValueError, ["axis", "feature axis"]),
    ("batchnorm_forward", (a((3, 4)), None, None, 1e-3, 1.0), {}, TypeError, ["axis", "int"]),
    ("batchnorm_forward", (a((3, 4)), None, None, -1.0), {}, ValueError, ["epsilon"]),
    ("batchnorm_forward", (a((3, 4)), None, None, float("nan")), {}, ValueError, ["epsilon", "finite"]),
    ("batchnorm_forward", (a((3, 4)), None, None, 1e-3, -1, "yes"), {}, TypeError, ["relu", "True or False"]),
    ("batchnorm_forward", (a((3, 4)), None, None, 1e-3, -1, False, a(4)), {}, ValueError, ["mean", "variance"]),
    ("batchnorm_forward", (a((0, 4)), None, None, 1e-3), {}, ValueError, ["x", "no values"]),
    ("batchnorm_forward", (a((3, 4)).T, None, None, 1e-3), {}, ValueError, ["x", "C-contiguous"]),
    ("batchnorm_forward", (a((3, 4)), None, None, 1e-3), {"out": a((3, 5))}, ValueError, ["out", "shape"]),
    ("batchnorm_backward", (a((3, 4)), a((3, 5)), None, None, a(4), a(4)), {}, ValueError, ["dout", "x", "shapes"]),
    ("batchnorm_backward", (a((3, 4), f64), a((3, 4)), None, None, a(4), a(4)), {}, TypeError, ["dout", "dtype"]),
    ("batchnorm_backward", (a((3, 4)), a((3, 4)), None, None, a(3), a(4)), {}, ValueError, ["mean", "3"]),
    ("batchnorm_backward", (a((3, 4)), a((3, 4)), None, None, a(4), None), {}, TypeError, ["inv_std"]),
    ("batchnorm_backward", (a((3, 4)), a((3, 4)), None, None, a(4), a(4)), {"gamma_grad_out": a(3)}, ValueError,
     ["gamma_grad_out", "shape"]),
    ("add_relu_forward", (a((2, 2, 3)),), {}, TypeError, ["inputs", "list or tuple", "ndarray"]),
    ("add_relu_forward", ([a((2, 3))],), {}, ValueError, ["inputs", "at least 2", "1"]),
    ("add_relu_forward", ([a((2, 3)), a((3, 2))],), {}, ValueError, ["inputs[0] (2, 3)", "inputs[1] (3, 2)"]),
    ("add_relu_forward", ([a((2, 3)), a((1, 3))],), {}, ValueError, ["inputs[1] (1, 3)"]),  # no broadcasting
    ("add_relu_forward", ([a((2, 3)), a((2, 3), f64)],), {}, TypeError, ["inputs[1]", "dtype"]),
    ("add_relu_forward", ([a((2, 3)), a((2, 3), np.int32)],), {}, TypeError, ["inputs[1]", "float32"]),
    ("add_relu_forward", ([a((2, 3)), [1.0, 2.0, 3.0]],), {}, TypeError, ["inputs[1]", "NumPy array"]),
    ("add_relu_forward", ([a((2, 3)), a((3, 2)).T],), {}, ValueError, ["inputs[1]", "C-contiguous"]),
    ("add_relu_forward", ([a((2, 3)), a((2, 3))],), {"out": a((3, 2))}, ValueError, ["out", "(2, 3)"]),
    ("nchw_to_nhwc", (a((2, 3, 4)),), {}, ValueError, ["x", "4-D", "(2, 3, 4)"]),
    ("nchw_to_nhwc", (a((2, 3, 4, 5), np.int32),), {}, TypeError, ["x", "float32"]),
    ("nchw_to_nhwc", (a((2, 5, 4, 3)).transpose(0, 3, 2, 1),), {}, ValueError, ["x", "C-contiguous"]),
    ("nchw_to_nhwc", (a((2, 3, 4, 5)),), {"out": a((2, 3, 4, 5))}, ValueError, ["out", "(2, 4, 5, 3)"]),
    ("nchw_to_nhwc", (a((2, 3, 4, 5)),), {"out": a((2, 4, 5, 3), f64)}, TypeError, ["out", "dtype"]),
    ("nhwc_to_nchw", ([[[[1.0]]]],), {}, TypeError, ["x", "NumPy array"]),
    ("nhwc_to_nchw", (a((2, 4, 5, 3)),), {"out": a((2, 3, 4, 5)).transpose(0, 1, 3, 2)}, ValueError,
     ["out", "(2, 3, 4, 5)"]),
    ("nhwc_to_nchw", (a((2, 4, 4, 4)),), {"out": np.zeros((2, 4, 4, 4), np.float32)[:, ::-1]}, ValueError,
     ["out", "C-contiguous"]),
]


def test_every_op_has_validation_cases():
    assert {call[0] for call in BAD_CALLS} == set(ops.OPS)


@pytest.mark.parametrize(
    "name, args, kwargs, error, words", BAD_CALLS,
    ids=[f"{call[0]}-{i}" for i, call in enumerate(BAD_CALLS)],
)
def test_bad_arguments_fail_alike_on_both_backends(native, name, args, kwargs, error, words):
    messages = {}
    for backend in ("numpy", "native"):
        with le4nn.backend(backend), pytest.raises((ValueError, TypeError)) as info:
            getattr(ops, name)(*args, **kwargs)
        assert type(info.value) is error, f"{backend}: {info.value!r}"
        messages[backend] = str(info.value)
    assert messages["native"] == messages["numpy"]
    message = messages["numpy"]
    assert message.startswith(f"{name}: ")
    for word in words:
        assert word in message, message
