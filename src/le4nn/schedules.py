"""Learning-rate schedules and the callback that applies them during ``fit``.

A schedule is a function of the training time ``t`` → learning rate.  ``t`` counts epochs or
optimizer steps, as the callback says (:class:`ScheduleCallback`'s ``unit``); with ``unit="epoch"``
and ``per_batch=True`` it is a fractional epoch (epoch + batch / steps per epoch), so a schedule
written in epochs still changes smoothly within each epoch (what a warm-up needs).

>>> from le4nn import schedules
>>> lr = schedules.Warmup(schedules.CosineDecay(1e-3, decay_steps=20, alpha=0.01), warmup_steps=1)
>>> model.fit(x, y, epochs=20, callbacks=[schedules.ScheduleCallback(lr, per_batch=True)])

Schedules (all callables ``schedule(t)``; they also accept Keras's ``LearningRateScheduler`` signature
``schedule(epoch, lr)`` and ignore ``lr``, so they plug into :class:`le4nn.callbacks.LearningRateScheduler`
too):

- :class:`Constant` — lr;
- :class:`StepDecay` — lr · factor^floor(t / step_size) (e.g. halve every 5 epochs);
- :class:`PiecewiseConstant` — given boundaries and values (Keras's ``PiecewiseConstantDecay``);
- :class:`ExponentialDecay` — lr · rate^(t / decay_steps), or ^floor(·) with ``staircase`` (Keras's);
- :class:`CosineDecay` — lr · ((1 − alpha) · ½(1 + cos(π·min(t, T)/T)) + alpha) (Keras's, SGDR
  without restarts), with Keras's optional linear warm-up (``warmup_steps``, ``warmup_target``);
- :class:`Warmup` — a linear ramp from ``start`` to the wrapped schedule's initial value over
  ``warmup_steps``, then the wrapped schedule shifted by ``warmup_steps`` (compose warm-up with
  anything: ``Warmup(CosineDecay(...), 1)``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from le4nn._numbers import is_real
from le4nn._typing import Logs
from le4nn.callbacks import Callback

__all__ = [
    "Schedule", "Constant", "StepDecay", "PiecewiseConstant", "ExponentialDecay", "CosineDecay", "Warmup",
    "ScheduleCallback", "get",
]


def _positive(value: Any, owner: str, name: str, *, allow_zero: bool = False) -> float:
    ok = is_real(value) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{owner}: {name} must be a {'non-negative' if allow_zero else 'positive'} number, "
                         f"got {value!r}")
    return float(value)


class Schedule:
    """Base class: ``schedule(t) -> learning rate`` for t >= 0 (epochs or steps)."""

    def __call__(self, t: float, lr: float | None = None) -> float:
        t = float(t)
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"{type(self).__name__}: time must be >= 0, got {t!r}")
        return float(self.value(t))

    def value(self, t: float) -> float:
        raise NotImplementedError

    @property
    def initial(self) -> float:
        """The learning rate at t = 0."""
        return self(0)

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """The same learning rate throughout."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = _positive(learning_rate, "Constant", "learning_rate", allow_zero=True)

    def value(self, t: float) -> float:
        return self.learning_rate


class StepDecay(Schedule):
    """lr · factor^floor(t / step_size): multiply by ``factor`` every ``step_size`` epochs (or steps)."""

    def __init__(self, initial_learning_rate: float, step_size: float, factor: float = 0.1) -> None:
        self.initial_learning_rate = _positive(initial_learning_rate, "StepDecay", "initial_learning_rate",
                                               allow_zero=True)
        self.step_size = _positive(step_size, "StepDecay", "step_size")
        self.factor = _positive(factor, "StepDecay", "factor", allow_zero=True)

    def value(self, t: float) -> float:
        return self.initial_learning_rate * self.factor ** math.floor(t / self.step_size + 1e-9)


class PiecewiseConstant(Schedule):
    """``values[i]`` while ``boundaries[i-1] <= t < boundaries[i]`` (len(values) = len(boundaries) + 1).

    Keras's ``PiecewiseConstantDecay`` switches *after* a boundary (t > b); here t = b already takes the
    next value, so that "boundaries=[10]" means "from epoch 10 on" with epoch-wise schedules."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        self.boundaries = [float(b) for b in boundaries]
        self.values = [_positive(v, "PiecewiseConstant", "values", allow_zero=True) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"PiecewiseConstant: needs one more value than boundaries, got {len(self.values)} "
                             f"values and {len(self.boundaries)} boundaries")
        if any(b1 <= b0 for b0, b1 in zip(self.boundaries, self.boundaries[1:], strict=False)):
            raise ValueError(f"PiecewiseConstant: boundaries must increase, got {self.boundaries}")

    def value(self, t: float) -> float:
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if t < boundary:
                return value
        return self.values[-1]


class ExponentialDecay(Schedule):
    """lr · decay_rate^(t / decay_steps) (Keras's); with ``staircase`` the exponent is floored."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool = False) -> None:
        self.initial_learning_rate = _positive(initial_learning_rate, "ExponentialDecay", "initial_learning_rate",
                                               allow_zero=True)
        self.decay_steps = _positive(decay_steps, "ExponentialDecay", "decay_steps")
        self.decay_rate = _positive(decay_rate, "ExponentialDecay", "decay_rate", allow_zero=True)
        self.staircase = bool(staircase)

    def value(self, t: float) -> float:
        exponent = t / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent + 1e-9)
        return self.initial_learning_rate * self.decay_rate ** exponent


class CosineDecay(Schedule):
    """Keras's ``CosineDecay``: after an optional linear warm-up from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, the rate follows half a cosine from its peak down to
    ``alpha`` × peak over ``decay_steps`` and stays there:
    lr(t) = peak · ((1 − alpha) · ½ (1 + cos(π · min(t', T) / T)) + alpha), t' = t − warmup_steps."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, alpha: float = 0.0,
                 warmup_target: float | None = None, warmup_steps: float = 0.0) -> None:
        self.initial_learning_rate = _positive(initial_learning_rate, "CosineDecay", "initial_learning_rate",
                                               allow_zero=True)
        self.decay_steps = _positive(decay_steps, "CosineDecay", "decay_steps")
        self.alpha = _positive(alpha, "CosineDecay", "alpha", allow_zero=True)
        if self.alpha > 1:
            raise ValueError(f"CosineDecay: alpha must be in [0, 1], got {alpha!r}")
        self.warmup_target = None if warmup_target is None else _positive(
            warmup_target, "CosineDecay", "warmup_target", allow_zero=True)
        self.warmup_steps = _positive(warmup_steps, "CosineDecay", "warmup_steps", allow_zero=True)

    def value(self, t: float) -> float:
        peak = self.initial_learning_rate
        if self.warmup_target is not None:
            if t < self.warmup_steps:
                return peak + (self.warmup_target - peak) * t / self.warmup_steps
            peak = self.warmup_target
        t = min(max(t - self.warmup_steps, 0.0), self.decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * t / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)


class Warmup(Schedule):
    """A linear warm-up from ``start`` (default 0) up to ``schedule(0)`` over ``warmup_steps``, then
    ``schedule(t − warmup_steps)``: any schedule with a warm-up in front."""

    def __init__(self, schedule: Schedule | Callable[[float], float], warmup_steps: float, start: float = 0.0) -> None:
        if not callable(schedule):
            raise TypeError(f"Warmup: schedule must be a schedule or a function of t, got {schedule!r}")
        self.schedule = schedule
        self.warmup_steps = _positive(warmup_steps, "Warmup", "warmup_steps", allow_zero=True)
        self.start = _positive(start, "Warmup", "start", allow_zero=True)

    def value(self, t: float) -> float:
        if t < self.warmup_steps:
            target = float(self.schedule(0))
            return self.start + (target - self.start) * t / self.warmup_steps
        return float(self.schedule(t - self.warmup_steps))


def get(identifier: Any) -> Schedule | None:
    """A schedule from a Schedule, a number (constant), a function ``f(t)`` or None."""
    if identifier is None or isinstance(identifier, Schedule):
        return identifier
    if is_real(identifier):
        return Constant(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"expected a learning-rate schedule, a number or a function, got {identifier!r}")


class ScheduleCallback(Callback):
    """Set the optimizer's learning rate from ``schedule`` during ``fit``.

    - ``unit="epoch"`` (default): ``schedule(epoch)`` at the start of every epoch (epochs count from 0);
      with ``per_batch=True``, ``schedule(epoch + batch / steps_per_epoch)`` before every batch.
    - ``unit="step"``: ``schedule(step)`` before every batch, where step counts the mini-batches since
      the start of training (``epoch · steps_per_epoch + batch``, so resumed runs continue the schedule),
      like Keras's optimizer-level schedules.

    The learning rate in effect at the end of each epoch is in the logs as ``lr`` (what fit records).
    """

    def __init__(self, schedule: Schedule | Callable[[float], float], unit: str = "epoch", per_batch: bool = False,
                 verbose: int = 0) -> None:
        super().__init__()
        if unit not in ("epoch", "step"):
            raise ValueError(f"ScheduleCallback: unit must be 'epoch' or 'step', got {unit!r}")
        resolved = get(schedule)
        if resolved is None:
            raise ValueError("ScheduleCallback: schedule is None")
        self.schedule: Schedule = resolved
        self.unit = unit
        self.per_batch = per_batch or unit == "step"
        self.verbose = verbose
        self._epoch = 0

    def _set(self, t: float) -> float:
        lr = float(self.schedule(t))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"ScheduleCallback: the schedule gave an invalid learning rate {lr} at t={t}")
        self.model.optimizer.learning_rate = lr
        return lr

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch
        if not self.per_batch:
            lr = self._set(epoch)
            if self.verbose:
                print(f"Epoch {epoch + 1}: learning rate {lr:.6g}", file=sys.stderr)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if not self.per_batch:
            return
        steps = self.params.get("steps") or 1
        if self.unit == "step":
            self._set(self._epoch * steps + batch)
        else:
            self._set(self._epoch + batch / steps)
