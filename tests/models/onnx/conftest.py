"""Fixtures of the ONNX tests (the helpers and the tolerance are in ``tests/models/onnx/helpers.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.onnx.helpers import SHARED_MNIST


@pytest.fixture(scope="session")
def mnist_test_images():
    """The first 37 MNIST test images as float32 in [0, 1], (37, 28, 28); skips when absent."""
    from le4nn.datasets import mnist

    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST files are not in {SHARED_MNIST}")
    (_, _), (x_test, _) = mnist.load_data(SHARED_MNIST, download=False)
    return x_test[:37].astype(np.float32) / 255
