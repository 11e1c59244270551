"""Callbacks that watch a logged value (``monitor``): EarlyStopping, ModelCheckpoint, ReduceLROnPlateau;
and LearningRateScheduler."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from le4nn._files import make_parent_folder
from le4nn._typing import Logs, PathLike
from le4nn.callbacks.core import Callback


def _non_negative_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}")
    return int(value)


class _Monitor:
    """Whether a monitored value improved, with Keras's ``mode`` rule ("auto": max for accuracies)."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def value(self, logs: Logs | None, owner: str) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = ", ".join(sorted(logs or {})) or "none"
            print(f"{owner}: metric {self.monitor!r} is not in the logs ({available})", file=sys.stderr)
        return value

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; optionally
    restore the weights of the best epoch."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto",
                 baseline: float | None = None, restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor = monitor
        self.patience = _non_negative_int("EarlyStopping", "patience", patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.stopped = False  # stopped_epoch alone cannot tell: it may be epoch 0
        self.best_epoch = 0
        self.best_weights = None
        self._monitor.best = math.inf if self._monitor.mode == "min" else -math.inf
        if self.baseline is not None:
            self._monitor.best = self.baseline

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        value = self._monitor.value(logs, "EarlyStopping")
        if value is None or epoch < self.start_from_epoch:
            return
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.stopped = True
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", file=sys.stderr)
        if self.restore_best_weights and self.best_weights is not None and self.stopped:
            if self.verbose:
                print(f"Restoring the weights of epoch {self.best_epoch + 1}", file=sys.stderr)
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) after each epoch, or only when ``monitor`` improved.

    ``filepath`` may contain format fields from the epoch's logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"`` (epoch counts from 1).  Files are written atomically.
    If training is interrupted (Ctrl-C), the model as it is is saved too, so nothing is lost, under
    :meth:`interrupted_path` (``save_on_interrupt=False`` turns that off).  An epoch whose loss is
    not finite is never saved (the file keeps the last finite state).
    """

    def __init__(self, filepath: PathLike, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_on_interrupt: bool = True) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self._monitor = _Monitor(monitor, mode, 0.0)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_on_interrupt = save_on_interrupt
        self.last_saved: str | None = None

    def _path(self, epoch: int, logs: Logs | None) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **(logs or {}))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot fill in filepath {self.filepath!r}: {exc}") from None

    def _save(self, path: str) -> None:
        make_parent_folder(path)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved = path
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}", file=sys.stderr)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"ModelCheckpoint: epoch {epoch + 1} ended with loss {loss}; not saved", file=sys.stderr)
            return
        if self.save_best_only:  # the best value is kept across fit calls, as Keras does
            value = self._monitor.value(logs, "ModelCheckpoint")
            if value is None or not self._monitor.improved(value):
                return
            self._monitor.best = value
        self._save(self._path(epoch, logs))

    def interrupted_path(self) -> str:
        """Where an interrupted run is saved: the pattern's fixed part + ``-interrupted``, e.g.
        ``ckpt-{epoch:02d}.npz`` → ``ckpt-interrupted.npz`` and ``best.npz`` → ``best-interrupted.npz``
        (never an epoch's name: the weights are from the middle of an epoch, and a best-only file is
        not overwritten)."""
        ext = os.path.splitext(self.filepath)[1]
        if not ext or "{" in ext or "}" in ext:
            ext = ".npz"
        head = self.filepath.split("{")[0] if "{" in self.filepath else os.path.splitext(self.filepath)[0]
        folder, stem = os.path.split(head)
        return os.path.join(folder, f"{stem.rstrip('-_.') or 'checkpoint'}-interrupted{ext}")

    def on_train_end(self, logs: Logs | None = None) -> None:
        if (logs or {}).get("interrupted") and self.save_on_interrupt:
            self._save(self.interrupted_path())


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of each epoch to ``schedule(epoch, lr)``."""

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        value = self.schedule(epoch, float(self.model.optimizer.learning_rate))
        try:
            lr = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"LearningRateScheduler: the schedule gave {value!r}, not a learning rate") from None
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule gave an invalid learning rate {lr}")
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.6g}", file=sys.stderr)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience``
    epochs, then wait ``cooldown`` epochs; never below ``min_lr``."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto",
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.factor = factor
        self.patience = _non_negative_int("ReduceLROnPlateau", "patience", patience)
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self._monitor.best = math.inf if self._monitor.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        value = self._monitor.value(logs, "ReduceLROnPlateau")
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.improved(value):
            self._monitor.best = value
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            optimizer = self.model.optimizer
            old = float(optimizer.learning_rate)
            new = max(old * self.factor, self.min_lr)
            if new < old:
                optimizer.learning_rate = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau lowers the learning rate to {new:.6g}",
                          file=sys.stderr)
            self.cooldown_counter = self.cooldown
            self.wait = 0
