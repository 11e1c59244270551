"""The callback protocol: :class:`Callback`, :class:`CallbackList` and :class:`History`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from le4nn._typing import Logs


class Callback:
    """Base class; every hook does nothing by default."""

    def __init__(self) -> None:
        #: The model being trained (set by ``fit``); typed Any because callbacks sit below the models
        #: in le4nn's import layers (docs/design.md §1).
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


def callback_sequence(callbacks: Sequence[Callback] | None) -> list[Callback]:
    """``fit``'s ``callbacks`` argument as a list (None is none); anything but a list or tuple is a TypeError."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of le4nn.callbacks.Callback instances, got {callbacks!r}")
    return list(callbacks)


class CallbackList(Callback):
    """Several callbacks called in order."""

    def __init__(self, callbacks: Iterable[Callback] = (), model: Any = None,
                 params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be le4nn.callbacks.Callback instances, got {callback!r}")
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    def set_model(self, model: Any) -> None:
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.set_params(params)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs)


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]``, ``["val_accuracy"]``, …"""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
