"""CIFAR-10 (Krizhevsky 2009) from the official python batches: 50000 training and 10000 test 32×32 colour images.

Accepted layouts (``path=``, ``$LE4NN_DATA/<name>``, the cache, the system folders):

* a ``cifar-10-batches-py`` folder (``data_batch_1`` … ``data_batch_5``, ``test_batch``), or a folder that
  holds one;
* the archive ``cifar-10-python.tar.gz`` (read in place, nothing is extracted), or a folder that holds it.

Under each ``$LE4NN_DATA`` root the names ``cifar10``, ``cifar-10``, ``cifar-10-batches-py``,
``cifar-10-partial`` (e.g. ``../shared/data/cifar-10-partial/cifar-10-batches-py``) and
``cifar-10-python.tar.gz`` are tried.  A batch is a Python-2 pickle of a dict with ``b"data"`` (N×3072
uint8: the R, G and B planes of 32×32 row-major images) and ``b"labels"``; it is read with a restricted
unpickler that only rebuilds NumPy arrays and plain containers.  When batches are missing or shorter than
10000 rows, what is there is loaded and a :class:`PartialDatasetWarning` says what.
"""

from __future__ import annotations

import tarfile
import warnings
import zlib
from pathlib import Path

import numpy as np

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import locate
from le4nn.datasets.errors import DatasetError, PartialDatasetWarning
from le4nn.datasets.limits import max_input_bytes, read_file_bounded, too_large
from le4nn.datasets.safe_pickle import restricted_loads

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCH_ROWS = 10000
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"

# sha256 of the archive as listed by Keras's cifar10.load_data; the CIFAR-10 page publishes its md5,
# c58f30108f718f92721af3b95e74349a.
HASH = "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)


def _has_batches(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH))


def probe(candidate: Path) -> tuple[Path | None, str]:
    if candidate.is_file():
        return candidate, ""
    if not candidate.exists():
        return None, "does not exist"
    if not candidate.is_dir():
        return None, "not a file or folder"
    if _has_batches(candidate):
        return candidate, ""
    if (candidate / FOLDER).is_dir() and _has_batches(candidate / FOLDER):
        return candidate / FOLDER, ""
    if (candidate / ARCHIVE).is_file():
        return candidate / ARCHIVE, ""
    return None, f"no data_batch_N or test_batch files, no {FOLDER}/ with them, no {ARCHIVE}"


SPEC = locate.DatasetSpec(
    name="cifar10", title="CIFAR-10", folders=("cifar10", "cifar-10", FOLDER), probe=probe,
    files_hint=f"the {FOLDER} folder (data_batch_1 … data_batch_5, test_batch) or {ARCHIVE}",
    mirrors=MIRRORS, remote_files=((ARCHIVE, HASH),), extra_candidates=("cifar-10-partial", ARCHIVE),
)


def _field(batch: dict, key: str):
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    return None


def _decode_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    batch = restricted_loads(data, source=source, containers=True)
    if not isinstance(batch, dict):
        raise DatasetError(f"{source}: expected a CIFAR-10 batch (a dict), found {type(batch).__name__}")
    images, labels = _field(batch, "data"), _field(batch, "labels")
    if images is None or labels is None:
        raise DatasetError(f"{source}: not a CIFAR-10 batch: no 'data' or no 'labels' entry")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3072:
        shape = "×".join(map(str, getattr(images, "shape", ()))) or type(images).__name__
        raise DatasetError(
            f"{source}: 'data' must be uint8 of shape N×3072, found {getattr(images, 'dtype', '')} {shape}"
        )
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{source}: 'labels' is not a list of integers") from exc
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DatasetError(f"{source}: 'labels' is not a list of integers")
    if len(labels) != len(images):
        raise DatasetError(f"{source}: {len(labels)} labels for {len(images)} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{source}: labels out of range 0–9")
    return images, labels.astype(np.uint8)


def _read_folder(folder: Path) -> dict[str, bytes]:
    contents = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        if (folder / name).is_file():
            contents[name] = read_file_bounded(folder / name)  # at most LE4NN_MAX_INPUT_BYTES, even if it grows
    return contents


def _read_archive(archive: Path) -> dict[str, bytes]:
    contents = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in (*TRAIN_BATCHES, TEST_BATCH) and name not in contents:
                    if member.size > max_input_bytes():
                        raise too_large(f"{archive}:{member.name}", "a batch", member.size, max_input_bytes())
                    stream = tar.extractfile(member)
                    assert stream is not None  # (a regular file member)
                    contents[name] = stream.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(f"{archive}: not a readable CIFAR-10 archive: {exc}") from exc
    if not contents:
        raise DatasetError(f"{archive}: no data_batch_N or test_batch file in the archive")
    return contents


def _to_images(flat: np.ndarray, channels_first: bool) -> np.ndarray:
    images = flat.reshape(-1, 3, 32, 32)
    return images if channels_first else np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def load_data(path: PathLike | None = None, channels_first: bool = False,
              download: bool | None = None) -> TrainTest:
    """``(x_train, y_train), (x_test, y_test)``: x uint8 (N, 32, 32, 3) (or (N, 3, 32, 32) with
    ``channels_first``), y uint8 (N, 1), as ``keras.datasets.cifar10.load_data()``.

    Missing or short batches are loaded as they are, with a :class:`PartialDatasetWarning`.
    """
    source = locate.find(SPEC, path, download)
    contents = _read_archive(source) if source.is_file() else _read_folder(source)
    decoded = {name: _decode_batch(data, f"{source}/{name}" if source.is_dir() else f"{source}:{name}")
               for name, data in contents.items()}
    train = [decoded[name] for name in TRAIN_BATCHES if name in decoded]
    x_train = np.concatenate([x for x, _ in train]) if train else np.zeros((0, 3072), np.uint8)
    y_train = np.concatenate([y for _, y in train]) if train else np.zeros(0, np.uint8)
    x_test, y_test = decoded.get(TEST_BATCH, (np.zeros((0, 3072), np.uint8), np.zeros(0, np.uint8)))

    problems = []
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        if name not in decoded:
            problems.append(f"{name} missing")
        elif len(decoded[name][0]) != BATCH_ROWS:
            problems.append(f"{name} has {len(decoded[name][0])} of {BATCH_ROWS} rows")
    if problems:
        warnings.warn(
            f"CIFAR-10 at {source} is incomplete ({'; '.join(problems)}): loaded {len(x_train)} training and "
            f"{len(x_test)} test images instead of 50000 and 10000",
            PartialDatasetWarning, stacklevel=2,
        )
    return ((_to_images(x_train, channels_first), y_train.reshape(-1, 1)),
            (_to_images(x_test, channels_first), y_test.reshape(-1, 1)))
