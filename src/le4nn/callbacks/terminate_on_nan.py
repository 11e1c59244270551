"""TerminateOnNaN: stop at a non-finite loss or weight, and go back to the last finite state."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from le4nn._finite import all_finite
from le4nn._typing import Logs
from le4nn.callbacks.core import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite (or, checked at the end of each epoch,
    a weight is).

    With ``restore_last_finite=True`` (the default) the model also gets back its last finite state:
    the weights (with the normalization statistics) and the optimizer's state as they were at the
    start of training or at the end of the last epoch whose loss was finite.  ``stopped`` and
    ``stopped_epoch`` / ``stopped_batch`` say whether and where it stopped; ``restored_epoch`` how many
    epochs the restored state has trained (None when nothing was restored).
    """

    def __init__(self, restore_last_finite: bool = True) -> None:
        super().__init__()
        self.restore_last_finite = restore_last_finite

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.stopped = False
        self.stopped_epoch: int | None = None
        self.stopped_batch: int | None = None
        self.restored_epoch: int | None = None
        self._epoch = 0
        self._snapshot: tuple[list[np.ndarray], Any] | None = None
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

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if self.stopped or loss is None or np.isfinite(loss):
            return
        self._stop(f"Batch {batch}: invalid loss {loss}, terminating training", batch)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
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


def _all_finite(arrays: Iterable[np.ndarray]) -> bool:
    return all(all_finite(a) for a in arrays)
