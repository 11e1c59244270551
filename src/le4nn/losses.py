"""Loss functions: ``loss(y_true, y_pred) -> float`` and ``loss.gradient(y_true, y_pred) -> ∂loss/∂y_pred``.

Every loss is a mean over the mini-batch (handout eq. 8 for the cross-entropy), so ``gradient`` is already
divided by the batch size B.  Both accept an optional ``sample_weight`` of shape (B,): the loss becomes
(1/B) Σ_b w_b·ℓ_b, as Keras's default "sum_over_batch_size" reduction (it divides by B, not by Σ w).

Keras semantics, per sample b (K = number of outputs per sample):

- ``CategoricalCrossentropy``: ℓ_b = −Σ_k t_bk log y_bk.  Labels may be one-hot (B, K) or class indices
  (B,); ``label_smoothing`` replaces t by t·(1 − ls) + ls/K (Keras and PyTorch agree).
- ``SparseCategoricalCrossentropy``: the same with class indices (B,) or (B, 1).
- ``MeanSquaredError``: ℓ_b = mean_k (y_bk − t_bk)².
- ``BinaryCrossentropy``: ℓ_b = mean_k −[t log y + (1 − t) log(1 − y)]; label smoothing t·(1 − ls) + ls/2.

From probabilities (``from_logits=False``) the cross-entropies do what Keras does: divide y by its sum
over the classes (categorical only), then clip it to [ε, 1 − ε] with ε = 1e-7 before the log; the gradient
is that of this clipped formula (zero where the clip is active).  With ``from_logits=True`` the categorical
losses go through the fused softmax + cross-entropy kernels of :mod:`le4nn.ops` (eq. 5–6, 8, 12), and the
binary loss uses the stable form max(z, 0) − z·t + log(1 + exp(−|z|)), gradient (σ(z) − t)/(B·K).

Fused path (docs/architecture.md): when a softmax output layer meets a cross-entropy loss the model calls
``softmax_fused(y_true, logits) -> (loss, probs)`` and ``softmax_fused_gradient(y_true, probs)``, which is
(y − t)/B (eq. 12) without ever forming the softmax Jacobian.  It computes log y from the logits, so it
needs no clipping and stays exact where the unfused path (softmax, then the clipped log) saturates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from le4nn import ops
from le4nn._numbers import is_real
from le4nn._registry import Configurable, Registry
from le4nn._typing import Array, ArrayLike, Config, FloatArray

EPSILON = 1e-7  # Keras's backend.epsilon(): the clip of probabilities before the log


# ---------------------------------------------------------------------------------------------------
# Argument handling
# ---------------------------------------------------------------------------------------------------


def _as_pred(y_pred: Array, name: str) -> np.ndarray:
    y = np.asarray(y_pred)
    if y.dtype.kind in "iub":
        y = y.astype(np.float64)
    if y.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: y_pred must be float32 or float64, got {y.dtype}")
    if y.ndim < 1:
        raise ValueError(f"{name}: y_pred must have a batch axis, got a scalar")
    return np.ascontiguousarray(y)


def _as_weights(sample_weight: ArrayLike | None, batch: int, name: str) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (batch,):
        raise ValueError(f"{name}: sample_weight has shape {w.shape}, expected ({batch},) for the batch")
    return w


def _weighted_mean(per_sample: np.ndarray, weights: np.ndarray | None) -> float:
    """(1/B) Σ_b w_b ℓ_b as a Python float (accumulated in float64)."""
    per_sample = per_sample.astype(np.float64, copy=False)
    if weights is not None:
        per_sample = per_sample * weights
    return float(per_sample.sum() / per_sample.shape[0]) if per_sample.shape[0] else 0.0


def _indices_below(t: np.ndarray, K: int) -> bool:
    """Whether every class label in ``t`` (integers or integral floats) lies in [0, K)."""
    if t.dtype.kind == "i" and t.dtype.itemsize == np.dtype(np.uintp).itemsize:
        # seen as unsigned, a negative label is huge: one comparison checks both ends
        return not np.greater_equal(t.view(np.uintp), K).any()
    return bool(t.min() >= 0 and t.max() < K)


def _scale_rows(grad: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Multiply each sample's gradient by its weight (in place, keeping the dtype)."""
    if weights is not None:
        grad *= weights.astype(grad.dtype).reshape((-1,) + (1,) * (grad.ndim - 1))
    return grad


def _match_targets(y_true: Array, y_pred: np.ndarray, name: str) -> np.ndarray:
    """Targets with y_pred's shape and dtype; (B,) and (B, 1) are interchangeable."""
    t = np.asarray(y_true)
    if t.shape != y_pred.shape:
        if t.ndim + y_pred.ndim == 3 and t.size == y_pred.size and t.shape[:1] == y_pred.shape[:1]:
            t = t.reshape(y_pred.shape)  # (B,) vs (B, 1)
        else:
            raise ValueError(f"{name}: y_true shape {t.shape} does not match y_pred shape {y_pred.shape}")
    if t.dtype.kind not in "fiub":
        raise TypeError(f"{name}: y_true must be numeric, got {t.dtype}")
    return np.ascontiguousarray(t, dtype=y_pred.dtype)


def _check_fraction(value: Any, owner: str, name: str) -> float:
    if not is_real(value) or not 0 <= value <= 1:
        raise ValueError(f"{owner}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z) over the last axis, (z − α) − log Σ exp(z − α) with α = max z (eq. 5–6)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------


class Loss(Configurable):
    """Base class: ``__call__(y_true, y_pred, sample_weight=None) -> float`` and ``gradient(...)``."""

    def __call__(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> float:
        raise NotImplementedError

    def gradient(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> np.ndarray:
        raise NotImplementedError


class _SoftmaxCrossentropy(Loss):
    """Cross-entropy over the last axis of (B, K) predictions; shared by the categorical losses."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0) -> None:
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_fraction(label_smoothing, type(self).__name__, "label_smoothing")

    def get_config(self) -> Config:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    # -- targets ------------------------------------------------------------------------------------
    def _targets(self, y_true: Array, y_pred: np.ndarray) -> np.ndarray:
        """Class indices (B,) as intp, or (smoothed) targets (B, K) in y_pred's dtype."""
        name = type(self).__name__
        if y_pred.ndim != 2:
            raise ValueError(f"{name}: y_pred must be 2-D (batch, classes), got shape {y_pred.shape}")
        B, K = y_pred.shape
        t = np.asarray(y_true)
        if t.ndim == 2 and t.shape == (B, 1) and K != 1:
            t = t[:, 0]
        if t.shape == (B,):
            integral = t.dtype.kind in "iub" or (t.dtype.kind == "f" and np.all(t == np.round(t)))
            if not integral or (B and not _indices_below(t, K)):
                raise ValueError(f"{name}: class labels must be integers in [0, {K}), got {t[:10]!r}")
            t = t.astype(np.intp, copy=False)
            if not self.label_smoothing:
                return t
            t = np.eye(K, dtype=y_pred.dtype)[t]
        elif t.shape != (B, K):
            raise ValueError(
                f"{name}: y_true shape {t.shape} does not match y_pred shape {y_pred.shape} "
                f"(give one-hot labels {(B, K)} or class indices ({B},))"
            )
        elif t.dtype.kind not in "fiub":
            raise TypeError(f"{name}: y_true must be numeric, got {t.dtype}")
        t = np.ascontiguousarray(t, dtype=y_pred.dtype)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / K
        return t

    def _prepare(self, y_true: Array, y_pred: Array,
                 sample_weight: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        name = type(self).__name__
        y_pred = _as_pred(y_pred, name)
        targets = self._targets(y_true, y_pred)
        return targets, y_pred, _as_weights(sample_weight, y_pred.shape[0], name)

    # -- the fused softmax + cross-entropy (eq. 5–6, 8, 12) ------------------------------------------
    def softmax_fused(self, y_true: Array, logits: FloatArray,
                      sample_weight: ArrayLike | None = None) -> tuple[float, FloatArray]:
        """Softmax of ``logits`` fused with this cross-entropy: returns ``(loss, probs)``."""
        return self._fused_loss(*self._prepare(y_true, logits, sample_weight))

    def softmax_fused_with_gradient(self, y_true: Array, logits: FloatArray,
                                    sample_weight: ArrayLike | None = None) -> tuple[float, FloatArray, FloatArray]:
        """:meth:`softmax_fused` and :meth:`softmax_fused_gradient` of the probabilities it returns, with
        the targets checked once (a training step): returns ``(loss, probs, ∂loss/∂logits)``."""
        if (sample_weight is None and not self.label_smoothing and type(y_true) is np.ndarray
                and y_true.ndim == 1 and y_true.dtype.kind in "iu" and type(logits) is np.ndarray
                and logits.ndim == 2 and len(y_true) == len(logits) and logits.shape[1]):
            try:  # class indices, as a training step passes them: the op checks them in one pass
                return ops.softmax_cross_entropy(logits, y_true)
            except (ValueError, TypeError):
                pass  # the checks below name the problem in this loss's words
        targets, logits, weights = self._prepare(y_true, logits, sample_weight)
        if weights is None:  # the plain mean: one op for the loss, the probabilities and the gradient
            return ops.softmax_cross_entropy(logits, targets)
        loss, probs = self._fused_loss(targets, logits, weights)
        return loss, probs, _scale_rows(ops.softmax_cross_entropy_backward(probs, targets), weights)

    def _fused_loss(self, targets: np.ndarray, logits: FloatArray,
                    weights: np.ndarray | None) -> tuple[float, np.ndarray]:
        loss, probs = ops.softmax_cross_entropy_forward(logits, targets)
        if weights is not None:  # the kernel returns the plain mean: recompute ℓ_b from log-softmax
            log_probs = _log_softmax(logits)
            if targets.ndim == 1:
                per_sample = -log_probs[np.arange(len(targets)), targets]
            else:
                per_sample = -np.where(targets != 0, targets * log_probs, 0).sum(axis=1)
            loss = _weighted_mean(per_sample, weights)
        return loss, probs

    def softmax_fused_gradient(self, y_true: Array, probs: FloatArray,
                               sample_weight: ArrayLike | None = None) -> FloatArray:
        """∂loss/∂logits = (y − t)/B (handout eq. 12), times the sample weights if given."""
        targets, probs, weights = self._prepare(y_true, probs, sample_weight)
        return _scale_rows(ops.softmax_cross_entropy_backward(probs, targets), weights)

    # -- the loss itself ----------------------------------------------------------------------------
    def __call__(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> float:
        if self.from_logits:
            return self.softmax_fused(y_true, y_pred, sample_weight)[0]
        targets, y_pred, weights = self._prepare(y_true, y_pred, sample_weight)
        q = y_pred / y_pred.sum(axis=1, keepdims=True)
        log_q = np.log(np.clip(q, EPSILON, 1 - EPSILON))
        if targets.ndim == 1:
            per_sample = -log_q[np.arange(len(targets)), targets]
        else:
            per_sample = -(targets * log_q).sum(axis=1)
        return _weighted_mean(per_sample, weights)

    def gradient(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> np.ndarray:
        if self.from_logits:
            _, probs = self.softmax_fused(y_true, y_pred)
            return self.softmax_fused_gradient(y_true, probs, sample_weight)
        targets, y_pred, weights = self._prepare(y_true, y_pred, sample_weight)
        B, K = y_pred.shape
        if targets.ndim == 1:
            targets = np.eye(K, dtype=y_pred.dtype)[targets]
        # ℓ = −Σ t log clip(q), q = y / S, S = Σ_k y_k:
        #   ∂ℓ/∂q = −t / q where ε ≤ q ≤ 1 − ε (else 0);  ∂ℓ/∂y_j = (∂ℓ/∂q_j − Σ_k ∂ℓ/∂q_k q_k) / S
        S = y_pred.sum(axis=1, keepdims=True)
        q = y_pred / S
        inside = (q >= EPSILON) & (q <= 1 - EPSILON)
        dq = np.where(inside, -targets / np.clip(q, EPSILON, 1 - EPSILON), 0)
        grad = (dq - (dq * q).sum(axis=1, keepdims=True)) / (S * max(B, 1))
        return _scale_rows(grad.astype(y_pred.dtype, copy=False), weights)


class CategoricalCrossentropy(_SoftmaxCrossentropy):
    """Cross-entropy of one-hot (or soft) targets (B, K); class indices (B,) are accepted too.

    E = −(1/B) Σ_b Σ_k t_bk log y_bk (handout eq. 8).  ``label_smoothing`` ls: t ← t·(1 − ls) + ls/K.
    """


class SparseCategoricalCrossentropy(_SoftmaxCrossentropy):
    """Cross-entropy of integer class labels (B,) or (B, 1); one-hot targets are accepted too.

    E = −(1/B) Σ_b log y_{b, t_b} (handout eq. 8 with one-hot t).
    """

    def __init__(self, from_logits: bool = False) -> None:
        super().__init__(from_logits=from_logits, label_smoothing=0.0)

    def get_config(self) -> Config:
        return {"from_logits": self.from_logits}


class _ElementwiseLoss(Loss):
    """A loss that is a mean over each sample's outputs: targets have y_pred's shape."""

    def _prepare(self, y_true: Array, y_pred: Array,
                 sample_weight: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        name = type(self).__name__
        y_pred = _as_pred(y_pred, name)
        targets = _match_targets(y_true, y_pred, name)
        return targets, y_pred, _as_weights(sample_weight, y_pred.shape[0], name)

    @staticmethod
    def _per_sample_mean(values: np.ndarray) -> np.ndarray:
        return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


class MeanSquaredError(_ElementwiseLoss):
    """E = (1/B) Σ_b mean_k (y_bk − t_bk)²; gradient 2(y − t)/(B·K) (K = outputs per sample, as Keras)."""

    def __call__(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> float:
        targets, y_pred, weights = self._prepare(y_true, y_pred, sample_weight)
        return _weighted_mean(self._per_sample_mean(np.square(y_pred - targets)), weights)

    def gradient(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> np.ndarray:
        targets, y_pred, weights = self._prepare(y_true, y_pred, sample_weight)
        grad = (2.0 / max(y_pred.size, 1)) * (y_pred - targets)
        return _scale_rows(grad.astype(y_pred.dtype, copy=False), weights)


class BinaryCrossentropy(_ElementwiseLoss):
    """E = (1/B) Σ_b mean_k −[t log y + (1 − t) log(1 − y)] for sigmoid outputs y (or logits z).

    From logits (stable for any z): max(z, 0) − z·t + log(1 + exp(−|z|)), gradient (σ(z) − t)/(B·K).
    From probabilities: y clipped to [ε, 1 − ε] (Keras), gradient (y − t)/(y(1 − y))/(B·K) inside the clip.
    ``label_smoothing`` ls: t ← t·(1 − ls) + ls/2 (Keras).
    """

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0) -> None:
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_fraction(label_smoothing, type(self).__name__, "label_smoothing")

    def get_config(self) -> Config:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def _prepare(self, y_true: Array, y_pred: Array,
                 sample_weight: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        targets, y_pred, weights = super()._prepare(y_true, y_pred, sample_weight)
        if self.label_smoothing:
            targets = targets * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return targets, y_pred, weights

    def __call__(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> float:
        t, y, weights = self._prepare(y_true, y_pred, sample_weight)
        if self.from_logits:
            elementwise = np.maximum(y, 0) - y * t + np.log1p(np.exp(-np.abs(y)))
        else:
            p = np.clip(y, EPSILON, 1 - EPSILON)
            elementwise = -(t * np.log(p) + (1 - t) * np.log1p(-p))
        return _weighted_mean(self._per_sample_mean(elementwise), weights)

    def gradient(self, y_true: Array, y_pred: Array, sample_weight: ArrayLike | None = None) -> np.ndarray:
        t, y, weights = self._prepare(y_true, y_pred, sample_weight)
        if self.from_logits:
            grad = ops.sigmoid_forward(y) - t
        else:
            p = np.clip(y, EPSILON, 1 - EPSILON)
            grad = np.where((y >= EPSILON) & (y <= 1 - EPSILON), (p - t) / (p * (1 - p)), 0)
        grad = grad / max(y.size, 1)
        return _scale_rows(grad.astype(y.dtype, copy=False), weights)


# ---------------------------------------------------------------------------------------------------
# Lookup and serialization
# ---------------------------------------------------------------------------------------------------

_NAMES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
}
_REGISTRY = Registry("loss", "losses", Loss, _NAMES)


def serialize(loss: Loss) -> dict:
    """``{"class_name": ..., "config": {...}}`` of a loss."""
    return _REGISTRY.serialize(loss)


def deserialize(config: dict) -> Loss:
    """The loss that :func:`serialize` described (the inverse of :func:`serialize`)."""
    return _REGISTRY.deserialize(config)


def get(identifier: Any) -> Loss:
    """A loss from a name ("categorical_crossentropy", "mse", ...), a class name, an instance or a config.

    Any object with a ``gradient(y_true, y_pred)`` method is accepted as is; a plain function is not,
    since training needs the gradient.
    """
    return _REGISTRY.get(
        identifier,
        accepts=lambda obj: callable(obj) and callable(getattr(obj, "gradient", None)),
        hint="a le4nn.losses.Loss, or an object with __call__ and gradient(y_true, y_pred)",
    )
