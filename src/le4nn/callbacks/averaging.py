"""Averages of the weights over training: :class:`WeightAverage` (an exponential moving average, EMA, or
stochastic weight averaging, SWA), swapped into the model when training ends."""

from __future__ import annotations

import math

import numpy as np

from le4nn._numbers import is_integer, is_real
from le4nn._typing import Logs
from le4nn.callbacks.core import Callback


class WeightAverage(Callback):
    """Keep an average of every weight of the model (the BatchNorm moving statistics included) while it
    trains, and put it into the model at the end of training (``swap_on_end``).

    - ``mode="ema"``: after every training batch, a ← d·a + (1 − d)·w (Polyak averaging with an
      exponential window of about 1/(1 − d) steps).  With ``warmup`` (default) the decay of the t-th
      update (t = 0, 1, ...) is min(d, (1 + t)/(10 + t)), as TensorFlow's ``ExponentialMovingAverage``
      with ``num_updates``, so the first steps do not drag the random initial weights along.
    - ``mode="swa"``: after every epoch from ``start_epoch`` on, the running mean a ← a + (w − a)/(k + 1)
      of the k + 1 end-of-epoch weights seen so far (Izmailov et al. 2018, without the separate cyclic
      schedule).  The BatchNorm moving statistics are averaged too instead of being recomputed with a
      pass over the data, as Keras's ``SwapEMAWeights`` does; PyTorch's ``swa_utils.update_bn``
      recomputes them.

    ``start_epoch`` (0-based) is the first epoch whose weights enter the average (EMA: the average
    starts from the weights at the beginning of that epoch).  :meth:`swap` exchanges the model's weights
    and the average in place (the arrays stay the same objects, so the optimizer keeps its state);
    calling it twice restores the trained weights bit for bit.  An interrupted run (Ctrl-C) keeps the
    trained weights.  The average lives only in the callback: a checkpoint written during
    training holds the trained weights, and resuming starts a new average.
    """

    mode: str
    decay: float
    start_epoch: int
    warmup: bool
    swap_on_end: bool
    updates: int
    _epoch: int

    def __init__(self, mode: str = "ema", decay: float = 0.999, start_epoch: int = 0, warmup: bool = True,
                 swap_on_end: bool = True) -> None:
        super().__init__()
        if mode not in ("ema", "swa"):
            raise ValueError(f"WeightAverage: mode must be 'ema' or 'swa', got {mode!r}")
        if (not is_real(decay) or not math.isfinite(decay)
                or not 0 <= float(decay) < 1):
            raise ValueError(f"WeightAverage: decay must be a number in [0, 1), got {decay!r}")
        if not is_integer(start_epoch) or int(start_epoch) < 0:
            raise ValueError(f"WeightAverage: start_epoch must be an integer >= 0, got {start_epoch!r}")
        self.mode, self.decay, self.start_epoch = mode, float(decay), int(start_epoch)
        self.warmup, self.swap_on_end = bool(warmup), bool(swap_on_end)
        self.average: list[np.ndarray] | None = None
        self.updates = 0
        self._epoch = 0

    def _arrays(self) -> list[np.ndarray]:
        return [w for layer in self.model.layers for w in layer.weights]

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.average, self.updates = None, 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch
        if self.mode == "ema" and epoch >= self.start_epoch and self.average is None:
            self.average = [w.copy() for w in self._arrays()]

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.mode != "ema" or self.average is None:
            return
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates)) if self.warmup else self.decay
        for a, w in zip(self.average, self._arrays(), strict=True):
            a += (1 - decay) * (w - a)
        self.updates += 1

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.mode != "swa" or epoch < self.start_epoch:
            return
        if self.average is None:
            self.average = [w.copy() for w in self._arrays()]
        else:
            for a, w in zip(self.average, self._arrays(), strict=True):
                a += (w - a) / (self.updates + 1)
        self.updates += 1

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.swap_on_end and self.average is not None and self.updates and not (logs or {}).get("interrupted"):
            self.swap()

    def swap(self) -> None:
        """Exchange the model's weights and the average (in place); RuntimeError before any average."""
        if self.average is None:
            raise RuntimeError("WeightAverage.swap: no average yet (train with this callback first)")
        for a, w in zip(self.average, self._arrays(), strict=True):
            held = w.copy()
            w[...] = a
            a[...] = held
