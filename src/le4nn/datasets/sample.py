"""A small real sample of MNIST bundled with le4nn: 6000 training digits (600 per class) and 1000 test digits
(100 per class), chosen with a fixed seed from the official files by ``tools/make_sample.py``.

It makes the main job and the tests run offline on a fresh machine.  The files (gzipped idx, ≈1.2 MB)
live in ``data/mnist-sample/`` beside this module, with their sha256 in ``SHA256SUMS`` (checked at every
load) and a README stating MNIST's licence (CC BY-SA 3.0; Yann LeCun, Corinna Cortes, Christopher J.C. Burges).
"""

from __future__ import annotations

from pathlib import Path

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import idx_dataset
from le4nn.datasets.errors import DatasetError
from le4nn.datasets.locate import file_sha256

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "mnist-sample"
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
CLASS_NAMES = [str(digit) for digit in range(10)]
FILES = tuple(f"{stem}.gz" for stem in idx_dataset.STEMS)


def _damaged(folder: Path, what: str) -> DatasetError:
    where = "the le4nn package is damaged (reinstall it)" if folder == SAMPLE_DIR else "the sample is damaged"
    return DatasetError(f"{folder}: {what}: {where}")


def read_hashes(folder: Path) -> dict[str, str]:
    try:
        lines = (folder / "SHA256SUMS").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeError) as exc:
        raise _damaged(folder, "cannot read SHA256SUMS") from exc
    hashes = {}
    for line in lines:
        digest, _, name = line.strip().partition("  ")
        if line.strip():
            hashes[name.lstrip("*")] = digest.lower()
    return hashes


def verify(folder: Path = SAMPLE_DIR) -> None:
    """Check the four files of the sample against ``SHA256SUMS``; a mismatch raises :class:`DatasetError`."""
    folder = Path(folder)
    hashes = read_hashes(folder)
    for name in FILES:
        if name not in hashes:
            raise _damaged(folder, f"SHA256SUMS has no entry for {name}")
        try:
            actual = file_sha256(folder / name)
        except OSError as exc:
            raise _damaged(folder, f"cannot read {name}") from exc
        if actual != hashes[name]:
            raise _damaged(folder, f"{name} does not match its sha256 in SHA256SUMS")


def load_data(path: PathLike | None = None) -> TrainTest:
    """``(x_train, y_train), (x_test, y_test)``: uint8, x (6000 or 1000, 28, 28), y (N,), like
    :func:`le4nn.datasets.mnist.load_data`.  ``path`` (tests only) loads a copy of the sample folder."""
    folder = SAMPLE_DIR if path is None else Path(path)
    verify(folder)
    return idx_dataset.load_folder(folder)
