"""What the console scripts share: clean error exits, checked option values, the environment, finite
weights, and turning raw images into model inputs.

Every bad input ends in one line on stderr, ``PROG: error: ...`` naming the option, file or variable,
and exit status 2 (argparse's own convention); a run whose training diverges (a loss or weight that is
not finite) exits with status 1 (see :data:`EXIT_DIVERGED`).  Option values are checked by the
``type=`` functions below before anything runs.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
import warnings
from pathlib import Path
from typing import NoReturn

import numpy as np

#: Exit status of a usage or input error (argparse's).
EXIT_USAGE = 2
#: Exit status of a run stopped because training produced non-finite losses or weights.
EXIT_DIVERGED = 1
#: Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: The largest seed the options accept (NumPy's generators take any non-negative integer; this keeps
#: seeds printable and the same on every platform).
MAX_SEED = 2**63 - 1


class CLIError(Exception):
    """An error to report as one line on stderr, with exit status 2 (never a traceback)."""


class TrainingDiverged(Exception):
    """Training produced a non-finite loss or weight; reported as one line, exit status 1."""


def run(main, prog: str, argv=None) -> int:
    """Check the environment, call ``main(argv)``; report a :class:`CLIError`, a file/format problem or
    a failed write (a full disk, ...) as one line on stderr, with exit status 2.  Warnings (e.g. a partial
    data set) are one ``PROG: warning: ...`` line each, without Python's source-line echo."""
    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer(prog)
        return _run_reporting_errors(main, prog, argv)


def _warning_printer(prog: str):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {one_line(message)}", file=file or sys.stderr)
    return show


def _run_reporting_errors(main, prog: str, argv) -> int:
    from le4nn.datasets import DatasetError
    from le4nn.models import ModelFileError

    try:
        check_environment()
        return main(argv)
    except TrainingDiverged as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_DIVERGED
    except (CLIError, DatasetError, ModelFileError) as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{prog}: error: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C at le4nn-predict's prompt, while loading data, or a second one in training
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print(f"{prog}: error: out of memory (try a smaller --batch-size or --subset)", file=sys.stderr)
        return EXIT_USAGE


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a message quoting another library's may hold line breaks)."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def describe_os_error(exc: OSError) -> str:
    """``cannot write FILE: No space left on device``-style text for an OSError."""
    where = exc.filename if exc.filename is not None else None
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"cannot write {where or 'the output'}: {reason} (the previous file, if any, is unchanged)"
    if isinstance(exc, FileNotFoundError):
        return str(exc) if where is None else f"{where}: not found"
    return f"{where}: {reason}" if where is not None else reason


def check_environment() -> None:
    """Raise :class:`CLIError` for a bad ``LE4NN_NUM_THREADS`` or ``LE4NN_BACKEND`` (the library's
    ValueError, which names the variable, as one line)."""
    import le4nn

    try:
        le4nn.get_num_threads()
        le4nn.get_backend()
    except ValueError as exc:
        raise CLIError(str(exc)) from None


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is ONE line on stderr (``PROG: error: argument --x: ...``,
    pointing at ``--help``) and exit status 2, never the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- option types (argparse ``type=``: the error names the option) -----------------------------


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def int_range(low: int, high: int | None = None):
    """An option type: an integer in ``[low, high]`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        value = _integer(text)
        if value < low or (high is not None and value > high):
            if high is None:
                kind = "a positive integer" if low == 1 else f"an integer >= {low}"
            else:
                kind = f"an integer in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def float_range(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False):
    """An option type: a finite number in the interval from ``low`` to ``high`` (open ends as given)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    interval = f"{left}{low:g}, {high:g}{right}" if math.isfinite(high) else (
        f"> {low:g}" if low_open else f">= {low:g}")

    def parse(text: str) -> float:
        value = _real(text)
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {'in ' if math.isfinite(high) else ''}{interval}, "
                                             f"got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_range(1)
seed = int_range(0, MAX_SEED)
finite_float = float_range(-math.inf)
positive_float = float_range(0.0, low_open=True)
non_negative_float = float_range(0.0)
fraction = float_range(0.0, 1.0, high_open=True)


def _first_file_on_the_way(path: Path) -> Path | None:
    """``path`` or the first of its parents that exists as something other than a folder."""
    for part in [*reversed(path.parents), path]:
        if part.exists() and not part.is_dir():
            return part
    return None


def output_folder(text: str) -> Path:
    """An option type: a folder to write into (it may not exist yet, but no file may be in the way)."""
    if not text.strip():  # an unset shell variable: "." would be written into silently
        raise argparse.ArgumentTypeError("is empty (give a folder, e.g. --output le4nn-output or --output .)")
    path = Path(text)
    blocker = _first_file_on_the_way(path)
    if blocker == path:
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{text!r} lies under {str(blocker)!r}, which is a file")
    return path


def output_file(text: str) -> Path:
    """An option type: a file to write (its folder must exist; the file may, and is then replaced)."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    folder = path.parent
    blocker = _first_file_on_the_way(folder)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{text!r} lies under {str(blocker)!r}, which is a file")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"the folder of {text!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write into the folder of {text!r}")
    return path


# --- models -------------------------------------------------------------------------------------


def to_model_input(images: np.ndarray, source: str = "the images") -> np.ndarray:
    """Images (N, H, W) or (N, H, W, C) → float32 in [0, 1] with a channel axis (N, H, W, C), by the one
    pixel rule of every input path (:mod:`le4nn.datasets.pixels`: uint8 and other 0–255 pixels are
    divided by 255, floats already in [0, 1] are kept)."""
    from le4nn.datasets.pixels import to_unit_pixels

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise CLIError(f"expected images of shape (N, H, W) or (N, H, W, C), got {x.shape}")
    return to_unit_pixels(x, source)
