"""The restricted unpickler against hostile array pickles: dtype and array states, globals, opcodes, bombs.

Every hostile pickle is generated here; the ones that crashed the interpreter before (a dtype given a
sub-array or fields by BUILD) also run in a subprocess, which must end normally.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from le4nn.datasets import DatasetError, load_contest
from le4nn.datasets.safe_pickle import restricted_loads

PLAIN_STATE = (3, "|", None, None, None, -1, -1, 0)
PIXELS = bytes(range(256)) * 3 + bytes(16)  # 784 bytes: one image


def _load(tmp_path, data: bytes, name: str = "hostile.dump"):
    path = tmp_path / name
    path.write_bytes(data)
    return load_contest(path)


def _refused(tmp_path, data: bytes, message: str, name: str = "hostile.dump") -> DatasetError:
    with pytest.raises(DatasetError, match=message) as info:
        _load(tmp_path, data, name)
    assert name in str(info.value)
    return info.value


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_plain_array_loads_at_every_protocol(tmp_path, make_array_pickle, protocol):
    loaded = _load(tmp_path, make_array_pickle(PIXELS, (1, 784), protocol=protocol))
    assert loaded.shape == (1, 28, 28) and loaded.tobytes() == PIXELS


@pytest.mark.parametrize(
    ("dtype_state", "message"),
    [
        ((3, "|", (np.dtype("u1"), (1000, 1000)), None, None, -1, -1, 0), "sub-array"),
        ((3, "|", None, ("a",), {"a": (np.dtype("u1"), 1_000_000)}, -1, -1, 0), "fields"),
        ((3, "|", None, None, None, 1_000_000, 1, 0), "element size"),
        ((3, "|", None, None, None, -1, -1, 63), "flags"),
        ((4, "|", None, None, None, -1, -1, 0, {"evil": 1}), "version-3"),
        ((3, ">", None, None, None, -1, -1, 0), "byte order"),
        ((3, "|" * 40, None, None, None, -1, -1, 0), "short string"),
        ((3,), "version-3"),
        ("not a tuple", "version-3"),
    ],
    ids=["sub-array", "field-at-offset", "elsize", "object-flags", "metadata", "byte-order-of-u1", "long-order",
         "short-state", "string-state"],
)
@pytest.mark.parametrize("protocol", [2, 5])
def test_dtype_states_other_than_plain_are_refused(tmp_path, make_array_pickle, dtype_state, message, protocol):
    _refused(tmp_path, make_array_pickle(PIXELS, (1, 784), dtype_state=dtype_state, protocol=protocol), message)


@pytest.mark.parametrize(
    ("name", "message"),
    [("O8", "'O8' is refused"), ("V8", "'V8' is refused"), ("S8", "'S8' is refused"), ("M8[s]", "refused"),
     ("u1,u1", "refused")],
)
def test_dtypes_other_than_plain_numbers_are_refused(tmp_path, make_array_pickle, name, message):
    _refused(tmp_path, make_array_pickle(PIXELS, (1, 784), dtype_name=name), message)


@pytest.mark.parametrize(
    ("shape", "raw", "message"),
    [
        ((1000, 1000), PIXELS, "needs 1000000 bytes, its data holds 784"),
        ((1, 783), PIXELS, "needs 783 bytes"),
        ((2**40, 2**40), PIXELS, "needs 1208925819614629174706176 bytes"),
        ((-1, 784), PIXELS, "non-negative"),
        ((1.0, 784), PIXELS, "non-negative integers"),
        ((1,) * 33 + (784,), PIXELS, "at most 32"),
        ([1, 784], PIXELS, "must be a tuple"),
        ((1, 784), list(PIXELS), "must be bytes.*object arrays"),
    ],
    ids=["larger-than-buffer", "smaller-than-buffer", "overflowing", "negative", "float-size", "33-dims",
         "list-shape", "list-data"],
)
def test_array_states_that_do_not_match_their_buffer_are_refused(tmp_path, make_array_pickle, shape, raw, message):
    _refused(tmp_path, make_array_pickle(raw, shape), message)


def test_other_array_states_are_refused(tmp_path, make_array_pickle):
    dtype = np.dtype("u1")
    _refused(tmp_path, make_array_pickle(PIXELS, (1, 784), is_fortran=2), "is_fortran")
    _refused(tmp_path, make_array_pickle(PIXELS, (1, 784), array_state=(0, (1, 784), dtype, False, PIXELS)),
             "version-1")
    _refused(tmp_path, make_array_pickle(PIXELS, (1, 784), array_state=(1, (1, 784), "u1", False, PIXELS)),
             "dtype must be a numpy.dtype")


@pytest.mark.parametrize("protocol", [2, 5])
def test_fortran_order_and_big_endian_arrays_load_as_numpy_loads_them(make_array_pickle, protocol):
    values = (np.arange(784) % 251).astype(">i4").reshape(28, 28)
    state = (3, ">", None, None, None, -1, -1, 0)
    data = make_array_pickle(values.tobytes(order="F"), (28, 28), dtype_name="i4", dtype_state=state,
                             is_fortran=True, protocol=protocol)
    expected = pickle.loads(data)  # a plain dtype: safe for NumPy itself
    loaded = restricted_loads(data, source="x")
    assert np.array_equal(loaded, expected) and np.array_equal(loaded, values) and loaded.dtype.isnative
    fortran = np.asfortranarray(values.astype("<f8"))
    assert np.array_equal(restricted_loads(pickle.dumps(fortran, protocol=protocol), source="x"), fortran)


def test_the_arrays_are_private_writable_copies(make_array_pickle):
    array = restricted_loads(make_array_pickle(PIXELS, (1, 784), protocol=5), source="x")
    assert array.flags.writeable and array.flags.owndata and array.flags.c_contiguous


class _Call:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda marker: _Call(os.system, f"touch {marker}"), "system"),
        (lambda marker: _Call(eval, f"open({str(marker)!r}, 'w')"), "eval"),
        (lambda marker: _Call(np.load, str(marker)), "load"),
        (lambda marker: _Call(np.ndarray, (10**12,)), "numpy.ndarray may only be named"),
        (lambda marker: _Call(getattr, "text", "join"), "getattr"),
    ],
    ids=["os.system", "builtins.eval", "numpy.load", "numpy.ndarray-call", "getattr"],
)
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_reduce_of_other_globals_is_refused_without_running(tmp_path, make, message, protocol):
    marker = tmp_path / "pwned"
    _refused(tmp_path, pickle.dumps(make(marker), protocol=protocol), message)
    assert not marker.exists()


def test_build_cannot_change_an_allowed_global(tmp_path, make_array_pickle):
    """BUILD on numpy.dtype itself (the stand-in) with a slot state: refused, the next load unaffected."""
    poisoned = b"\x80\x02cnumpy\ndtype\nN}X\x04\x00\x00\x00name\x4b\x01s\x86b."
    _refused(tmp_path, poisoned, "tries to change numpy.dtype")
    assert _load(tmp_path, make_array_pickle(PIXELS, (1, 784)), "ok.dump").tobytes() == PIXELS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x02]r\xff\xff\xff\x7f.", "memo index 2147483647"),  # a 16 GiB memo in the C unpickler
        (b"(lp999999999999\n.", "memo index 999999999999"),
        (b"\x80\x02K\x01Q.", "PERSID|BINPERSID|persistent"),
        (b"\x80\x02\x82\x01.", "EXT1"),
        (b"\x80\x05\x97.", "NEXT_BUFFER"),
        (b"\x80\x02cnumpy\ndtype\n)\x81.", "NEWOBJ"),
        (b"\x80\x02\xff.", "unknown opcode"),
        (b"\x80\x02B\xff\xff\xff\x7f", "truncated"),  # BINBYTES declaring 2 GiB
        (b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f.", "truncated|not a valid pickle"),  # a FRAME of 2**63 bytes
        (b"\x80\x02]", "truncated"),
    ],
    ids=["memo-bomb", "text-memo-bomb", "persistent-id", "extension", "out-of-band", "newobj", "bad-opcode",
         "huge-bytes", "huge-frame", "no-stop"],
)
def test_opcodes_no_array_pickle_uses_are_refused_before_loading(tmp_path, data, message):
    _refused(tmp_path, data, message)


def test_container_stand_ins_refuse_allocating_arguments():
    for data, message in [
        (b"\x80\x02c__builtin__\nbytes\nJ\xff\xff\xff\x7f\x85R.", r"bytes\(\) is only accepted"),
        (b"\x80\x02cbuiltins\nint\nX\x05\x00\x00\x0012345\x85R.", None),
        (b"\x80\x02cbuiltins\nlist\nX\x03\x00\x00\x00abc\x85R.", r"list\(\) is only accepted"),
    ]:
        if message is None:
            assert restricted_loads(data, source="batch", containers=True) == 12345
            continue
        with pytest.raises(DatasetError, match=f"batch: refused to unpickle: {message}"):
            restricted_loads(data, source="batch", containers=True)


def test_cyclic_and_deeply_nested_containers_are_refused():
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(DatasetError, match="batch: .*cyclic"):
        restricted_loads(pickle.dumps(cyclic, protocol=2), source="batch", containers=True)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(DatasetError, match="batch: .*nested more than"):
        restricted_loads(pickle.dumps(deep, protocol=2), source="batch", containers=True)


def test_shared_parts_are_rebuilt_once_and_stay_shared_as_pickle_keeps_them(make_array_pickle):
    """One 784-byte array referenced 2000 times is one array (as ``pickle`` gives it), counted once
    against the size limit, instead of 2000 copies."""
    one = make_array_pickle(PIXELS, (1, 784), protocol=2)
    body = one[2:-1]  # the array, without PROTO and STOP
    data = b"\x80\x02" + body + b"q\x00" + b"(" + b"h\x00" * 2000 + b"l."
    loaded = restricted_loads(data, source="many.dump", containers=True, limit=1000)
    assert len(loaded) == 2000 and all(a is loaded[0] for a in loaded)
    with pytest.raises(DatasetError, match="more memory than the size limit"):
        restricted_loads(data, source="many.dump", containers=True, limit=700)


def test_a_list_that_references_itself_over_and_over_loads_in_linear_time():
    """``a = [a, a]`` forty times: 2⁴⁰ paths through 41 lists in a pickle of a few hundred bytes.  Walked
    path by path it never ends (24 levels took minutes); each list is rebuilt once."""
    shared: list = [0]
    for _ in range(40):
        shared = [shared, shared]
    data = pickle.dumps(shared, protocol=2)
    assert len(data) < 500
    loaded = restricted_loads(data, source="bomb.dump", containers=True)
    assert loaded[0] is loaded[1]


def test_a_pickle_of_more_objects_than_the_limit_is_refused(monkeypatch):
    from le4nn.datasets import pickled_arrays

    monkeypatch.setattr(pickled_arrays, "MAX_NODES", 100)
    data = pickle.dumps([[i] for i in range(200)], protocol=2)
    with pytest.raises(DatasetError, match="many.dump: .*more than 100 objects"):
        restricted_loads(data, source="many.dump", containers=True)


CRASHERS = textwrap.dedent(
    """
    import sys
    sys.path[:0] = sys.argv[1:3]
    import numpy as np
    from conftest import array_pickle
    from le4nn.datasets import DatasetError, load_contest
    from pathlib import Path

    state = lambda sub, names, fields: (3, "|", sub, names, fields, -1, -1, 0)
    hostile = [
        array_pickle(bytes(8), (1, 784), dtype_state=state((np.dtype("u1"), (1000, 1000)), None, None)),
        array_pickle(bytes(8), (1, 784), dtype_state=state(None, ("a",), {"a": (np.dtype("u1"), 10**6)})),
        array_pickle(bytes(8), (1, 784), dtype_state=(3, "|", None, None, None, 10**6, 1, 0)),
        array_pickle(bytes(8), (10**6, 784)),
    ]
    refused = 0
    for i, data in enumerate(hostile):
        path = Path(sys.argv[3]) / f"crash{i}.dump"
        path.write_bytes(data)
        try:
            images = load_contest(path)
            print("loaded", images.sum())
        except DatasetError as exc:
            assert str(path) in str(exc), exc
            refused += 1
    print("refused", refused)
    """
)


def test_the_dumps_that_crashed_the_interpreter_are_refused_in_a_subprocess(tmp_path):
    import le4nn

    src = os.path.dirname(os.path.dirname(le4nn.__file__))
    here = os.path.dirname(__file__)
    result = subprocess.run([sys.executable, "-c", CRASHERS, src, here, str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"status {result.returncode}: {result.stderr[-2000:]}"
    assert "refused 4" in result.stdout


def test_struct_sized_pickle_of_8kb_like_the_issue(tmp_path, make_array_pickle):
    """The issue's 8 KB dump: a u1 dtype whose BUILD gives it a (1000, 1000) sub-array."""
    state = (3, "|", (np.dtype("u1"), (1000, 1000)), None, None, -1, -1, 0)
    data = make_array_pickle(bytes(8 * 784), (8, 784), dtype_state=state)
    assert len(data) < 9000 and struct.calcsize("B") == 1
    _refused(tmp_path, data, "sub-array")
