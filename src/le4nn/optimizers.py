"""Optimizers with the course handout's update rules and defaults (handout eq. 40–55, docs/design.md §3).

Interface (docs/architecture.md): ``optimizer.apply(params, grads)`` updates the arrays of ``params`` in
place, where both are dicts keyed by stable strings such as ``"dense_1/kernel"``; per-key state (momentum,
accumulators) is created lazily in the parameter's dtype, so float32 parameters stay float32.
``learning_rate`` is a plain float that schedulers may change, ``iterations`` counts ``apply`` calls,
``get_state()``/``set_state()`` save and restore everything (a flat, npz-saveable dict of arrays) so that
training continues bitwise identically, and ``get_config()``/``from_config()`` round-trip the
hyper-parameters.

Every optimizer also takes Keras's gradient clipping and decoupled weight decay:

- ``clipnorm``: each gradient g is rescaled to norm ≤ clipnorm (g·clipnorm / max(‖g‖, clipnorm)),
  ``global_clipnorm``: all gradients of one ``apply`` together, ``clipvalue``: clip(g, −v, v);
  at most one of the three (as Keras 3).  The caller's gradient arrays are never modified.
- ``weight_decay`` λ: before the update, w ← w·(1 − η·λ) (decoupled weight decay, applied like
  ``torch.optim.AdamW`` and Keras 3's optimizers; it does not go through the gradient, unlike an L2
  regularizer or torch's SGD(weight_decay=...)).

Where the handout, PyTorch and Keras differ, le4nn follows the handout; see each class.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from le4nn import ops
from le4nn._numbers import is_real
from le4nn._registry import Configurable, Registry
from le4nn._typing import Config

# ---------------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------------


def _number(value: Any, owner: str, name: str, *, low: float = 0.0, high: float = math.inf, low_open: bool = False,
            high_open: bool = False) -> float:
    """A real number in [low, high] (bounds optionally open), or a ValueError naming the argument."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if math.isnan(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{owner}: {name} must be in {interval}, got {value}")
    return value


def _optional(value: Any, owner: str, name: str) -> float | None:
    return None if value is None else _number(value, owner, name, low_open=True)


# ---------------------------------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------------------------------


class Optimizer(Configurable):
    """Base class.  Subclasses list their per-parameter state in ``SLOTS`` and implement ``_update``."""

    SLOTS: tuple[str, ...] = ()

    def __init__(self, learning_rate: float, *, clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None,
                 weight_decay: float | None = None) -> None:  # fmt: skip
        name = type(self).__name__
        self.learning_rate = learning_rate
        self.clipnorm = _optional(clipnorm, name, "clipnorm")
        self.clipvalue = _optional(clipvalue, name, "clipvalue")
        self.global_clipnorm = _optional(global_clipnorm, name, "global_clipnorm")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{name}: only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.weight_decay = None if weight_decay is None else _number(weight_decay, name, "weight_decay")
        self.iterations = 0
        self._slots: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.SLOTS}

    # -- learning rate: a plain float that schedulers may change -------------------------------------
    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self._learning_rate = _number(value, type(self).__name__, "learning_rate")

    # -- the update --------------------------------------------------------------------------------
    def apply(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """One step: update every ``params[key]`` that has a gradient ``grads[key]``, in place."""
        name = type(self).__name__
        as_given = True  # every gradient an ndarray of its parameter's dtype (a model's step): no copies
        for key, g in grads.items():
            p = params.get(key)
            if type(p) is np.ndarray and type(g) is np.ndarray and g.dtype is p.dtype and g.shape == p.shape:
                if p.dtype.kind == "f":
                    continue  # the common case, checked in full
            if key not in params:
                raise KeyError(f"{name}: gradient {key!r} has no parameter of that name")
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {key!r} must be a float ndarray, got {type(p).__name__}")
            if np.shape(g) != p.shape:
                raise ValueError(f"{name}: gradient {key!r} has shape {np.shape(g)}, parameter {p.shape}")
            as_given = False
        if not as_given:
            grads = {key: np.asarray(g, dtype=params[key].dtype) for key, g in grads.items()}
        grads = self._clip(grads)
        lr = self.learning_rate
        for key, g in grads.items():
            p = params[key]
            if self.weight_decay:
                p *= 1 - lr * self.weight_decay  # decoupled weight decay, before the step (torch AdamW)
            self._update(key, p, g, lr)
        self.iterations += 1

    def _clip(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Keras's clipnorm / global_clipnorm / clipvalue, on copies."""
        if self.clipvalue is not None:
            return {key: np.clip(g, -self.clipvalue, self.clipvalue) for key, g in grads.items()}
        if self.clipnorm is not None:
            return {key: g * (self.clipnorm / max(_norm(g), self.clipnorm)) for key, g in grads.items()}
        if self.global_clipnorm is not None:
            total = math.sqrt(sum(_norm(g) ** 2 for g in grads.values()))
            scale = self.global_clipnorm / max(total, self.global_clipnorm)
            return {key: g * scale for key, g in grads.items()}
        return grads

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def _slot(self, slot: str, key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The state array ``slot`` of parameter ``key``, created (filled with ``fill``) on first use."""
        table = self._slots[slot]
        state = table.get(key)
        if state is None:
            state = table[key] = np.full(like.shape, fill, dtype=like.dtype)
        elif state.shape != like.shape:
            raise ValueError(
                f"{type(self).__name__}: state {slot!r} of {key!r} has shape {state.shape}, "
                f"but the parameter has shape {like.shape}"
            )
        return state

    # -- state -------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """A flat dict of arrays: ``"iterations"``, ``"learning_rate"`` and ``"<slot>/<param key>"``."""
        state = {
            "iterations": np.array(self.iterations, dtype=np.int64),
            "learning_rate": np.array(self.learning_rate, dtype=np.float64),
        }
        for slot, table in self._slots.items():
            for key, value in table.items():
                state[f"{slot}/{key}"] = value.copy()
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` returned (copies the arrays)."""
        name = type(self).__name__
        slots: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.SLOTS}
        for entry, value in state.items():
            if entry in ("iterations", "learning_rate"):
                continue
            slot, _, key = entry.partition("/")
            if slot not in slots or not key:
                raise ValueError(f"{name}: unknown state entry {entry!r} (slots: {', '.join(self.SLOTS)})")
            slots[slot][key] = np.array(value, copy=True)
        self.iterations = int(state.get("iterations", 0))
        if "learning_rate" in state:
            self.learning_rate = float(state["learning_rate"])
        self._slots = slots

    # -- config ------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "weight_decay": self.weight_decay,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


def _norm(g: np.ndarray) -> float:
    return float(np.sqrt(np.square(g, dtype=np.float64).sum()))


# ---------------------------------------------------------------------------------------------------
# The optimizers
# ---------------------------------------------------------------------------------------------------


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and Nesterov momentum.

    - momentum = 0: w ← w − η ∂E/∂w.
    - momentum α > 0 (handout eq. 40–41): Δw ← αΔw − η ∂E/∂w;  w ← w + Δw.
    - nesterov: Δw ← αΔw − η ∂E/∂w;  w ← w + αΔw − η ∂E/∂w (Keras's form: the momentum step is taken
      from the look-ahead point).

    Keras uses the same formulas.  torch.optim.SGD keeps b = Δw/(−η) instead (b ← αb + g, w ← w − ηb;
    Nesterov: w ← w − η(g + αb)), which is the same sequence of weights while η is constant and differs
    after a learning-rate change (torch's velocity is rescaled by the new η, ours keeps the old steps).
    """

    SLOTS = ("velocity",)

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, type(self).__name__, "momentum", high=1.0)
        self.nesterov = bool(nesterov)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        # ops.sgd_update: eq. (40) Δw ← αΔw − η ∂E/∂w, eq. (41) w ← w + Δw, in one pass (native)
        velocity = self._slot("velocity", key, p) if self.momentum or self.nesterov else None  # Δw
        ops.sgd_update(p, g, lr, self.momentum, velocity, self.nesterov)

    def get_config(self) -> Config:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class MomentumSGD(SGD):
    """The handout's momentum SGD (eq. 40–41) with its defaults η = 0.01, α = 0.9: Δw ← αΔw − η ∂E/∂w;
    w ← w + Δw.  The same as ``SGD(momentum=0.9)``."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9, nesterov: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)


class Nesterov(SGD):
    """Nesterov's accelerated gradient, ``SGD(momentum=0.9, nesterov=True)``: Δw ← αΔw − η ∂E/∂w;
    w ← w + αΔw − η ∂E/∂w (see :class:`SGD`)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9, **kwargs: Any) -> None:
        kwargs.pop("nesterov", None)
        super().__init__(learning_rate, momentum=momentum, nesterov=True, **kwargs)

    def get_config(self) -> Config:
        config = super().get_config()
        del config["nesterov"]
        return config


class AdaGrad(Optimizer):
    """AdaGrad (handout eq. 42–43): h ← h + (∂E/∂w)²;  w ← w − η ∂E/∂w / √h, with h starting at
    h0 = ``initial_accumulator_value`` = 1e-8 and η = 0.001 (the handout's defaults).

    ``epsilon`` (default 0, the handout's formula) adds ε to the denominator, √h + ε, as torch.optim.Adagrad
    and Keras do.  Keras's defaults differ (h0 = 0.1, ε = 1e-7), as do torch's (h0 = 0, ε = 1e-10);
    with the same h0 and ε all three compute the same thing.
    """

    SLOTS = ("accumulator",)

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 1e-8, epsilon: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        name = type(self).__name__
        self.initial_accumulator_value = _number(initial_accumulator_value, name, "initial_accumulator_value")
        self.epsilon = _number(epsilon, name, "epsilon")
        if self.initial_accumulator_value == 0 and self.epsilon == 0:
            raise ValueError(
                f"{name}: initial_accumulator_value and epsilon cannot both be 0 (division by 0)"
            )

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        h = self._slot("accumulator", key, p, fill=self.initial_accumulator_value)
        h += g * g  # eq. (42)
        denominator = np.sqrt(h)
        if self.epsilon:
            denominator += self.epsilon
        p -= lr * g / denominator  # eq. (43)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class RMSProp(Optimizer):
    """RMSProp (handout eq. 44–45): h ← ρh + (1 − ρ)(∂E/∂w)²;  w ← w − η ∂E/∂w / (√h + ε),
    defaults η = 0.01, ρ = 0.99, ε = 1e-8, h starting at 0.

    The same as torch.optim.RMSprop(alpha=ρ) (ε outside the square root).  Keras puts ε inside,
    √(h + ε), and its defaults are η = 0.001, ρ = 0.9, ε = 1e-7.
    """

    SLOTS = ("h",)

    def __init__(self, learning_rate: float = 0.01, rho: float = 0.99, epsilon: float = 1e-8, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        name = type(self).__name__
        self.rho = _number(rho, name, "rho", high=1.0)
        self.epsilon = _number(epsilon, name, "epsilon", low_open=True)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        h = self._slot("h", key, p)
        h *= self.rho
        h += (1 - self.rho) * (g * g)  # eq. (44)
        p -= lr * g / (np.sqrt(h) + self.epsilon)  # eq. (45)

    def get_config(self) -> Config:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


ADADELTA_FORMS = ("handout", "zeiler")


class AdaDelta(Optimizer):
    """AdaDelta (handout eq. 46–49), defaults ρ = 0.95, ε = 1e-6, h = s = 0 at the start.

    ``form="handout"`` (default, as everywhere the handout and Keras/PyTorch differ): ε outside both
    square roots, as the handout's eq. 47 writes it::

        h ← ρh + (1 − ρ)(∂E/∂w)²                  (46)
        Δw = −((√s + ε) / (√h + ε)) ∂E/∂w          (47)
        s ← ρs + (1 − ρ)Δw²                        (48)
        w ← w + η·Δw                               (49)

    ``form="zeiler"``: Zeiler's paper (Algorithm 1), torch.optim.Adadelta and Keras, ε inside both
    roots: Δw = −(√(s + ε) / √(h + ε)) ∂E/∂w.  The two differ most at the start (s = 0): the first
    steps are ε/(√h + ε) times the gradient in the handout's form and √ε/√(h + ε) in Zeiler's.

    The handout has no learning rate (η = ``learning_rate`` = 1.0 by default is that form); η scales the
    step but not the Δw that s accumulates, as torch.optim.Adadelta and Keras do.  Keras's defaults
    are η = 0.001, ε = 1e-7 with the Zeiler form.  ``form`` is part of ``get_config``, so a saved
    model resumes with the same rule.
    """

    SLOTS = ("h", "s")

    def __init__(self, learning_rate: float = 1.0, rho: float = 0.95, epsilon: float = 1e-6, form: str = "handout",
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        name = type(self).__name__
        self.rho = _number(rho, name, "rho", high=1.0)
        self.epsilon = _number(epsilon, name, "epsilon", low_open=True)
        if not isinstance(form, str) or form not in ADADELTA_FORMS:
            raise ValueError(f"{name}: form must be one of {', '.join(map(repr, ADADELTA_FORMS))}, got {form!r}")
        self.form = form

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        h, s = self._slot("h", key, p), self._slot("s", key, p)
        h *= self.rho
        h += (1 - self.rho) * (g * g)  # eq. (46)
        if self.form == "handout":
            delta = -(np.sqrt(s) + self.epsilon) / (np.sqrt(h) + self.epsilon) * g  # eq. (47)
        else:
            delta = -np.sqrt(s + self.epsilon) / np.sqrt(h + self.epsilon) * g  # Zeiler's eq. (47)
        s *= self.rho
        s += (1 - self.rho) * (delta * delta)  # eq. (48)
        p += lr * delta  # eq. (49)

    def get_config(self) -> Config:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon, "form": self.form}


class Adam(Optimizer):
    """Adam (handout eq. 50–55), defaults η = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8:

        t ← t + 1;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
        m̂ = m / (1 − β1ᵗ);  v̂ = v / (1 − β2ᵗ);  w ← w − η m̂ / (√v̂ + ε)

    t counts the updates of each parameter (as torch; the same as ``iterations`` unless parameters are
    added later).  torch.optim.Adam computes the same formula.  Keras folds the bias corrections into η
    (ε is then added to √v instead of √v̂, the paper's "ε-hat" form) and defaults to ε = 1e-7.
    """

    SLOTS = ("m", "v", "t")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        name = type(self).__name__
        self.beta_1 = _number(beta_1, name, "beta_1", high=1.0, high_open=True)
        self.beta_2 = _number(beta_2, name, "beta_2", high=1.0, high_open=True)
        self.epsilon = _number(epsilon, name, "epsilon", low_open=True)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        m, v = self._slot("m", key, p), self._slot("v", key, p)
        t_slot = self._slots["t"].setdefault(key, np.zeros((), dtype=np.int64))
        t_slot += 1  # eq. (50)
        t = int(t_slot)
        m *= self.beta_1
        m += (1 - self.beta_1) * g  # eq. (51)
        v *= self.beta_2
        v += (1 - self.beta_2) * (g * g)  # eq. (52)
        m_hat = m / (1 - self.beta_1**t)  # eq. (53)
        v_hat = v / (1 - self.beta_2**t)  # eq. (54)
        p -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)  # eq. (55)

    def get_config(self) -> Config:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): w ← w·(1 − η·λ), then the Adam step of
    eq. 50–55 with the gradient of the undecayed loss.  This is torch.optim.AdamW's order; the default
    λ = ``weight_decay`` = 0.004 is Keras's (torch's is 0.01)."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay=weight_decay, **kwargs)


# Keras spellings
Adagrad = AdaGrad
RMSprop = RMSProp
Adadelta = AdaDelta

# ---------------------------------------------------------------------------------------------------
# Lookup and serialization
# ---------------------------------------------------------------------------------------------------

_NAMES: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": MomentumSGD,
    "momentum_sgd": MomentumSGD,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adadelta": AdaDelta,
    "adam": Adam,
    "adamw": AdamW,
}
_REGISTRY = Registry("optimizer", "optimizers", Optimizer, _NAMES)


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": {...}}`` of an optimizer (its hyper-parameters, not its state)."""
    return _REGISTRY.serialize(optimizer)


def deserialize(config: dict) -> Optimizer:
    """The optimizer that :func:`serialize` described (the inverse of :func:`serialize`)."""
    return _REGISTRY.deserialize(config)


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
    "adamw"), a class name, an instance or a config dict; names give the handout's defaults."""
    return _REGISTRY.get(identifier, hint="a le4nn.optimizers.Optimizer or a config dict")
