"""The one training loop: epochs of mini-batches with callbacks, ``stop_training`` and a graceful Ctrl-C.

:meth:`le4nn.models.Model.fit` (handout eq. 12–14: forward, loss, backward, update per mini-batch) and
:meth:`le4nn.gan.GANTrainer.fit` both run :func:`run_epochs`; each gives it an :class:`EpochSteps`
object that says what one epoch and one batch step do, and keeps its own argument checking.

The loop calls the callbacks in Keras's order: ``on_train_begin``; per epoch ``on_epoch_begin``, per
batch ``on_train_batch_begin``/``on_train_batch_end``, then ``on_epoch_end`` with the epoch's logs;
finally ``on_train_end`` with ``{"interrupted": ...}``.  A callback stops training by setting the
trained object's ``stop_training`` (checked after every batch and every epoch).

Ctrl-C (or SIGTERM) stops at the end of the current batch (:class:`GracefulInterrupt`): the loop
reports it (:meth:`EpochSteps.on_interrupt`), ``on_train_end`` still runs (so ModelCheckpoint saves the
model) and :func:`run_epochs` returns True.  A second Ctrl-C raises :class:`TrainingAborted` at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal, Protocol

from le4nn.callbacks import CallbackList


class TrainingAborted(KeyboardInterrupt):
    """A second Ctrl-C during ``fit``: training stops at once, wherever it is, and nothing is saved."""


class GracefulInterrupt:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM (what cluster schedulers and ``kill`` send)
    only sets ``requested`` (fit stops at the batch boundary, callbacks save the model); a second one
    raises :class:`TrainingAborted` at once.  Outside the main thread it does nothing."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))

    def __enter__(self) -> GracefulInterrupt:
        self.requested = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                try:
                    self._previous[signum] = signal.signal(signum, self._handle)
                except ValueError:  # not allowed here (e.g. embedded interpreters)
                    pass
        return self

    def _handle(self, signum: int, frame: object) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if self.requested:
            raise TrainingAborted(f"training aborted by a second {name}")
        self.requested = True
        print(f"\n{name}: stopping after this batch (send again to abort at once)", file=sys.stderr)

    def __exit__(self, *exc: object) -> Literal[False]:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        return False


class EpochSteps(Protocol):
    """What one ``fit`` does inside :func:`run_epochs`' loop."""

    def begin_epoch(self, epoch: int) -> Iterable[Any]:
        """Prepare epoch ``epoch`` (after ``on_epoch_begin``); return its batches, one item per step."""

    def train_batch(self, step: int, batch: Any) -> dict:
        """One training step on ``batch``; return the logs ``on_train_batch_end`` gets."""

    def end_epoch(self, epoch: int) -> dict:
        """Finish epoch ``epoch`` (its batches are done); return the logs ``on_epoch_end`` gets."""

    def on_interrupt(self, epoch: int) -> None:
        """Training was interrupted (Ctrl-C) during epoch ``epoch``: say so (``on_train_end`` follows)."""


def run_epochs(trained: Any, steps: EpochSteps, callbacks: CallbackList, initial_epoch: int,
               epochs: int) -> bool:
    """Run epochs ``initial_epoch`` .. ``epochs - 1`` of ``steps`` with ``callbacks`` (see the module
    docstring); ``trained.stop_training`` is reset first and read after every batch and epoch.
    Returns whether a Ctrl-C interrupted training."""
    trained.stop_training = False
    interrupted = False
    epoch = initial_epoch
    with GracefulInterrupt() as interrupt:
        try:
            callbacks.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                callbacks.on_epoch_begin(epoch)
                for step, batch in enumerate(steps.begin_epoch(epoch)):
                    callbacks.on_train_batch_begin(step)
                    callbacks.on_train_batch_end(step, steps.train_batch(step, batch))
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    if trained.stop_training:
                        break
                callbacks.on_epoch_end(epoch, steps.end_epoch(epoch))
                if interrupt.requested:
                    raise KeyboardInterrupt
                if trained.stop_training:
                    break
        except TrainingAborted:
            raise  # a second Ctrl-C: the state may be mid-step, so nothing is saved
        except KeyboardInterrupt:
            interrupted = True
            steps.on_interrupt(epoch)
        callbacks.on_train_end({"interrupted": interrupted})
    return interrupted
