"""A restricted unpickler: rebuilds NumPy arrays (and, when asked, plain dicts and lists), nothing else.

Unpickling can call any function a pickle names, so a downloaded or handed-in pickle could run code.
:class:`RestrictedUnpickler` resolves only the globals of an allow-list and refuses every other one with a
:class:`DatasetError` before anything is called.  The allow-list covers the names that the writers of the
files we read put in them (DESIGN.md §5):

* Python 2 with NumPy 1: ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, the
  pixel bytes as a py2 ``str`` (read as ``bytes`` with ``encoding="bytes"``);
* Python 3, protocol 0–2: the same plus ``_codecs.encode`` (how these protocols store ``bytes``);
* NumPy 2: ``numpy._core.multiarray._reconstruct``;
* protocol 5 (``pickle.HIGHEST_PROTOCOL``): ``numpy._core.numeric._frombuffer`` (``numpy.core`` with NumPy 1).

The pickle is always loaded with ``encoding="bytes"``, as Python 2 pickles require.
"""

from __future__ import annotations

import codecs
import io
import pickle
import struct

from le4nn.datasets.errors import DatasetError


def _numpy_function(module_names: tuple[str, ...], name: str):
    import importlib

    for module_name in module_names:
        try:
            return getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
    return None


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as protocols 0–2 use it for ``bytes``: latin-1 text to bytes, nothing else."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise pickle.UnpicklingError("_codecs.encode is only accepted for latin-1 text (the encoding of bytes)")
    return text.encode("latin-1")


def numpy_globals() -> dict[tuple[str, str], object]:
    """The globals needed to rebuild a NumPy array, under both NumPy 1 and NumPy 2 names."""
    import numpy as np

    reconstruct = _numpy_function(("numpy._core.multiarray", "numpy.core.multiarray"), "_reconstruct")
    frombuffer = _numpy_function(("numpy._core.numeric", "numpy.core.numeric"), "_frombuffer")
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("builtins", "bytes"): bytes,  # protocols 0-2 store b"" as bytes()
        ("__builtin__", "bytes"): bytes,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        if reconstruct is not None:
            allowed[(module, "_reconstruct")] = reconstruct
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        if frombuffer is not None:
            allowed[(module, "_frombuffer")] = frombuffer
    return allowed


def container_globals() -> dict[tuple[str, str], object]:
    """Plain builtin containers and scalars (some writers name them instead of using their opcodes)."""
    allowed: dict[tuple[str, str], object] = {}
    for builtin in (dict, list, tuple, bytes, str, int):
        allowed[("builtins", builtin.__name__)] = builtin
        allowed[("__builtin__", builtin.__name__)] = builtin  # Python 2's name of the module
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed`` ((module, name) -> object)."""

    def __init__(self, file, *, allowed: dict[tuple[str, str], object], source: str):
        super().__init__(file, encoding="bytes")
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self._source}: refused to unpickle: the file asks for {module}.{name}, which could run code; "
                "only NumPy arrays (and plain containers) are accepted"
            ) from None

    def persistent_load(self, pid):
        raise DatasetError(f"{self._source}: refused to unpickle: the file uses persistent ids")


def restricted_loads(data: bytes, *, source: str, containers: bool = False):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; every failure becomes a :class:`DatasetError`.

    ``source`` names the file in error messages; ``containers`` also allows builtin dict/list/tuple/bytes/
    str/int globals.
    """
    allowed = numpy_globals()
    if containers:
        allowed.update(container_globals())
    unpickler = RestrictedUnpickler(io.BytesIO(data), allowed=allowed, source=source)
    try:
        result = unpickler.load()
    except DatasetError:
        raise
    except EOFError as exc:
        raise DatasetError(f"{source}: truncated pickle (the data ends early)") from exc
    except (pickle.UnpicklingError, struct.error) as exc:
        message = str(exc)
        if "truncated" in message:
            raise DatasetError(f"{source}: truncated pickle ({message})") from exc
        raise DatasetError(f"{source}: not a valid pickle: {message}") from exc
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, UnicodeError, OverflowError,
            MemoryError, RecursionError) as exc:
        raise DatasetError(f"{source}: corrupted pickle: {type(exc).__name__}: {exc}") from exc
    return result
