"""Datasets in MNIST's layout: four idx files in one folder (MNIST, Fashion-MNIST, KMNIST, the sample).

Each of the four files may be named as published (``train-images-idx3-ubyte.gz``), uncompressed
(``train-images-idx3-ubyte``) or with the dot that some unpackers produce (``train-images.idx3-ubyte``,
with or without ``.gz``); compression is detected from the content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import locate
from le4nn.datasets.errors import DatasetError
from le4nn.datasets.idx import load_idx

#: the four files, in the order (x_train, y_train, x_test, y_test)
STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FILES_HINT = "the four files " + ", ".join(f"{stem}.gz" for stem in STEMS) + " (gzipped or not)"


def variants(stem: str) -> tuple[str, ...]:
    dotted = stem.replace("-idx", ".idx")
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


def files_in(folder: Path) -> tuple[list[Path], list[str]]:
    """(the paths found, in STEMS order; the stems not found) for one folder."""
    found, missing = [], []
    for stem in STEMS:
        for name in variants(stem):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            missing.append(stem)
    return found, missing


def make_probe(folders: tuple[str, ...]):
    """A probe accepting a folder with the four files, or a folder holding one of ``folders`` that has them."""

    def probe(candidate: Path) -> tuple[Path | None, str]:
        if not candidate.exists():
            return None, "does not exist"
        if not candidate.is_dir():
            return None, "not a folder"
        _, missing = files_in(candidate)
        if not missing:
            return candidate, ""
        for name in folders:
            if (candidate / name).is_dir() and not files_in(candidate / name)[1]:
                return candidate / name, ""
        return None, "missing " + ", ".join(f"{stem}(.gz)" for stem in missing)

    return probe


def make_spec(name: str, title: str, folders: tuple[str, ...], mirrors: tuple[str, ...],
              hashes: dict[str, str]) -> locate.DatasetSpec:
    return locate.DatasetSpec(
        name=name, title=title, folders=folders, probe=make_probe(folders), files_hint=FILES_HINT,
        mirrors=mirrors, remote_files=tuple((f"{stem}.gz", hashes[f"{stem}.gz"]) for stem in STEMS),
    )


def load_folder(folder: Path, image_shape: tuple[int, int] = (28, 28), num_classes: int = 10) -> TrainTest:
    """Read and check the four files of ``folder``: ``(x_train, y_train), (x_test, y_test)``, uint8."""
    found, missing = files_in(folder)
    if missing:
        raise DatasetError(f"{folder}: missing " + ", ".join(f"{stem}(.gz)" for stem in missing))
    arrays = [load_idx(path) for path in found]
    for path, array, ndim in zip(found, arrays, (3, 1, 3, 1), strict=True):
        if array.dtype != np.uint8 or array.ndim != ndim or (ndim == 3 and array.shape[1:] != image_shape):
            expected = f"N×{image_shape[0]}×{image_shape[1]}" if ndim == 3 else "N"
            raise DatasetError(f"{path}: expected uint8 of shape {expected}, found {array.dtype} "
                               f"{'×'.join(map(str, array.shape))}")
    for images, labels, image_path, label_path in ((arrays[0], arrays[1], found[0], found[1]),
                                                    (arrays[2], arrays[3], found[2], found[3])):
        if len(images) != len(labels):
            raise DatasetError(f"{label_path}: {len(labels)} labels for the {len(images)} images of {image_path.name}")
        if labels.size and labels.max() >= num_classes:
            raise DatasetError(f"{label_path}: label {labels.max()} out of range 0–{num_classes - 1}")
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def load(spec: locate.DatasetSpec, path: PathLike | None = None, download: bool | None = None) -> TrainTest:
    return load_folder(locate.find(spec, path, download))
