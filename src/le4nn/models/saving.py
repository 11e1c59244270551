"""Model files: one ``.npz`` holding the JSON architecture, the weights and the optimizer state.

Layout of the archive (never pickled; loaded with ``allow_pickle=False``):

- ``__le4nn__``: JSON text ``{"format": 1, "le4nn_version": ..., "model": <model config>,
  "compile": <optimizer/loss/metrics config or null>, "training": {...}}``
- ``weights/<layer name>/<param or state name>``: every layer's arrays
- ``optimizer/<key>``: the optimizer's state (moments, iteration count)

Files are written to a temporary file in the same folder and renamed over the target, so an
interrupted save never leaves a broken file behind and the previous file survives until the new one
is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
HEADER_KEY = "__le4nn__"


class ModelFileError(ValueError):
    """A model or weights file that cannot be read, or that does not fit the model."""


def normalize_path(path) -> Path:
    """``np.savez`` appends ``.npz`` to names without it; do the same up front so paths agree."""
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def write_archive(path, header: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Atomically write ``header`` (JSON) and ``arrays`` into an ``.npz`` file at ``path``."""
    path = normalize_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {HEADER_KEY: np.array(json.dumps(header))}
    payload.update({key: np.ascontiguousarray(value) for key, value in arrays.items()})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            np.savez(tmp, **payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path


def read_archive(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a file written by :func:`write_archive`; any damage gives a :class:`ModelFileError`."""
    path = Path(os.fspath(path))
    if not path.exists() and normalize_path(path).exists():
        path = normalize_path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable le4nn model file (truncated or corrupted: {exc})") \
            from None
    if HEADER_KEY not in arrays:
        raise ModelFileError(f"{path}: not a le4nn model file (no {HEADER_KEY} header)")
    try:
        header = json.loads(str(arrays.pop(HEADER_KEY)))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelFileError(f"{path}: the model header is corrupted ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported model file format {header.get('format')!r}")
    return header, arrays
