"""The :class:`Layer` base class and the contract every layer follows (docs/design.md §6).

- ``build(input_shape)`` creates the weights for inputs of that shape (batch dimension included, as
  ``None``).  Layers build themselves on their first call; building again with another shape raises a
  ``ValueError`` that names the layer and both shapes.
- ``forward(x, training=False) -> y`` and ``backward(grad_out) -> grad_in``.  ``backward`` uses what the
  last ``forward`` cached and writes ∂E/∂param into ``grads`` (regularizer terms included).
- ``params`` and ``grads`` are dicts keyed by parameter name ("kernel", "bias", "gamma", ...);
  non-trainable arrays (BatchNormalization's moving statistics) live in ``state``.  Optimizers update the
  ``params`` arrays in place, so a layer never replaces them by new objects.
- ``layer(x)`` runs ``forward(x, training=False)`` on an array and records a graph node on a
  :class:`~le4nn.layers.symbolic.SymbolicTensor` (from :func:`le4nn.layers.Input` or another layer call).
- Threads: a layer runs one call at a time.  ``layer(x)`` and every model step that uses the layer
  hold its lock (:class:`le4nn._threads.StepGuard`), so that its cached values and reused arrays
  are never shared between two threads' calls.

The backward protocol
---------------------
What a contributor writing a new layer implements:

- a plain layer: ``forward`` and ``backward(grad_out)``; nothing else.
- a layer whose output is ``activation(z)`` (Dense, Conv2D, Conv2DTranspose, the activation layers)
  mixes in :class:`~le4nn.layers._activated.ActivationOutput`, returns ``self._activate(z)`` from
  ``forward`` and implements the one hook ``_pre_activation_backward(grad_z, need_input_grad,
  bias_done) -> grad_in``: from ∂E/∂z, fill ``grads`` (the bias gradient is already there when
  ``bias_done``: ReLU's and the sigmoid's backward can produce it in the same pass) and return
  ∂E/∂inputs, or None when ``need_input_grad`` is False.  The mixin provides ``backward``,
  ``backward_from_logits`` (softmax outputs: from ∂E/∂logits, handout eq. 12) and the model's entry.

What a model calls (:class:`le4nn.models.graph.Graph`):

- ``_backward_step(grad, from_logits=..., need_input_grad=...)`` for every layer, the one entry point
  of a model's backward pass.  The default here calls ``backward_from_logits`` or ``backward``; a
  layer overrides it only to skip work the model does not need (∂E/∂inputs of a first layer).
- the fused pair protocol, for a layer whose output only one layer reads (and the model does not
  return): ``_forward_through(consumer, x, training)`` (x a list for a multi-input layer) and
  ``_backward_through(consumer, grad_out, need_input_grad)`` (one gradient per input for a
  multi-input layer) run both layers at once or return ``NotImplemented``, and the model runs them
  one after the other.  The pairs: Conv2D (ReLU or linear) + channels_last MaxPooling2D
  (:mod:`le4nn.layers._conv_pool`), forward and backward; Add + ReLU (:mod:`le4nn.layers._add_relu`),
  forward and backward; Conv2D (linear) + BatchNormalization on its channel axis, folded in inference
  only (:mod:`le4nn.layers._conv_bn`; with a ReLU after it, a triple: ``_forward_through_two``).
- three class attributes: ``_multi_input`` (the layer takes a list: Add, Concatenate), ``_scratch``
  (set by the model while it runs a step, so the layer may return reused arrays, :meth:`Layer._out`)
  and ``_defer_softmax`` (set on a softmax output layer whose softmax the loss computes, eq. 12).

Naming (:mod:`le4nn.layers.naming`), the shape helpers (:mod:`le4nn.layers.shapes`) and the
functional graph's :class:`~le4nn.layers.symbolic.SymbolicTensor` live in their own modules; their
public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from le4nn._threads import StepGuard, new_layer_lock
from le4nn._typing import (
    ArrayLike,
    Config,
    DTypeLike,
    FloatArray,
    InitializerLike,
    PartialShape,
)
from le4nn.layers._arguments import get_initializer
from le4nn.layers._building import build_once as _build_once

# Re-exported: ``from le4nn.layers.base import format_shape`` (and the others) keeps working.
from le4nn.layers.naming import reset_names, to_snake_case, unique_name
from le4nn.layers.shapes import format_shape, known_size, normalize_shape, shapes_compatible
from le4nn.layers.symbolic import SymbolicTensor, is_symbolic, record_call
from le4nn.layers.weight_budget import reserve_weight
from le4nn.regularizers import Regularizer

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LayerT = TypeVar("_LayerT", bound="Layer")

__all__ = [
    "FLOAT_DTYPES", "Layer", "SymbolicTensor", "format_shape", "is_symbolic", "known_size", "normalize_shape",
    "reset_names", "shapes_compatible", "to_snake_case", "unique_name",
]


class Layer:
    """Base class of all layers (see the module docstring for the contract).

    Keyword arguments every layer takes (as Keras): ``name`` (default: a unique snake_case name from
    the class, "dense", "dense_1", ...), ``trainable``, ``dtype`` ("float32" by default, or "float64";
    inputs are cast to it), and on the first layer of a model ``input_shape`` (without the batch
    dimension) or ``batch_input_shape`` (with it).
    """

    #: Whether the layer takes a list of inputs (Add, Concatenate).
    _multi_input = False

    #: Set by a model while it runs the layer inside a training step, ``evaluate`` or ``predict``
    #: (see :meth:`le4nn.models.graph.Graph.set_scratch`): the model consumes each output and gradient
    #: before the next call, so the layer may return its own scratch arrays (:meth:`_out`), reused
    #: from call to call instead of allocated anew.  Outside a model (``layer(x)``, ``forward``
    #: called directly) every result is a fresh array the caller may keep.
    _scratch = False

    def __init__(self, name: str | None = None, trainable: bool = True, dtype: DTypeLike | None = None,
                 input_shape: Sequence[int | None] | None = None,
                 batch_input_shape: Sequence[int | None] | None = None,
                 **kwargs: Any) -> None:
        cls = type(self).__name__
        if kwargs:
            raise TypeError(f"{cls}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if name is None:
            name = unique_name(to_snake_case(cls))
        elif not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"{cls}: name must be a non-empty string without '/', got {name!r}")
        self.name = name
        self.trainable = bool(trainable)
        self.dtype = self._check_dtype(dtype)

        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self._regularizers: dict[str, Regularizer] = {}
        self._buffers: dict[str, np.ndarray | None] = {}
        self.built = False
        self._build_input_shape: Any = None
        self._checked_shape: tuple[int, ...] | None = None  # the per-sample input shape last accepted by _prepare_input
        # Its place in the global lock order and its lock: one call or model step at a time.
        self._serial, self._lock = new_layer_lock()
        self._guard: StepGuard | None = None

        if input_shape is not None and batch_input_shape is not None:
            raise ValueError(f"{self.describe()}: give input_shape or batch_input_shape, not both")
        if input_shape is not None:
            batch_input_shape = (None, *normalize_shape(input_shape, f"{self.describe()}: input_shape"))
        self.batch_input_shape = (
            None if batch_input_shape is None
            else normalize_shape(batch_input_shape, f"{self.describe()}: batch_input_shape")
        )
        #: The symbolic input and output of the layer's call in a functional graph (None until called).
        self.input: Any = None
        self.output: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles carry no lock: :meth:`__setstate__` gives the copy its own."""
        state = dict(self.__dict__)
        for key in ("_lock", "_guard"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._serial, self._lock = new_layer_lock()
        self._guard = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _build_once(cls.__dict__["build"])  # type: ignore[method-assign]  # wrapped, same signature

    # --- description and errors -------------------------------------------------------------------

    def describe(self) -> str:
        """``"Dense layer 'dense_1'"``: how error messages name the layer."""
        return f"{type(self).__name__} layer '{self.name}'"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

    def _check_dtype(self, dtype: DTypeLike | None) -> np.dtype:
        if dtype is None:
            return np.dtype(np.float32)
        try:
            dt: np.dtype | None = np.dtype(dtype)
        except (TypeError, ValueError, KeyError):  # what NumPy raises for strings, dicts, lists it cannot read
            dt = None
        if dt is None or dt not in FLOAT_DTYPES:  # (dtype == None is True in NumPy: None means float64)
            raise ValueError(f"{self.describe()}: dtype must be 'float32' or 'float64', got {dtype!r}")
        return dt

    # --- shapes -----------------------------------------------------------------------------------

    def _normalize_input_shape(self, input_shape: Any) -> Any:
        what = f"{self.describe()}: input shape"
        if self._multi_input:
            if not isinstance(input_shape, (list, tuple)) or not all(
                isinstance(s, (list, tuple)) for s in input_shape
            ):
                raise TypeError(f"{self.describe()} takes a list of inputs, got shape {input_shape!r}")
            return [(None, *normalize_shape(s, what)[1:]) for s in input_shape]
        shape = normalize_shape(input_shape, what)
        if not shape:
            raise ValueError(f"{self.describe()}: inputs need a batch dimension, got shape {shape}")
        return (None, *shape[1:])

    def _check_input_shape(self, input_shape: Any) -> None:
        """A built layer accepts only inputs of the shape it was built for (any batch size)."""
        expected = self._build_input_shape
        if self._multi_input:
            ok = len(expected) == len(input_shape) and all(
                shapes_compatible(e, a) for e, a in zip(expected, input_shape, strict=True)
            )
        else:
            ok = shapes_compatible(expected, input_shape)
        if not ok:
            raise ValueError(
                f"{self.describe()}: expected input shape {format_shape(expected)}, "
                f"got {format_shape(input_shape)}"
            )

    def _require_rank(self, input_shape: Any, ndim: int, layout: str, hint: str = "") -> PartialShape:
        """Check the rank of a (single) input shape, e.g. ``layout="(batch, features)"``."""
        shape = normalize_shape(input_shape, f"{self.describe()}: input shape")
        if len(shape) != ndim:
            raise ValueError(
                f"{self.describe()}: expects {ndim}-D input {layout}, got shape {format_shape(shape)}"
                + (f"; {hint}" if hint else "")
            )
        return shape

    @property
    def input_shape(self) -> Any:
        """The shape the layer was built for, or was declared with (batch dimension as None)."""
        return self._build_input_shape if self.built else self.batch_input_shape

    @property
    def output_shape(self) -> PartialShape:
        if self.input_shape is None:
            raise ValueError(f"{self.describe()}: the output shape is unknown until the layer is built")
        return self.compute_output_shape(self.input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for inputs of ``input_shape`` (checked; batch dimension included).  A shape is
        a tuple of ints with None for unknown sizes (:data:`le4nn._typing.PartialShape`), a list of them
        for a multi-input layer, hence ``Any`` here: each layer's override names its own case."""
        return input_shape

    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of ``input_shape`` (layers without weights need nothing)."""

    # --- weights ----------------------------------------------------------------------------------

    def add_weight(self, name: str, shape: Sequence[int], initializer: InitializerLike = "zeros",
                   regularizer: Regularizer | None = None, trainable: bool = True) -> np.ndarray:
        """Create a weight with ``initializer(shape, dtype)``; trainable ones go to ``params`` (with a
        zero gradient buffer in ``grads``), others to ``state``."""
        shape = tuple(int(s) for s in shape)
        reserve_weight(self, name, shape, self.dtype)  # a file being loaded bounds what may be allocated
        init = get_initializer(self, f"initializer of {name}", initializer)
        value = np.ascontiguousarray(init(shape, self.dtype.name), dtype=self.dtype)
        if value.shape != shape:
            raise ValueError(
                f"{self.describe()}: the initializer of {name} returned shape {value.shape}, expected {shape}"
            )
        if trainable:
            self.params[name] = value
            self.grads[name] = np.zeros_like(value)
        else:
            self.state[name] = value
        if regularizer is not None:
            self._regularizers[name] = regularizer
        return value

    @property
    def weights(self) -> list[np.ndarray]:
        """The arrays themselves (not copies): params then state, in Keras order."""
        return [*self.params.values(), *self.state.values()]

    @property
    def weight_names(self) -> list[str]:
        return [*self.params, *self.state]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return list(self.params.values()) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return ([] if self.trainable else list(self.params.values())) + list(self.state.values())

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights in Keras order (kernel, bias; gamma, beta, moving_mean, moving_variance)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Copy ``weights`` (in :meth:`get_weights` order) into the layer's arrays, checking count and
        shapes; the arrays stay the same objects (optimizers hold on to them)."""
        if not self.built:
            raise ValueError(
                f"{self.describe()}: set_weights needs a built layer (call it on an input or call "
                f"build(input_shape) first)"
            )
        weights = list(weights)
        names = self.weight_names
        if len(weights) != len(names):
            raise ValueError(
                f"{self.describe()}: set_weights expects {len(names)} arrays ({', '.join(names) or 'none'}), "
                f"got {len(weights)}"
            )
        for name, value in zip(names, weights, strict=True):
            target = self.params[name] if name in self.params else self.state[name]
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(
                    f"{self.describe()}: weight '{name}' has shape {target.shape}, "
                    f"but the array given has shape {value.shape}"
                )
            if value.dtype.kind not in "fiu":
                raise TypeError(
                    f"{self.describe()}: weight '{name}' must be numeric, got dtype {value.dtype}"
                )
            target[...] = value

    def count_params(self) -> int:
        """The number of scalars in the weights (trainable and not), as Keras."""
        if not self.built:
            raise ValueError(f"{self.describe()}: count_params needs a built layer")
        return int(sum(w.size for w in self.weights))

    def regularization_loss(self) -> float:
        """The regularizers' penalty on the current weights (added to the loss by the model).

        A frozen layer (``trainable = False``) has none: as in Keras 3, regularizers apply to
        trainable weights only, and a frozen layer's weights are neither updated nor regularized."""
        if not self.trainable or not self._regularizers:
            return 0.0
        return float(sum(reg(self.params[name]) for name, reg in self._regularizers.items()))

    def _add_regularization_gradients(self) -> None:
        for name, reg in self._regularizers.items():
            self.grads[name] += np.asarray(reg.gradient(self.params[name]), dtype=self.dtype)

    def _buffer(self, tag: str, shape: Sequence[int], dtype: DTypeLike | None = None) -> np.ndarray:
        """A scratch array kept between calls (im2col columns, ...), one per tag: reallocated only
        when the shape (e.g. the batch size) or the dtype changes, so memory stays bounded."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        shape = tuple(shape)
        buf = self._buffers.get(tag)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            self._buffers[tag] = None  # let the old one go before the new one is allocated
            buf = self._buffers[tag] = np.empty(shape, dtype=dtype)
        return buf

    def _out(self, tag: str, shape: Sequence[int], dtype: DTypeLike | None = None) -> np.ndarray:
        """An array for a result the layer returns (an output or an input gradient): the layer's
        scratch buffer ``tag`` inside a model step (:attr:`_scratch`), else a fresh array."""
        if self._scratch:
            return self._buffer(tag, shape, dtype)
        return np.empty(shape, dtype=self.dtype if dtype is None else dtype)

    # --- forward / backward -----------------------------------------------------------------------

    def forward(self, x: Any, training: bool = False) -> Any:
        """The output for ``x`` (an array; a list of arrays for a multi-input layer)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out: FloatArray) -> Any:
        """∂E/∂input from ∂E/∂output (a list, one per input, for a multi-input layer)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    @property
    def output_softmax(self) -> bool:
        """Whether the output is a softmax over the last axis (the model may fuse it with cross-entropy:
        then ``logits`` holds the last forward's pre-softmax values and ``backward_from_logits`` takes
        ∂E/∂logits)."""
        return False

    @property
    def logits(self) -> FloatArray | None:
        return None

    def backward_from_logits(self, grad_logits: FloatArray) -> Any:
        """Backward from ∂E/∂(pre-softmax logits), skipping the softmax (layers with ``output_softmax``)."""
        raise NotImplementedError(f"{self.describe()} does not end in a softmax")

    def _backward_step(self, grad_out: FloatArray, *, from_logits: bool, need_input_grad: bool) -> Any:
        """What a model calls instead of ``backward`` (``from_logits``: ``backward_from_logits``).

        With ``need_input_grad=False`` the model will discard ∂E/∂inputs (nothing upstream of this
        layer has trainable weights, e.g. the first layer), so a layer may skip computing it and
        return None; Dense and Conv2D do (for a first convolution that saves the whole col2im).
        """
        grad = self.backward_from_logits(grad_out) if from_logits else self.backward(grad_out)
        return grad if need_input_grad else None

    # --- the fused pair protocol (inside a model step) ----------------------------------------------

    def _forward_through(self, consumer: Layer, x: Any, training: bool) -> Any:
        """Fused forward of this layer and the one layer that reads its output (``consumer``), inside
        a model step: return the consumer's output (both layers' caches set for
        :meth:`_backward_through`, which the model then uses), or ``NotImplemented`` to let the model
        run both forward passes.  ``x`` is the list of inputs for a multi-input layer.  The pairs are
        listed in this module's docstring."""
        return NotImplemented

    def _forward_through_two(self, consumer: Layer, then: Layer, x: Any) -> Any:
        """Inference only (no backward follows): this layer, its sole reader ``consumer`` and that
        one's sole reader ``then`` at once (``then``'s output), or ``NotImplemented``."""
        return NotImplemented

    def _backward_through(self, consumer: Layer, grad_out: FloatArray, need_input_grad: bool) -> Any:
        """Fused backward of this layer and the one layer that reads its output (``consumer``), from
        ∂E/∂(consumer's output): fill this layer's ``grads`` and return ∂E/∂(this layer's input)
        (None when ``need_input_grad`` is False; a list, one per input, for a multi-input layer), or
        return ``NotImplemented`` to let the model run both backward passes.  The model only reads the
        gradients returned (one array may serve several inputs)."""
        return NotImplemented

    def _as_float_array(self, x: ArrayLike, argument: str = "inputs") -> np.ndarray:
        """``x`` as a C-contiguous array of the layer's dtype; integer or boolean data are refused."""
        if isinstance(x, SymbolicTensor):
            raise TypeError(f"{self.describe()}: forward takes arrays; call the layer on symbolic tensors")
        arr = np.asarray(x)
        if arr.dtype.kind != "f":
            raise TypeError(
                f"{self.describe()}: {argument} must be a float array (float32 or float64), got dtype "
                f"{arr.dtype}; convert it first, e.g. x.astype('float32') / 255 for 8-bit images"
            )
        if arr.dtype != self.dtype or not arr.flags.c_contiguous:
            arr = np.array(arr, dtype=self.dtype, order="C")
        return arr

    def _prepare_input(self, x: ArrayLike, argument: str = "inputs") -> np.ndarray:
        """Check and cast an input array; build the layer on first use (first line of ``forward``)."""
        if (type(x) is np.ndarray and x.dtype is self.dtype and x.ndim and x.flags.c_contiguous
                and self.built and x.shape[1:] == self._checked_shape):
            return x  # the common case, as in the last call: nothing to check again
        x = self._as_float_array(x, argument)
        if x.ndim == 0:
            raise ValueError(f"{self.describe()}: {argument} need a batch dimension, got a scalar")
        self.build((None, *x.shape[1:]))
        self._checked_shape = x.shape[1:]
        return x

    def _prepare_inputs(self, xs: Sequence[ArrayLike]) -> list[np.ndarray]:
        """The list version of :meth:`_prepare_input` for multi-input layers."""
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"{self.describe()} takes a list of inputs, got {type(xs).__name__}")
        arrays = [self._as_float_array(x, f"inputs[{i}]") for i, x in enumerate(xs)]
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"{self.describe()}: inputs[{i}] need a batch dimension, got a scalar")
        self.build([(None, *a.shape[1:]) for a in arrays])
        return arrays

    def _prepare_grad(self, grad_out: ArrayLike, like: Any, argument: str = "grad_out") -> np.ndarray:
        """Check ∂E/∂output against the cached forward output ``like`` (None: no forward yet)."""
        if like is None:
            raise RuntimeError(f"{self.describe()}: backward called before forward")
        if (type(grad_out) is np.ndarray and grad_out.dtype is self.dtype and grad_out.flags.c_contiguous
                and grad_out.shape == (like if isinstance(like, tuple) else like.shape)):
            return grad_out  # the common case: nothing to convert
        grad = self._as_float_array(grad_out, argument)
        shape = like if isinstance(like, tuple) else like.shape
        if grad.shape != shape:
            raise ValueError(
                f"{self.describe()}: {argument} has shape {grad.shape}, but the last output had shape {shape}"
            )
        return grad

    # --- calling ----------------------------------------------------------------------------------

    def __call__(self, inputs: Any, training: bool = False) -> Any:
        """On arrays: ``forward(inputs, training)``.  On symbolic tensors: record a graph node and return
        the output's :class:`SymbolicTensor`."""
        if is_symbolic(inputs):
            return self._call_symbolic(inputs)
        if self._guard is None:
            self._guard = StepGuard([self])
        with self._guard:  # not while another thread runs this layer (alone or in a model)
            return self.forward(inputs, training=training)

    def _call_symbolic(self, inputs: Any) -> Any:
        return record_call(self, inputs)

    # --- configuration ----------------------------------------------------------------------------

    def get_config(self) -> Config:
        """The constructor arguments as a JSON-serializable dict (``from_config`` rebuilds the layer)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls: type[_LayerT], config: Config) -> _LayerT:
        return cls(**config)


Layer.build = _build_once(Layer.build)  # type: ignore[method-assign]  # wrapped, same signature
