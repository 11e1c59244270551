"""Helpers shared by test files in different folders (``from tests.helpers import ...``); the fixtures
are in ``tests/conftest.py``, the op tests' own helpers in ``tests/ops/helpers.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import le4nn


def run_python(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports the same le4nn as this test session, with the
    environment changed as given (``None`` removes a variable)."""
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    package_parent = str(Path(le4nn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [package_parent, env.get("PYTHONPATH", "")] if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120)


def model_gradient_errors(model, xs, ys, loss) -> dict[str, float]:
    """Per weight ("<layer>/<param>"): the relative error between the gradient a training step of
    ``model`` computes (learning rate 0: the weights stay) and central differences of its loss (from
    ``evaluate``, a forward pass only).  Use float64 models."""
    import numpy as np

    from le4nn import gradcheck, optimizers

    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss=loss)
    before = model.get_weights()
    model.train_on_batch(xs, ys)
    assert all(np.array_equal(w0, w1) for w0, w1 in zip(before, model.get_weights(), strict=True))
    batch = len(xs[0]) if isinstance(xs, list) else len(xs)

    def objective() -> float:
        return model.evaluate(xs, ys, batch_size=batch, verbose=0, return_dict=True)["loss"]

    return {f"{layer.name}/{name}": gradcheck.relative_error(layer.grads[name],
                                                            gradcheck.numerical_gradient(objective, param))
            for layer in model.layers for name, param in layer.params.items()}
