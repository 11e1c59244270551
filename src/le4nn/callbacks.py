"""Callbacks: hooks that run during ``Model.fit`` (Keras's names and arguments).

``fit`` calls, in order: ``on_train_begin``; per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin``/``on_train_batch_end``, then ``on_epoch_end`` with the epoch's logs (loss,
metrics, val_loss, val_metrics, lr); finally ``on_train_end``.  A callback stops training by setting
``self.model.stop_training = True``.  When training is interrupted (Ctrl-C), ``on_train_end`` gets
``logs["interrupted"] = True`` and ModelCheckpoint saves the model as it is.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from le4nn._files import make_parent_folder, write_text
from le4nn._finite import all_finite


class Callback:
    """Base class; every hook does nothing by default."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


def callback_sequence(callbacks) -> list:
    """``fit``'s ``callbacks`` argument as a list (None is none); anything but a list or tuple is a TypeError."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of le4nn.callbacks.Callback instances, got {callbacks!r}")
    return list(callbacks)


def _non_negative_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}")
    return int(value)


class CallbackList(Callback):
    """Several callbacks called in order."""

    def __init__(self, callbacks=(), model=None, params=None):
        super().__init__()
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be le4nn.callbacks.Callback instances, got {callback!r}")
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    def set_model(self, model):
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        for callback in self.callbacks:
            callback.set_params(params)

    def on_train_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs)


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]``, ``["val_accuracy"]``, …"""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float)))


class ProgressBar(Callback):
    """A tqdm progress bar per epoch with live loss/metrics and ETA (``verbose=1`` on a terminal);
    one line per epoch with ``verbose=2`` or when the output is not a terminal; silent with 0."""

    def __init__(self, verbose: int = 1, stream=None, refresh_every: int = 10):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.refresh_every = refresh_every
        self._bar = None

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def _live(self) -> bool:
        return self.verbose == 1 and getattr(self._out(), "isatty", lambda: False)()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch = epoch
        if self._live():
            from tqdm.auto import tqdm

            total = self.params.get("epochs")
            self._bar = tqdm(
                total=self.params.get("steps"),
                desc=f"Epoch {epoch + 1}/{total}",
                unit="batch",
                file=self._out(),
                leave=True,
                dynamic_ncols=True,
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if batch % self.refresh_every == 0 and logs:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_start
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items() if k != "lr"})
            self._bar.close()
            self._bar = None
        elif self.verbose:
            total = self.params.get("epochs")
            summary = _format_logs(logs or {})
            print(f"Epoch {epoch + 1}/{total} - {seconds:.1f}s - {summary}", file=self._out())

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Monitor:
    """Whether a monitored value improved, with Keras's ``mode`` rule ("auto": max for accuracies)."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def value(self, logs, owner: str):
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

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor = monitor
        self.patience = _non_negative_int("EarlyStopping", "patience", patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.stopped = False  # stopped_epoch alone cannot tell: it may be epoch 0
        self.best_epoch = 0
        self.best_weights = None
        self._monitor.best = math.inf if self._monitor.mode == "min" else -math.inf
        if self.baseline is not None:
            self._monitor.best = self.baseline

    def on_epoch_end(self, epoch, logs=None):
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

    def on_train_end(self, logs=None):
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

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_on_interrupt=True):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self._monitor = _Monitor(monitor, mode, 0.0)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_on_interrupt = save_on_interrupt
        self.last_saved: str | None = None

    def _path(self, epoch: int, logs: dict) -> str:
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

    def on_epoch_end(self, epoch, logs=None):
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

    def on_train_end(self, logs=None):
        if (logs or {}).get("interrupted") and self.save_on_interrupt:
            self._save(self.interrupted_path())


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``append=True`` continues an existing file).

    The file is rewritten atomically after every epoch (see :mod:`le4nn._files`), so a crash or a full
    disk leaves the previous complete file.  When appending, the rows of the epochs this run trains
    again are dropped first (a run resumed from an older checkpoint does not duplicate rows).
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self._header: list[str] | None = None
        self._rows: list[list[str]] = []
        self._first_epoch_seen = False

    def _read_existing(self) -> None:
        """The header and rows already in the file (append mode)."""
        with open(self.filename, newline="") as f:
            table = [row for row in csv.reader(f, delimiter=self.separator) if row]
        if table:
            self._header, self._rows = table[0], table[1:]

    def on_train_begin(self, logs=None):
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        self._header, self._rows, self._first_epoch_seen = None, [], False
        if self.append and os.path.exists(self.filename):
            self._read_existing()

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch_seen:
            return
        self._first_epoch_seen = True
        if self._header and "epoch" in self._header:
            column = self._header.index("epoch")
            self._rows = [row for row in self._rows if not _epoch_at_least(row, column, epoch)]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **(logs or {})}
        if self._header is None:
            self._header = list(row)
        self._rows.append([_csv_value(row.get(key, "")) for key in self._header])
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.separator, lineterminator="\r\n")
        writer.writerow(self._header)
        writer.writerows(self._rows)
        write_text(self.filename, buffer.getvalue())

    def on_train_end(self, logs=None):
        pass


def _epoch_at_least(row: list[str], column: int, epoch: int) -> bool:
    """Whether a CSV row records epoch ``epoch`` or a later one (rows it cannot read are kept)."""
    try:
        return int(row[column]) >= epoch
    except (IndexError, ValueError):
        return False


def _csv_value(value) -> str:
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of each epoch to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
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

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.factor = factor
        self.patience = _non_negative_int("ReduceLROnPlateau", "patience", patience)
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self._monitor.best = math.inf if self._monitor.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
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


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite (or, checked at the end of each epoch,
    a weight is).

    With ``restore_last_finite=True`` (the default) the model also gets back its last finite state:
    the weights (with the normalization statistics) and the optimizer's state as they were at the
    start of training or at the end of the last epoch whose loss was finite.  ``stopped`` and
    ``stopped_epoch`` / ``stopped_batch`` say whether and where it stopped; ``restored_epoch`` how many
    epochs the restored state has trained (None when nothing was restored).
    """

    def __init__(self, restore_last_finite: bool = True):
        super().__init__()
        self.restore_last_finite = restore_last_finite

    def on_train_begin(self, logs=None):
        self.stopped = False
        self.stopped_epoch = self.stopped_batch = None
        self.restored_epoch = None
        self._epoch = 0
        self._snapshot = None
        self._snapshot_epoch = getattr(self.model, "epochs_done", 0)
        if self.restore_last_finite:
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        weights = self.model.get_weights()
        if not _all_finite(weights):
            return  # already not finite (e.g. a resumed file): nothing finite to go back to
        optimizer = getattr(self.model, "optimizer", None)
        state = optimizer.get_state() if optimizer is not None else None
        self._snapshot = (weights, state)
        self._snapshot_epoch = getattr(self.model, "epochs_done", self._epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.stopped or loss is None or np.isfinite(loss):
            return
        self._stop(f"Batch {batch}: invalid loss {loss}, terminating training", batch)

    def on_epoch_end(self, epoch, logs=None):
        if not self.stopped and not _all_finite(self.model.get_weights()):
            # The loss can stay finite while weights overflow (saturated sigmoids): checked once per epoch.
            self._stop(f"Epoch {epoch + 1}: weights are not finite, terminating training", None)
        if self.stopped and self.restored_epoch is not None:
            self.model.epochs_done = self.restored_epoch  # fit counted the broken epoch as done
        if self.restore_last_finite and not self.stopped and np.isfinite((logs or {}).get("loss", 0.0)):
            self._take_snapshot()

    def _stop(self, message: str, batch: int | None) -> None:
        print(message, file=sys.stderr)
        self.stopped, self.stopped_epoch, self.stopped_batch = True, self._epoch, batch
        self.model.stop_training = True
        if self.restore_last_finite and self._snapshot is not None:
            weights, state = self._snapshot
            self.model.set_weights(weights)
            if state is not None:
                self.model.optimizer.set_state(state)
            self.restored_epoch = self._snapshot_epoch
            print(f"Restored the last finite state (after {self.restored_epoch} epochs)", file=sys.stderr)


def _all_finite(arrays) -> bool:
    return all(all_finite(a) for a in arrays)
