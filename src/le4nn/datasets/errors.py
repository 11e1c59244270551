"""The exceptions and the warnings of ``le4nn.datasets``."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A data file is missing, unreadable, truncated, corrupted or not in the expected format.

    The message names the file and what is wrong with it (one line, fit for a command-line error).
    """


class DatasetNotFoundError(DatasetError):
    """No copy of a dataset was found in any of the places searched, and none could be downloaded.

    ``places`` lists ``(where, path or None, why it was not used)`` for every place looked at, in search
    order; the message lists them too and says how to supply the files.
    """

    def __init__(self, message: str, dataset: str = "",
                 places: list[tuple[str, Path | None, str]] | None = None) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.places = list(places or [])


class PartialDatasetWarning(UserWarning):
    """A dataset was loaded, but only part of it was there (missing or shortened files)."""


class SampleDataWarning(UserWarning):
    """``mnist.load_data()`` found no full MNIST and returned the small sample bundled with le4nn instead.

    The message says why (not found locally; downloads off, or the download failed) and how to get the
    full set.  ``warnings.simplefilter("error", SampleDataWarning)`` (or ``load_data(fallback=False)``)
    turns the fallback into an error.
    """
