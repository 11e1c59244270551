"""The functional core of le4nn: one public function per op, two implementations.

``le4nn.ops.reference`` is the readable NumPy implementation (the handout's equations),
``le4nn.ops.native`` calls the compiled Cython/OpenMP kernels.  Both have the same signatures, list
their ops in the same order and share each op's argument checks (:mod:`le4nn.ops._checks`); the
functions here forward each call to the backend in force:

- the environment variable ``LE4NN_BACKEND=numpy|native`` (read at the first op; default ``native``;
  another value is a ValueError naming the variable then),
- :func:`set_backend` for the rest of the program,
- ``with backend("numpy"): ...`` for a block.

If the compiled kernels cannot be imported (a source checkout without a build), ``native`` falls back
to NumPy with one warning.

Why a stub (``__init__.pyi``) and not hand-written dispatchers: the dispatchers are made at import
from :data:`OPS`, each a two-line forwarder with the reference's signature and docstring, and they
stay so at run time (no extra cost per call, one list of names).  For editors and type checkers,
``__init__.pyi`` declares every op as ``from le4nn.ops.reference import im2col as im2col``, so that
go-to-definition on ``ops.im2col`` lands on the NumPy equation in ``reference.py``, which a
hand-written ``def im2col(...): return _current().im2col(...)`` here could not do.  A test
(``tests/ops/test_dispatch.py``) keeps the stub's names equal to :data:`OPS` and ``__all__``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from le4nn.ops import reference

BACKENDS = ("native", "numpy")

#: The ops, in the order of reference.py and native.py (and of __init__.pyi).
OPS = (
    "im2col",
    "col2im",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "im2col_nhwc",
    "col2im_nhwc",
    "maxpool2d_nhwc_forward",
    "maxpool2d_nhwc_backward",
    "conv2d_nhwc_forward",
    "conv2d_nhwc_filter_grad",
    "conv2d_nhwc_pool_forward",
    "conv2d_nhwc_filter_grad_pooled",
    "winograd_input_transform",
    "winograd_output_transform",
    "winograd_gradient_transform",
    "winograd4_input_transform",
    "winograd4_output_transform",
    "winograd4_gradient_transform",
    "winograd_kernel_transform",
    "winograd_filter_gradient",
    "sigmoid_forward",
    "sigmoid_backward",
    "relu_forward",
    "relu_backward",
    "softmax_forward",
    "softmax_cross_entropy_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy",
    "bias_relu_forward",
    "relu_backward_bias",
    "sigmoid_backward_bias",
    "sparse_matmul",
    "sparse_matmul_tn",
    "sgd_update",
    "batchnorm_forward",
    "batchnorm_backward",
    "add_relu_forward",
    "nchw_to_nhwc",
    "nhwc_to_nchw",
)

class BackendFallbackWarning(UserWarning):
    """The compiled kernels could not be imported, so the NumPy backend is used instead."""


_native_module = None
_native_error: Exception | None = None
_warned = False


def _load_native():
    """Import the compiled backend once; remember why if it cannot be imported."""
    global _native_module, _native_error
    if _native_module is None and _native_error is None:
        try:
            from le4nn.ops import native as module
        except ImportError as exc:  # no compiled kernels in this installation
            _native_error = exc
        else:
            _native_module = module
    return _native_module


def native_available() -> bool:
    """Whether the compiled kernels can be used."""
    return _load_native() is not None


def _check_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return key


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this module and
    contextlib (the fallback is noticed in set_backend, get_backend, backend() or an op's
    dispatcher, at different depths)."""
    level, frame = 2, sys._getframe(2)  # 1 = the caller of this function, 2 = its caller
    while frame is not None and frame.f_globals.get("__name__") in (__name__, "contextlib"):
        frame, level = frame.f_back, level + 1
    return level


def _resolve(name: str):
    global _warned
    if name == "native":
        module = _load_native()
        if module is not None:
            return module
        if not _warned:
            warnings.warn(
                f"le4nn: compiled kernels are unavailable ({_native_error}); using the NumPy backend",
                BackendFallbackWarning,
                stacklevel=_caller_stacklevel(),
            )
            _warned = True
    return reference


def _backend_from_environment() -> str:
    """The backend ``LE4NN_BACKEND`` asks for (``native`` when unset or empty)."""
    value = os.environ.get("LE4NN_BACKEND", "").strip() or "native"
    try:
        return _check_name(value)
    except ValueError:
        raise ValueError(f"LE4NN_BACKEND must be one of {', '.join(BACKENDS)}, got {value!r}") from None


_requested: str | None = None  # None: LE4NN_BACKEND's, read at the first use
_impl = None  # resolved lazily so that importing le4nn never warns (or fails) before it must


def set_backend(name: str) -> None:
    """Use the ``"native"`` (compiled) or ``"numpy"`` (reference) kernels from now on."""
    global _requested, _impl
    _requested = _check_name(name)
    _impl = _resolve(_requested)


def get_backend() -> str:
    """The backend actually in use: ``"native"`` or ``"numpy"`` (after any fallback)."""
    return "native" if _current() is not reference else "numpy"


@contextlib.contextmanager
def backend(name: str) -> Iterator[None]:
    """Use the given backend inside a ``with`` block, then restore the previous one."""
    global _requested, _impl
    saved = (_requested, _impl)
    set_backend(name)
    try:
        yield
    finally:
        _requested, _impl = saved


def _current():
    global _impl
    global _requested
    if _impl is None:
        if _requested is None:
            _requested = _backend_from_environment()
        _impl = _resolve(_requested)
    return _impl


def _make_dispatcher(name: str):
    """``ops.<name>``: calls ``<name>`` of the backend in force, with the reference's signature and
    docstring (the editors' view of it is ``__init__.pyi``: the reference function itself)."""
    ref = getattr(reference, name)

    def dispatch(*args, **kwargs: Any):
        return getattr(_current(), name)(*args, **kwargs)

    dispatch.__name__ = name
    dispatch.__qualname__ = name
    dispatch.__doc__ = ref.__doc__
    dispatch.__signature__ = inspect.signature(ref)
    return dispatch


for _name in OPS:
    globals()[_name] = _make_dispatcher(_name)
del _name

__all__ = [
    *OPS,
    "BACKENDS",
    "BackendFallbackWarning",
    "backend",
    "get_backend",
    "native_available",
    "reference",
    "set_backend",
]
