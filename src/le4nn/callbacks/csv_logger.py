"""CSVLogger: each epoch's logs as a row of a CSV file, rewritten atomically."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from le4nn._files import write_text
from le4nn._typing import Logs, PathLike
from le4nn.callbacks.core import Callback


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``append=True`` continues an existing file).

    The file is rewritten atomically after every epoch (see :mod:`le4nn._files`), so a crash or a full
    disk leaves the previous complete file.  When appending, the rows of the epochs this run trains
    again are dropped first (a run resumed from an older checkpoint does not duplicate rows).
    """

    def __init__(self, filename: PathLike, separator: str = ",", append: bool = False) -> None:
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

    def on_train_begin(self, logs: Logs | None = None) -> None:
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        self._header, self._rows, self._first_epoch_seen = None, [], False
        if self.append and os.path.exists(self.filename):
            self._read_existing()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._first_epoch_seen:
            return
        self._first_epoch_seen = True
        if self._header and "epoch" in self._header:
            column = self._header.index("epoch")
            self._rows = [row for row in self._rows if not _epoch_at_least(row, column, epoch)]

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        row = {"epoch": epoch, **(logs or {})}
        if self._header is None:
            self._header = list(row)
        self._rows.append([_csv_value(row.get(key, "")) for key in self._header])
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.separator, lineterminator="\r\n")
        writer.writerow(self._header)
        writer.writerows(self._rows)
        write_text(self.filename, buffer.getvalue())

    def on_train_end(self, logs: Logs | None = None) -> None:
        pass


def _epoch_at_least(row: list[str], column: int, epoch: int) -> bool:
    """Whether a CSV row records epoch ``epoch`` or a later one (rows it cannot read are kept)."""
    try:
        return int(row[column]) >= epoch
    except (IndexError, ValueError):
        return False


def _csv_value(value: object) -> str:
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
