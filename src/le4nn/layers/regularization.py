"""Dropout, in the handout's form (default) and in Keras/PyTorch's inverted form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from le4nn import utils
from le4nn._numbers import is_integer, is_real
from le4nn._typing import ArrayLike, FloatArray
from le4nn.layers.base import Layer

MODES = ("handout", "inverted")


class Dropout(Layer):
    """Dropout with rate ρ = ``rate`` (0 <= ρ < 1).

    ``mode="handout"`` (default; handout eq. 26–27): while training, in each sample exactly
    round(ρ·M) of its M values (M = all non-batch entries; halves round up), chosen at random, are set
    to 0 and the others pass unchanged (eq. 26); at test time every value is multiplied by (1 − ρ)
    (eq. 27), so that its expectation matches training.

    ``mode="inverted"`` (Keras/PyTorch): while training each value is dropped independently with
    probability ρ and the survivors are scaled by 1/(1 − ρ); at test time the layer is the identity.

    Backward multiplies the gradient by the same mask (or factor) as the forward pass.

    Randomness: ``seed`` gives the layer its own generator (a reproducible sequence of masks);
    otherwise masks come from :func:`le4nn.utils.get_rng` (see ``set_random_seed``).  Setting
    ``fixed_mask = True`` reuses the last training mask as long as the input shape stays the same —
    what a gradient check needs (``le4nn.gradcheck`` sets it during a check).
    """

    def __init__(self, rate: float, mode: str = "handout", seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_real(rate) or not 0 <= float(rate) < 1:
            raise ValueError(f"{self.describe()}: rate must be a number with 0 <= rate < 1, got {rate!r}")
        if mode not in MODES:
            raise ValueError(
                f"{self.describe()}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}"
            )
        if seed is not None and (not is_integer(seed)):
            raise ValueError(f"{self.describe()}: seed must be an int or None, got {seed!r}")
        self.rate = float(rate)
        self.mode = mode
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(self.seed)
        self.fixed_mask = False
        #: The last training mask (1 = kept, scaled in inverted mode), shape of the input.
        self.mask: np.ndarray | None = None
        self._scale: Any = None  # what backward multiplies by: the mask, a scalar, or None (identity)
        self._out_shape: Any = None

    def _draw_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        rng = self._rng if self._rng is not None else utils.get_rng()
        if self.mode == "inverted":
            keep = rng.random(shape) >= self.rate
            return keep.astype(self.dtype) * self.dtype.type(1 / (1 - self.rate))
        batch, size = shape[0], math.prod(shape[1:])
        n_drop = math.floor(self.rate * size + 0.5)
        mask = np.ones((batch, size), dtype=self.dtype)
        if n_drop:
            dropped = np.argpartition(rng.random((batch, size)), n_drop - 1, axis=1)[:, :n_drop]
            np.put_along_axis(mask, dropped, 0, axis=1)
        return mask.reshape(shape)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        self._out_shape = x.shape
        if training and self.rate > 0:
            if not (self.fixed_mask and self.mask is not None and self.mask.shape == x.shape):
                self.mask = self._draw_mask(x.shape)
            self._scale = self.mask  # eq. 26 (or the inverted mask)
        elif not training and self.mode == "handout":
            self._scale = self.dtype.type(1 - self.rate)  # eq. 27
        else:
            self._scale = None
        return x if self._scale is None else x * self._scale

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, self._out_shape)
        return grad if self._scale is None else grad * self._scale

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "mode": self.mode, "seed": self.seed}
