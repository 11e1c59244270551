"""``fit``'s progress output: a tqdm bar per epoch, or one line per epoch."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from le4nn._typing import Logs
from le4nn.callbacks.core import Callback


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float)))


class ProgressBar(Callback):
    """A tqdm progress bar per epoch with live loss/metrics and ETA (``verbose=1`` on a terminal);
    one line per epoch with ``verbose=2`` or when the output is not a terminal; silent with 0."""

    def __init__(self, verbose: int = 1, stream: TextIO | None = None, refresh_every: int = 10) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.refresh_every = refresh_every
        self._bar = None

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def _live(self) -> bool:
        return self.verbose == 1 and getattr(self._out(), "isatty", lambda: False)()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
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

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if batch % self.refresh_every == 0 and logs:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - self._epoch_start
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items() if k != "lr"})
            self._bar.close()
            self._bar = None
        elif self.verbose:
            total = self.params.get("epochs")
            summary = _format_logs(logs or {})
            print(f"Epoch {epoch + 1}/{total} - {seconds:.1f}s - {summary}", file=self._out())

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
