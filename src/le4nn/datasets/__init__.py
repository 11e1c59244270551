"""Datasets: MNIST, Fashion-MNIST, KMNIST, CIFAR-10, a bundled MNIST sample, the course contest file.

    from le4nn.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()     # as keras.datasets.mnist

    from le4nn import datasets
    data = datasets.load("fashion-mnist")                       # by name (also for the command line)
    source = datasets.find("mnist")                             # the folder or archive that would be used

Where files are looked for (explicit ``path=``, ``$LE4NN_DATA``, the cache ``~/.le4nn/datasets`` or
``$LE4NN_CACHE``, system folders, then a verified download unless ``LE4NN_OFFLINE=1`` or
``download=False``): see :mod:`le4nn.datasets.locate`.  Every loader raises :class:`DatasetError` (a
``ValueError``) with a one-line message naming the file for bad files, and :class:`DatasetNotFoundError`
(a ``DatasetError``) listing the places looked at when no copy exists.

Offline-first: ``mnist.load_data()`` (the Keras entry point) returns the bundled MNIST sample, with a
:class:`SampleDataWarning` saying why and how to get the full set, when the full MNIST is neither found
nor downloaded (rule: :func:`le4nn.datasets.mnist.load_data`).  :func:`load` by name is strict (it is what
the command lines use to load exactly the data set asked for): ``load("mnist")`` raises
:class:`DatasetNotFoundError` then.  Fashion-MNIST, KMNIST and CIFAR-10 have no bundled sample: their
``load_data()`` raises :class:`DatasetNotFoundError` saying how to supply the files.
"""

from __future__ import annotations

from pathlib import Path

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import cifar10, fashion_mnist, kmnist, locate, mnist, sample
from le4nn.datasets.contest import load_contest
from le4nn.datasets.errors import DatasetError, DatasetNotFoundError, PartialDatasetWarning, SampleDataWarning
from le4nn.datasets.idx import load_idx, save_idx

#: canonical dataset names accepted by :func:`load` and :func:`find`
NAMES = ("mnist", "fashion-mnist", "kmnist", "cifar10", "sample")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "mnist-sample": "sample"}
_MODULES = {"mnist": mnist, "fashion-mnist": fashion_mnist, "kmnist": kmnist, "cifar10": cifar10, "sample": sample}


def canonical_name(name: str) -> str:
    """The canonical form of a dataset name (``"fashion_mnist"`` -> ``"fashion-mnist"``); ValueError if unknown."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _MODULES:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(NAMES)} (also fashion_mnist)")
    return key


def find(name: str, path: PathLike | None = None, download: bool | None = None) -> Path:
    """The folder (or, for CIFAR-10, possibly the archive) that :func:`load` reads for ``name``.

    Follows the search order of :mod:`le4nn.datasets.locate` and may download into the cache; for
    ``"sample"`` it is the folder inside the package.  Raises :class:`DatasetNotFoundError`.
    """
    key = canonical_name(name)
    if key == "sample":
        return sample.SAMPLE_DIR if path is None else Path(path)
    return locate.find(_MODULES[key].SPEC, path, download)


def load(name: str, path: PathLike | None = None,
         download: bool | None = None) -> TrainTest:
    """``(x_train, y_train), (x_test, y_test)`` of the dataset ``name`` (one of :data:`NAMES`); strict: the
    full data set or :class:`DatasetNotFoundError`, never the sample in its place (``"sample"`` asks for it)."""
    key = canonical_name(name)
    if key == "sample":
        return sample.load_data(path)
    if key == "mnist":
        return mnist.load_data(path, download=download, fallback=False)
    return _MODULES[key].load_data(path, download=download)


def verify(name: str, path: PathLike | None = None, download: bool | None = None) -> dict[str, bool]:
    """Check the files that :func:`load` would read against the official hashes: ``{file name: matches}``.

    Only files named as published are listed (an uncompressed or renamed copy cannot be checked; Debian's
    Fashion-MNIST files are recompressed, so they differ although their content is the same).  For
    ``"sample"`` the hashes are the ones stored beside it.  Loading never requires a match: the idx and
    pickle readers validate the content themselves.
    """
    key = canonical_name(name)
    if key == "sample":
        folder = find(key, path)
        return {fname: locate.file_sha256(folder / fname) == digest
                for fname, digest in sample.read_hashes(folder).items() if (folder / fname).is_file()}
    spec = _MODULES[key].SPEC
    source = locate.find(spec, path, download)
    folder = source.parent if source.is_file() else source
    return {fname: locate.file_matches(folder / fname, known)
            for fname, known in spec.remote_files if (folder / fname).is_file()}


def class_names(name: str) -> list[str]:
    """The class names of a dataset, by label."""
    return list(_MODULES[canonical_name(name)].CLASS_NAMES)


__all__ = [
    "NAMES",
    "DatasetError",
    "DatasetNotFoundError",
    "PartialDatasetWarning",
    "SampleDataWarning",
    "canonical_name",
    "cifar10",
    "class_names",
    "fashion_mnist",
    "find",
    "kmnist",
    "load",
    "load_contest",
    "load_idx",
    "mnist",
    "sample",
    "save_idx",
    "verify",
]
