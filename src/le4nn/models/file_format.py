"""Reading model files defensively: the zip archive, its ``.npy`` entries and the JSON header.

A model file is a plain ``.npz`` (a zip of ``.npy`` files, see :mod:`le4nn.models.saving`), so anyone
can hand le4nn a hostile one.  :func:`open_archive` refuses, with a :class:`ModelFileError` that names
the file and the part, everything that is not a well-formed le4nn file, and never reads an array
before its size is known to be bounded:

- the zip level: not a zip, truncated, encrypted, duplicated or oddly named entries;
- the header: at most :data:`MAX_HEADER_BYTES`, JSON nested at most :data:`MAX_HEADER_DEPTH` deep, a
  dict with a known ``format``;
- the arrays: only the entries the caller asks for are read (:meth:`ModelArchive.read`), each after
  its ``.npy`` header was checked (dtype, shape) against what the caller expects and against the
  zip's declared size, and all of them together at most :data:`MAX_EXPANSION` times the file's size
  (the bound on what a zip bomb can make le4nn allocate).  Pickled entries are never loaded.
"""

from __future__ import annotations

import json
import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from le4nn._npy import is_plain, read_header
from le4nn._numbers import ByteBudget
from le4nn._typing import PathLike

FORMAT_VERSION = 1
HEADER_KEY = "__le4nn__"
#: The largest header (uncompressed bytes) le4nn reads; real headers are a few kB.
MAX_HEADER_BYTES = 8 * 2**20
#: The deepest JSON nesting a header may have; real headers are about 8 levels deep.
MAX_HEADER_DEPTH = 32
#: Arrays read from a file may total at most this many times the file's size (plus 1 MiB): le4nn
#: writes uncompressed entries (ratio 1), and float weights hardly compress, so only a zip bomb
#: comes near this.
MAX_EXPANSION = 16
#: The largest ``.npy`` header (bytes) accepted, as NumPy's own default.
MAX_NPY_HEADER = 10000

# What reading a damaged zip entry or .npy header can raise (zlib/zipfile/NumPy's header parser, which
# tokenizes and literal-evals the header text).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError,
                RuntimeError, SyntaxError, tokenize.TokenError, RecursionError, OverflowError, TypeError)


class ModelFileError(ValueError):
    """A model or weights file that cannot be read, or that does not fit the model."""


def normalize_path(path: PathLike) -> Path:
    """``np.savez`` appends ``.npz`` to names without it; do the same up front so paths agree."""
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def short(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that a hostile value cannot flood a message."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return clip(text, limit)


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (for messages quoting other errors)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ErrorSource:
    """Builds the :class:`ModelFileError` of one source (a file, or None for a plain dict): every
    message starts with ``"<source>: "``.  Model files (:class:`ModelArchive`) and model configs
    (:mod:`le4nn.models.configs`) report their problems through it."""

    def __init__(self, source) -> None:
        self.prefix = f"{source}: " if source else ""

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.prefix}{message}")

    def refuse_unknown_keys(self, value: dict, allowed: set, lead: str) -> None:
        """Refuse keys of ``value`` outside ``allowed``: "<lead> <up to 5 keys> (known: ...)"."""
        unknown = sorted(str(key) for key in set(value) - allowed)
        if unknown:
            raise self.fail(f"{lead} {', '.join(short(k, 40) for k in unknown[:5])} "
                            f"(known: {', '.join(sorted(allowed))})")


@dataclass(frozen=True)
class EntrySpec:
    """What an entry's ``.npy`` header declares: shape, dtype, and where its data starts."""

    shape: tuple
    dtype: np.dtype
    data_offset: int


class ModelArchive(ErrorSource):
    """An open model file: its JSON ``header`` and its entries' names; arrays are read on demand.

    Use as a context manager (or call :meth:`close`).  ``keys`` are the entry names without ``.npy``
    (``"weights/dense/kernel"``).
    """

    def __init__(self, path: Path, archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> None:
        super().__init__(path)
        self.path = path
        self._zip = archive
        self._infos = infos
        self._budget = ByteBudget(MAX_EXPANSION * path.stat().st_size + 2**20)
        self.header: dict = {}

    @property
    def keys(self) -> list[str]:
        return [key for key in self._infos if key != HEADER_KEY]

    @property
    def read_budget(self) -> int:
        """How many more bytes of array data may be read from this file."""
        return self._budget.left

    def entry_size(self, key: str) -> int:
        """The uncompressed size the zip declares for entry ``key`` (not checked against the data)."""
        return self._infos[key].file_size

    def known_header_keys(self, allowed: set) -> None:
        """Refuse header keys outside ``allowed``."""
        self.refuse_unknown_keys(self.header, allowed, "the header has unknown key(s)")

    def __enter__(self) -> ModelArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def spec(self, key: str) -> EntrySpec:
        """The shape and dtype entry ``key`` declares (its ``.npy`` header only is read)."""
        info = self._infos[key]
        try:
            with self._zip.open(info) as stream:
                header = read_header(stream, MAX_NPY_HEADER)
                offset = stream.tell()
        except _READ_ERRORS as exc:  # NpyHeaderError is a ValueError
            raise self.fail(f"entry '{key}' is corrupted ({clip(str(exc), 200)})") from None
        shape, _, dtype = header
        return EntrySpec(tuple(shape), dtype, offset)

    def read(self, key: str, what: str, *, kinds: str = "f", shape: tuple | None = None) -> np.ndarray:
        """The array of entry ``key`` (``what`` names it in errors), read only after checking that its
        dtype is a plain one of ``kinds`` (NumPy kind letters), its shape is ``shape`` (when given),
        and its size agrees with the zip's and fits the file's read budget."""
        if key not in self._infos:
            raise self.fail(f"{what}: the entry '{key}' is missing")
        spec = self.spec(key)
        dtype = spec.dtype
        if not is_plain(dtype, kinds):
            raise self.fail(f"{what}: dtype {short(str(dtype))} is not allowed here (expected kind "
                            f"{' or '.join(repr(k) for k in kinds)})")
        if shape is not None and spec.shape != tuple(shape):
            raise self.fail(f"{what}: the model has shape {tuple(shape)}, the file has {spec.shape}")
        nbytes = math.prod(spec.shape) * dtype.itemsize
        info = self._infos[key]
        if info.file_size != spec.data_offset + nbytes:
            raise self.fail(f"{what}: entry '{key}' declares shape {spec.shape} ({nbytes} bytes of data), "
                            f"but the zip holds {info.file_size - spec.data_offset} bytes")
        if not self._budget.charge(nbytes):
            raise self.fail(f"{what}: entry '{key}' expands to {nbytes} bytes, more than {MAX_EXPANSION} "
                            f"times the file's size allows (a zip bomb?)")
        try:
            with self._zip.open(info) as stream:
                return np.lib.format.read_array(stream, allow_pickle=False, max_header_size=MAX_NPY_HEADER)
        except _READ_ERRORS as exc:
            raise self.fail(f"{what}: entry '{key}' is corrupted ({clip(str(exc), 200)})") from None


def _zip_entries(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by key (name without ``.npy``); anything odd is refused."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise ModelFileError(f"{path}: unexpected zip entry {short(name)} (a le4nn file holds only .npy "
                                 "entries)")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path}: zip entry {short(name)} is encrypted")
        key = name[: -len(".npy")]
        if key in infos:
            raise ModelFileError(f"{path}: zip entry {short(name)} appears twice (a tampered file?)")
        infos[key] = info
    return infos


def parse_json(text: str, source, what: str):
    """``json.loads(text)``, refusing (:class:`ModelFileError` naming ``source`` and ``what``) text that
    is not JSON or is nested more than :data:`MAX_HEADER_DEPTH` levels deep: model headers and the JSON
    model configs of ``le4nn-train --model``."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ModelFileError(f"{source}: {what} is corrupted or not JSON ({clip(str(exc), 200)})") from None
    _check_depth(value, source, what)
    return value


def _check_depth(value, source, what: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_HEADER_DEPTH` (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_HEADER_DEPTH:
            raise ModelFileError(f"{source}: {what} is nested more than {MAX_HEADER_DEPTH} levels deep")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, depth + 1) for child in children)


def _read_header(archive: ModelArchive) -> dict:
    path = archive.path
    if HEADER_KEY not in archive._infos:
        raise ModelFileError(f"{path}: not a le4nn model file (no {HEADER_KEY} header)")
    if archive._infos[HEADER_KEY].file_size > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path}: the model header is larger than {MAX_HEADER_BYTES} bytes")
    text = archive.read(HEADER_KEY, "the model header", kinds="U", shape=())
    header = parse_json(str(text), path, "the model header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the model header must be a JSON object, got {type(header).__name__}")
    if header.get("format") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported model file format {short(header.get('format'))}")
    return header


def open_archive(path: PathLike) -> ModelArchive:
    """Open a model file and read its header; see the module docstring for what is refused."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"a model file must be given as a path (str or os.PathLike), got {type(path).__name__}")
    path = Path(os.fsdecode(path))
    if not path.exists() and normalize_path(path).exists():
        path = normalize_path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive; say so before NumPy tries other formats
        what = "it is empty" if not magic else "it is not an .npz (zip) archive"
        raise ModelFileError(f"{path}: not a le4nn model file ({what})")
    try:
        zipped = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise ModelFileError(f"{path}: not a readable le4nn model file (truncated or corrupted: "
                             f"{clip(str(exc), 200)})") from None
    try:
        archive = ModelArchive(path, zipped, _zip_entries(path, zipped))
        archive.header = _read_header(archive)
    except BaseException:
        zipped.close()
        raise
    return archive
