"""A restricted unpickler: rebuilds plain NumPy arrays (and, when asked, plain dicts and lists), nothing else.

Unpickling can call any function a pickle names, so a downloaded or handed-in pickle could run code.
:class:`RestrictedUnpickler` resolves only the globals of an allow-list and refuses every other one with a
:class:`DatasetError` before anything is called.  The allow-list covers the names that the writers of the
files we read put in them (docs/design.md §5 "Files and formats"):

* Python 2 with NumPy 1: ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, the
  pixel bytes as a py2 ``str`` (read as ``bytes`` with ``encoding="bytes"``);
* Python 3, protocol 0–2: the same plus ``_codecs.encode`` (how these protocols store ``bytes``);
* NumPy 2: ``numpy._core.multiarray._reconstruct``;
* protocol 5 (``pickle.HIGHEST_PROTOCOL``): ``numpy._core.numeric._frombuffer`` (``numpy.core`` with NumPy 1).

None of these resolves to NumPy itself: each is a stand-in (:mod:`le4nn.datasets.pickled_arrays`) that
checks its arguments and the state a BUILD gives it, so a pickle cannot hand NumPy a dtype with fields or
sub-arrays, or an array whose buffer does not match its shape.  Before loading, the opcodes are scanned:
opcodes no array pickle uses (persistent ids, extension codes, NEWOBJ/INST/OBJ, out-of-band buffers) and
memo indices that would make the unpickler allocate a huge memo are refused.  The pickle is always loaded
with ``encoding="bytes"``, as Python 2 pickles require.
"""

from __future__ import annotations

import codecs
import io
import pickle
import pickletools
import struct
from collections.abc import Mapping
from typing import Any

from le4nn.datasets.errors import DatasetError
from le4nn.datasets.limits import max_input_bytes
from le4nn.datasets.pickled_arrays import (
    PLAIN_DTYPES,
    ArraySpec,
    DtypeSpec,
    PickleRefused,
    array_view,
    materialize,
    text_arg,
)

#: opcodes that no pickle of an array, dict or list uses
REFUSED_OPCODES = frozenset({"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "INST", "OBJ", "NEWOBJ",
                             "NEWOBJ_EX", "NEXT_BUFFER", "READONLY_BUFFER"})
_PUT_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_SHORT_TEXT = 100


class AllowedGlobal:
    """A global a pickle may name: calls ``function`` (which checks its arguments); BUILD on it is refused."""

    __slots__ = ("name", "function")

    def __init__(self, name: str, function) -> None:
        self.name = name
        self.function = function

    def __call__(self, *args):
        return self.function(*args)

    def __setstate__(self, state):
        raise PickleRefused(f"the pickle tries to change {self.name}")

    def __repr__(self) -> str:
        return f"<allowed global {self.name}>"


def _refuse_ndarray_call(*args):
    raise PickleRefused("numpy.ndarray may only be named as the argument of _reconstruct")


NDARRAY = AllowedGlobal("numpy.ndarray", _refuse_ndarray_call)


def _reconstruct(subtype, shape, typecode):
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b"b")``: an array waiting for its BUILD."""
    if subtype is not NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
        raise PickleRefused("_reconstruct is only accepted as NumPy writes it: (numpy.ndarray, (0,), b'b')")
    return ArraySpec()


def _dtype(name, align: bool = False, copy: bool = True):
    """``numpy.dtype(name, False, True)`` of a plain numeric dtype."""
    name = text_arg(name, "a dtype's name")
    if name not in PLAIN_DTYPES:
        raise PickleRefused(f"the dtype {name!r} is refused (only plain numbers: {', '.join(sorted(PLAIN_DTYPES))})")
    if type(align) not in (bool, int) or align or type(copy) not in (bool, int):
        raise PickleRefused(f"numpy.dtype is only accepted with align=False, found {align!r}")
    return DtypeSpec(name)


def _frombuffer(buffer, dtype, shape, order):
    """``numpy._core.numeric._frombuffer(buffer, dtype, shape, order)`` (protocol 5)."""
    if order not in ("C", "F"):
        raise PickleRefused(f"_frombuffer's order must be 'C' or 'F', found {order!r}")
    return ArraySpec(array_view(shape, dtype, buffer, order))


def _latin1_encode(text, encoding: str = "utf-8", errors: str = "strict"):
    """``_codecs.encode`` as protocols 0–2 use it for ``bytes``: latin-1 text to bytes, nothing else."""
    try:
        latin1 = isinstance(encoding, str) and codecs.lookup(encoding).name == "iso8859-1"
    except LookupError:
        latin1 = False
    if not isinstance(text, str) or not latin1 or errors != "strict":
        raise PickleRefused("_codecs.encode is only accepted for latin-1 text (the encoding of bytes)")
    return text.encode("latin-1")


def _checked_builtin(builtin, accepted: tuple[type, ...]):
    """``builtin()`` or ``builtin(x)`` for ``x`` of an accepted type (``bytes(10**12)`` is refused)."""

    def call(*args):
        if len(args) > 1 or (args and not isinstance(args[0], accepted)):
            kinds = ", ".join(t.__name__ for t in accepted)
            raise PickleRefused(f"{builtin.__name__}() is only accepted with no argument or one of {kinds}")
        if args and isinstance(args[0], str) and builtin is int and len(args[0]) > _SHORT_TEXT:
            raise PickleRefused("int() of a long string is refused")
        return builtin(*args)

    return call


def numpy_globals() -> dict[tuple[str, str], AllowedGlobal]:
    """The globals needed to rebuild a NumPy array, under both NumPy 1 and NumPy 2 names."""
    empty_bytes = AllowedGlobal("bytes", _checked_builtin(bytes, (bytes,)))
    allowed: dict[tuple[str, str], AllowedGlobal] = {
        ("numpy", "ndarray"): NDARRAY,
        ("numpy", "dtype"): AllowedGlobal("numpy.dtype", _dtype),
        ("_codecs", "encode"): AllowedGlobal("_codecs.encode", _latin1_encode),
        ("builtins", "bytes"): empty_bytes,  # protocols 0-2 store b"" as bytes()
        ("__builtin__", "bytes"): empty_bytes,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = AllowedGlobal("_reconstruct", _reconstruct)
        allowed[(f"{package}.numeric", "_frombuffer")] = AllowedGlobal("_frombuffer", _frombuffer)
    return allowed


def container_globals() -> dict[tuple[str, str], AllowedGlobal]:
    """Plain builtin containers and scalars (some writers name them instead of using their opcodes)."""
    accepted = {dict: (dict, list, tuple), list: (list, tuple), tuple: (list, tuple), bytes: (bytes,),
                str: (str,), int: (int, str)}
    allowed: dict[tuple[str, str], AllowedGlobal] = {}
    for builtin, kinds in accepted.items():
        stand_in = AllowedGlobal(builtin.__name__, _checked_builtin(builtin, kinds))
        allowed[("builtins", builtin.__name__)] = stand_in
        allowed[("__builtin__", builtin.__name__)] = stand_in  # Python 2's name of the module
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed`` ((module, name) -> object)."""

    def __init__(self, file, *, allowed: Mapping[tuple[str, str], object], source: str) -> None:
        super().__init__(file, encoding="bytes")
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise DatasetError(
                f"{self._source}: refused to unpickle: the file asks for {module}.{name}, which could run code; "
                "only NumPy arrays (and plain containers) are accepted"
            ) from None

    def persistent_load(self, pid):
        raise DatasetError(f"{self._source}: refused to unpickle: the file uses persistent ids")


def _truncation(message: str) -> bool:
    return any(word in message for word in ("truncated", "remain", "exhausted", "ran out"))


def _read_line(stream) -> bytes:
    """A protocol-0 string argument: checked by the unpickler itself (a py2 ``str`` need not be ASCII)."""
    line = stream.readline()
    if not line.endswith(b"\n"):
        raise ValueError("no newline found when trying to read a string (the pickle is truncated)")
    return line


def _opcodes(data: bytes):
    """(opcode, argument, position) up to STOP, as :func:`pickletools.genops` but lenient on py2 strings."""
    stream = io.BytesIO(data)
    while True:
        position = stream.tell()
        code = stream.read(1)
        if not code:
            raise ValueError("the pickle is exhausted before its STOP opcode (truncated)")
        opcode = pickletools.code2op.get(code.decode("latin-1"))  # type: ignore[attr-defined]  # not in typeshed
        if opcode is None:
            raise ValueError(f"unknown opcode {code!r} at byte {position}")
        argument = opcode.arg
        value = None
        if argument is not None:
            value = _read_line(stream) if argument is pickletools.stringnl else argument.reader(stream)
        yield opcode, value, position
        if opcode.name == "STOP":
            return


def scan_opcodes(data: bytes, source: str) -> None:
    """Check the opcode stream before unpickling: well formed, no refused opcode, small memo indices."""
    try:
        for count, (opcode, arg, position) in enumerate(_opcodes(data), start=1):
            if opcode.name in REFUSED_OPCODES:
                raise DatasetError(f"{source}: refused to unpickle: the file uses the {opcode.name} opcode "
                                   f"(at byte {position}), which no array pickle uses")
            if opcode.name in _PUT_OPCODES and not 0 <= arg <= count:
                raise DatasetError(f"{source}: corrupted pickle: memo index {arg} at byte {position} "
                                   f"(a pickle of {count} opcodes so far numbers its memo from 0)")
    except (ValueError, struct.error, OverflowError) as exc:
        kind = "truncated pickle" if _truncation(str(exc)) else "not a valid pickle"
        raise DatasetError(f"{source}: {kind}: {exc}") from None


def restricted_loads(data: bytes, *, source: str, containers: bool = False, limit: int | None = None) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; every failure becomes a :class:`DatasetError`.

    ``source`` names the file in error messages; ``containers`` also allows builtin dict/list/tuple/bytes/
    str/int globals; ``limit`` bounds the bytes of the arrays built (default ``max_input_bytes()``).
    """
    limit = max_input_bytes() if limit is None else limit
    scan_opcodes(data, source)
    allowed = numpy_globals()
    if containers:
        allowed.update(container_globals())
    unpickler = RestrictedUnpickler(io.BytesIO(data), allowed=allowed, source=source)
    try:
        return materialize(unpickler.load(), limit)
    except DatasetError:
        raise
    except PickleRefused as exc:
        raise DatasetError(f"{source}: refused to unpickle: {exc}") from None
    except EOFError as exc:
        raise DatasetError(f"{source}: truncated pickle (the data ends early)") from exc
    except (pickle.UnpicklingError, struct.error) as exc:
        kind = "truncated pickle" if _truncation(str(exc)) else "not a valid pickle"
        raise DatasetError(f"{source}: {kind}: {exc}") from exc
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, UnicodeError, OverflowError,
            MemoryError, RecursionError) as exc:
        raise DatasetError(f"{source}: corrupted pickle: {type(exc).__name__}: {exc}") from exc
