"""Shared fixtures.  The suite runs against whatever le4nn is importable (the installed package in CI,
``PYTHONPATH=src`` in development) and under the backend chosen by ``LE4NN_BACKEND``."""

from __future__ import annotations

import numpy as np
import pytest

import le4nn
from le4nn import ops


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    """PyTorch as an oracle; the test is skipped with a reason when it is not installed."""
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")


@pytest.fixture
def native():
    """Skip the test when the compiled kernels are not built."""
    if not ops.native_available():
        pytest.skip("the compiled kernels are not built (pip install . or python tools/build_inplace.py)")


def _run_both(op_name: str, *args, **kwargs):
    """Run one op on the native and the reference backend; return (native result, reference result)."""
    with le4nn.backend("native"):
        native_result = getattr(ops, op_name)(*args, **kwargs)
    with le4nn.backend("numpy"):
        reference_result = getattr(ops, op_name)(*args, **kwargs)
    return native_result, reference_result


@pytest.fixture
def run_both(native):
    """``run_both(op_name, *args, **kwargs) -> (native result, reference result)``."""
    return _run_both


def pytest_report_header(config):
    return (
        f"le4nn {le4nn.__version__} from {le4nn.__file__}; backend {le4nn.get_backend()}; "
        f"threads {le4nn.get_num_threads()}"
    )
