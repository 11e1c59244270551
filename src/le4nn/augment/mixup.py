"""Label mixing: :class:`MixUp`, the one transform that changes the labels."""

from __future__ import annotations

import numpy as np

from le4nn._typing import ArrayLike, DTypeLike
from le4nn.augment._params import nonnegative
from le4nn.augment.base import Transform


class MixUp(Transform):
    """mixup (Zhang et al., 2018): x' = λ·x + (1 − λ)·x[π], y' = λ·y + (1 − λ)·y[π] with π a random
    permutation of the batch and λ ~ Beta(alpha, alpha) per image (images not selected by ``p`` keep
    λ = 1).  Labels may be one-hot/soft (N, K) or integer classes, which need ``num_classes``; the
    result is soft targets (N, K) in the images' dtype, which the cross-entropy losses accept.

    It changes the labels, so call it as ``x, y = mixup(x, y)``; ``Model.fit(augment=...)`` does so
    for any pipeline containing it.  The training accuracy that fit reports is then measured against
    the mixed targets' arg-max."""

    changes_labels = True

    def __init__(self, alpha: float = 0.2, num_classes: int | None = None, p: float = 1.0) -> None:
        super().__init__(p)
        self.alpha = nonnegative(alpha, "MixUp", "alpha")
        self.num_classes = num_classes

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise ValueError("MixUp changes the labels: call it as t(x, y)")

    def _one_hot(self, y: ArrayLike, n: int, dtype: DTypeLike) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            return y.astype(dtype)
        labels = y.reshape(n)
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise ValueError("MixUp: labels must be class indices or one-hot (N, K)")
        if self.num_classes is None:
            raise ValueError("MixUp: integer labels need num_classes=K to become soft one-hot targets")
        return np.eye(self.num_classes, dtype=dtype)[labels.astype(np.intp)]

    def apply_with_labels(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                          selected: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        n = len(x)
        targets = self._one_hot(y, n, x.dtype)
        if len(targets) != n:
            raise ValueError(f"MixUp: {n} images but {len(targets)} labels")
        if self.alpha == 0:
            return x.copy(), targets
        lam = rng.beta(self.alpha, self.alpha, n)
        if selected is not None:
            keep = np.ones(n, dtype=bool)
            keep[selected] = False
            lam[keep] = 1.0
        order = rng.permutation(n)
        lam_x = lam.astype(x.dtype).reshape(n, 1, 1, 1)
        lam_y = lam.astype(x.dtype).reshape(n, 1)
        return lam_x * x + (1 - lam_x) * x[order], lam_y * targets + (1 - lam_y) * targets[order]
