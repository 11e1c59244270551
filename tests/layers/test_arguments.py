"""The layers' shared argument helpers: the weight budget that model loading builds under, and dtypes."""

from __future__ import annotations

import pytest

from le4nn import layers
from le4nn.layers.weight_budget import WeightBudgetExceeded, weight_budget


def test_a_weight_budget_refuses_the_layer_that_asks_too_much_before_allocating():
    with weight_budget(4 * (784 * 100 + 100), "the file 'mlp.npz'"):
        layers.Dense(100).build((None, 784))  # exactly what the budget holds
        with pytest.raises(WeightBudgetExceeded, match=r"Dense layer 'big': weight 'kernel' of shape "
                           r"\(784, 1000000000000\) needs 3,136,000,000,000,000 bytes, more than the file "
                           r"'mlp.npz' allows \(0 bytes of weights left\)"):
            layers.Dense(10**12, name="big").build((None, 784))
    layers.Dense(3).build((None, 784))  # outside the block, no budget


def test_weight_budgets_nest_and_count_every_weight():
    norm = layers.BatchNormalization(name="norm")  # gamma, beta, moving mean and variance
    with weight_budget(10**9, "outer"):
        with weight_budget(4 * 4 * 8 - 1, "inner"), pytest.raises(WeightBudgetExceeded, match="norm.*inner"):
            norm.build((None, 8))
        layers.Dense(1000).build((None, 1000))  # the outer budget is back


@pytest.mark.parametrize("dtype", ["os.system", "object", "U10", "float16", [["a", "<f4"]], {"names": ["a"]}])
def test_a_dtype_other_than_float32_or_float64_is_refused(dtype):
    with pytest.raises(ValueError, match=r"Dense layer 'dense\w*': dtype must be 'float32' or 'float64'"):
        layers.Dense(3, dtype=dtype)
