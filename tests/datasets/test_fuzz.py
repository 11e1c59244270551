"""Bounded fuzzing of the contest-dump and idx readers: mutated valid files load correctly or are refused.

Byte flips, truncations, inserted opcodes and deletions of valid dumps (protocols 0–5, Python 2 and 3
writers) and idx files: every outcome is either a plain uint8 image array or a :class:`DatasetError`
naming the file.  The same mutations also run in a subprocess, which must not die of a signal.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import pickletools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from le4nn.datasets import DatasetError, load_contest, load_idx
from le4nn.datasets.idx import encode_idx, gzip_bytes

IMAGES = np.random.default_rng(3).integers(0, 256, (3, 784), dtype=np.uint8)
OPCODES = [op.code.encode("latin-1") for op in pickletools.opcodes]


def _conftest():
    """This folder's conftest.py as a module (its Python 2 pickle writers), also from the subprocess."""
    spec = importlib.util.spec_from_file_location("datasets_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def valid_dumps() -> list[bytes]:
    py2_pickle_protocol0, py2_pickle_protocol2 = _conftest().py2_pickle_protocol0, _conftest().py2_pickle_protocol2
    dumps = [pickle.dumps(IMAGES, protocol=p) for p in range(2, 6)]
    dumps += [py2_pickle_protocol0(IMAGES), py2_pickle_protocol2(IMAGES.reshape(3, 28, 28))]
    return dumps + [gzip_bytes(dumps[0])]


DUMPS = valid_dumps()


def mutate(data: bytes, kind: str, position: int, payload: bytes) -> bytes:
    position %= len(data) + 1
    if kind == "flip":
        position = min(position, len(data) - 1)
        return data[:position] + bytes([data[position] ^ (payload[0] | 1)]) + data[position + 1:]
    if kind == "truncate":
        return data[:position]
    if kind == "insert":
        return data[:position] + payload + data[position:]
    return data[:position] + data[position + len(payload):]  # delete


mutations = st.tuples(
    st.sampled_from(range(len(DUMPS))),
    st.sampled_from(["flip", "truncate", "insert", "delete"]),
    st.integers(0, 10**6),
    st.one_of(st.sampled_from(OPCODES), st.binary(min_size=1, max_size=12),
              st.tuples(st.sampled_from(OPCODES), st.binary(max_size=9)).map(lambda t: t[0] + t[1])),
)


def check_outcome(path) -> str:
    """Load ``path``; a result must be a plain uint8 image batch, a refusal must name the file."""
    try:
        images = load_contest(path)
    except DatasetError as exc:
        assert str(path) in str(exc)
        return "refused"
    assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28)
    assert images.flags.c_contiguous and images.nbytes == images.size
    int(images.astype(np.int64).sum())  # every byte is readable
    return "loaded"


pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")

dtype_states = st.tuples(
    st.sampled_from([3, 3, 3, 4, 2]),
    st.sampled_from(["|", "|", "<", ">", "=", b"|"]),
    st.sampled_from([None, None, (np.dtype("u1"), (1000, 1000)), (np.dtype("u1"), (2,))]),
    st.sampled_from([None, None, ("a",)]),
    st.sampled_from([None, None, {"a": (np.dtype("u1"), 10**6)}, {"a": (np.dtype("u1"), 0)}]),
    st.sampled_from([-1, -1, 1, 10**6]),
    st.sampled_from([-1, -1, 1]),
    st.sampled_from([0, 0, 63, 1]),
)
shapes = st.lists(st.one_of(st.sampled_from([0, 1, 3, 28, 784]), st.integers(-2, 2**62)), max_size=5).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=dtype_states, shape=shapes, name=st.sampled_from(["u1", "u1", "i8", "f4", "O8", "b1"]),
       protocol=st.integers(2, 5), pixels=st.sampled_from([784, 3 * 784, 8]))
def test_hostile_dtype_states_and_shapes_load_or_are_refused(tmp_path, make_array_pickle, state, shape, name,
                                                             protocol, pixels):
    path = tmp_path / "state.dump"
    path.write_bytes(make_array_pickle(bytes(pixels), shape, dtype_name=name, dtype_state=state,
                                       protocol=protocol))
    if check_outcome(path) == "loaded":  # only a plain u1 dtype of exactly the buffer's size gets through
        assert state[1:] in ((("|",) + (None,) * 3 + (-1, -1, 0)), ((b"|",) + (None,) * 3 + (-1, -1, 0)))
        assert name == "u1" and int(np.prod(shape)) == pixels


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=mutations)
def test_mutated_dumps_load_or_are_refused(tmp_path, mutation):
    index, kind, position, payload = mutation
    path = tmp_path / "mutated.dump"
    path.write_bytes(mutate(DUMPS[index], kind, position, payload))
    check_outcome(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 783), xor=st.integers(1, 255), protocol=st.sampled_from([3, 4, 5]))
def test_a_flipped_pixel_byte_loads_exactly_that_pixel(tmp_path, position, xor, protocol):
    data = pickle.dumps(IMAGES[:1], protocol=protocol)
    start = data.index(IMAGES[:1].tobytes())
    path = tmp_path / "flipped.dump"
    path.write_bytes(mutate(data, "flip", start + position, bytes([xor])))
    expected = IMAGES[:1].copy().reshape(784)
    expected[position] ^= xor | 1
    assert np.array_equal(load_contest(path).reshape(784), expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gz=st.booleans(), kind=st.sampled_from(["flip", "truncate", "insert", "delete"]),
       position=st.integers(0, 10**4), payload=st.binary(min_size=1, max_size=8))
def test_mutated_idx_files_load_or_are_refused(tmp_path, gz, kind, position, payload):
    raw = encode_idx(IMAGES.reshape(3, 28, 28))
    path = tmp_path / "mutated-idx3-ubyte"
    path.write_bytes(mutate(gzip_bytes(raw) if gz else raw, kind, position, payload))
    try:
        array = load_idx(path)
    except DatasetError as exc:
        assert str(path) in str(exc)
        return
    assert array.dtype.isnative and array.nbytes <= len(raw) + 4 * 255
    int(np.asarray(array, dtype=np.float64).sum())


REPLAY = textwrap.dedent(
    """
    import random, sys
    sys.path[:0] = sys.argv[1:3]
    from pathlib import Path
    import test_fuzz as fuzz

    rng = random.Random(1234)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(int(sys.argv[4])):
        data = fuzz.DUMPS[rng.randrange(len(fuzz.DUMPS))]
        kind = rng.choice(["flip", "truncate", "insert", "delete"])
        payload = rng.choice(fuzz.OPCODES) + bytes(rng.randrange(256) for _ in range(rng.randrange(6)))
        path = Path(sys.argv[3]) / f"m{i}.dump"
        path.write_bytes(fuzz.mutate(data, kind, rng.randrange(10**6), payload))
        outcomes[fuzz.check_outcome(path)] += 1
    print(outcomes)
    """
)


@pytest.mark.parametrize("count", [400])
def test_mutated_dumps_never_kill_the_interpreter(tmp_path, count):
    import le4nn

    src = os.path.dirname(os.path.dirname(le4nn.__file__))
    here = os.path.dirname(__file__)
    result = subprocess.run([sys.executable, "-c", REPLAY, src, here, str(tmp_path), str(count)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"status {result.returncode} (negative: killed by a signal): {result.stderr[-2000:]}"
    assert "'refused'" in result.stdout
