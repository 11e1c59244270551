"""MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0): 60000 training and 10000 test digits, 28×28 uint8.

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` with x of shape (N, 28, 28) and y of
shape (N,), both uint8, like ``keras.datasets.mnist.load_data()``.  Where the files are looked for:
:mod:`le4nn.datasets.locate` (folder name ``mnist``).  Offline-first: when no full copy can be had,
``load_data()`` returns the sample bundled with le4nn (:mod:`le4nn.datasets.sample`) with a
:class:`~le4nn.datasets.errors.SampleDataWarning`; the rule is :func:`load_full_or_sample`'s, which
``le4nn-train`` uses too.
"""

from __future__ import annotations

import os
import warnings

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import idx_dataset, locate, sample
from le4nn.datasets.errors import DatasetNotFoundError, SampleDataWarning

CLASS_NAMES = [str(digit) for digit in range(10)]

# sha256 of the official gz files, as in ../shared/data/mnist/SHA256SUMS (computed from the byte-identical
# originals; torchvision's dataset definitions list the same values).
HASHES = {
    "train-images-idx3-ubyte.gz": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

SPEC = idx_dataset.make_spec("mnist", "MNIST", ("mnist", "MNIST"), MIRRORS, HASHES)
#: How the bundled sample is named in messages.
SAMPLE_TITLE = "the MNIST sample bundled with le4nn"


def load_data(path: PathLike | None = None, download: bool | None = None, fallback: bool = True) -> TrainTest:
    """``(x_train, y_train), (x_test, y_test)``: uint8, x (N, 28, 28), y (N,).

    The rule (offline-first, so that an example runs on a fresh machine with no network):

    - ``path`` given: that folder (the four idx files, or a folder holding ``mnist/``) and nothing else;
      :class:`DatasetNotFoundError` when they are not there (files you named are never replaced).
    - otherwise the full MNIST from ``$LE4NN_DATA``, the cache or the system folders; when there is none,
      a download into the cache (11 MB, sha256-verified), unless ``LE4NN_OFFLINE=1`` or ``download=False``.
    - when neither gives the full set (downloads off, or the download failed: no network, mirrors down),
      the bundled sample (6000 training and 1000 test digits, 10% of MNIST's test set) with a
      :class:`SampleDataWarning` that says why and how to get the full set.  ``fallback=False`` raises
      :class:`DatasetNotFoundError` instead (listing every place looked at).

    Differs from Keras: Keras's ``path`` is a file name under ``~/.keras/datasets``; Keras downloads or
    raises, and never substitutes a sample.  Raises ``DatasetError`` for damaged files.
    """
    if path is not None or not fallback:
        return idx_dataset.load(SPEC, path, download)
    data, _, note = load_full_or_sample(download)
    if note is not None:
        warnings.warn(f"mnist.load_data(): using {SAMPLE_TITLE} (6000 training, 1000 test digits): {note}",
                      SampleDataWarning, stacklevel=2)
    return data


def load_full_or_sample(download: bool | None = None) -> tuple[TrainTest, str, str | None]:
    """``(data, source, note)``: the full MNIST with ``source`` naming its folder and ``note`` None, or (when
    no full copy is found nor downloaded, see :func:`load_data`) the bundled sample with ``note`` saying
    why and how to get the full set.  ``le4nn-train`` calls it with ``download=False``."""
    try:
        folder = locate.find(SPEC, None, download)
    except DatasetNotFoundError as exc:
        return sample.load_data(), SAMPLE_TITLE, sample_note(exc)
    return idx_dataset.load_folder(folder), f"MNIST ({folder})", None


def sample_note(error: DatasetNotFoundError) -> str:
    """Why the full MNIST was not used (from ``error``'s list of places) and how to get it."""
    reason = next((why for label, _, why in error.places if label == "download"), "")
    offline = os.environ.get(locate.ENV_OFFLINE, "")
    if reason.startswith("failed"):
        why = f"; the download failed ({_shorten(reason.removeprefix('failed: '))})"
        allow = "retry with internet access to download them"
    elif locate.ENV_OFFLINE in reason:
        why = f"; downloads are off ({locate.ENV_OFFLINE}={offline})"
        allow = f"unset {locate.ENV_OFFLINE} to download them"
    else:  # download=False (le4nn-train's choice: it never downloads)
        why = ""
        allow = "download them once with: python -c \"from le4nn.datasets import mnist; mnist.load_data()\""
    return (f"full MNIST not found locally{why}. For all 60000 + 10000 digits, put the four idx files in "
            f"ROOT/mnist/ and set {locate.ENV_DATA}=ROOT, or copy them into {locate.cache_dir(SPEC)}/, or {allow} "
            "(11 MB)")


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
