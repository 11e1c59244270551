"""le4nn: a readable deep-learning library, from the equations of the course handout up.

A NumPy reference path that students can read, Cython/OpenMP kernels that make it fast, and a
Keras-style API on top.  See README.md and docs/design.md.

Keras 3's top-level namespace is here too, so that keras.io's examples run with ``import le4nn as keras``::

    import le4nn as keras
    from le4nn import layers

    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(10)])
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    y_train = keras.utils.to_categorical(y_train)

``Sequential``, ``Model``, ``Input``, ``Layer`` and the submodules (``layers``, ``models``, ``datasets``,
``utils``, ``callbacks``, ``optimizers``, ``losses``, ``metrics``, ``activations``, ``initializers``,
``regularizers``, ``applications``, and le4nn's own ``gan``, ``augment``, ``schedules``, ``plot``, ...) are
imported on first use (PEP 562), so ``import le4nn`` loads only the kernels' dispatch (``le4nn.ops``) and
stays fast.  Where Keras and le4nn differ: ``docs/keras-differences.md``; in particular ``le4nn.ops`` is
the handout's kernels (im2col, pooling, softmax + cross-entropy, ...), not Keras 3's NumPy-like
``keras.ops``.
"""

import sys
import types
from typing import Any

from le4nn._threads import configure_runtime_environment

configure_runtime_environment()  # before NumPy/OpenBLAS and OpenMP start (see le4nn._threads)

from le4nn._threads import apply_env_thread_count, get_num_threads, set_num_threads  # noqa: E402
from le4nn._version import __version__  # noqa: E402
from le4nn.ops import backend, get_backend, native_available, set_backend  # noqa: E402

apply_env_thread_count()

#: The public submodules reachable as attributes of ``le4nn`` without importing them first.
SUBMODULES = ("activations", "applications", "augment", "callbacks", "clustering", "datasets", "gan",
              "gradcheck", "initializers", "layers", "losses", "metrics", "models", "optimizers", "plot",
              "regularizers", "schedules", "utils")
#: Keras 3's top-level classes: name -> the submodule that defines it.
_CLASSES = {"Sequential": "models", "Model": "models", "Input": "layers", "Layer": "layers"}


def version() -> str:
    """le4nn's version string (``keras.version()``)."""
    return __version__


def __getattr__(name: str) -> Any:
    """Import a submodule (``le4nn.layers``) or a Keras top-level class (``le4nn.Sequential``) on first use."""
    if name in _CLASSES:
        return getattr(_import_submodule(_CLASSES[name]), name)
    if name in SUBMODULES:
        return _import_submodule(name)
    raise AttributeError(f"module 'le4nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *SUBMODULES, *_CLASSES})


def _import_submodule(name: str) -> types.ModuleType:
    """The submodule ``le4nn.<name>``, imported by a plain import statement (so import-linter sees the
    dependency; ``import a.b`` rather than ``from a import b``, which would call this module's
    ``__getattr__`` again)."""
    if name == "activations":
        import le4nn.activations
    elif name == "applications":
        import le4nn.applications
    elif name == "augment":
        import le4nn.augment
    elif name == "callbacks":
        import le4nn.callbacks
    elif name == "clustering":
        import le4nn.clustering
    elif name == "datasets":
        import le4nn.datasets
    elif name == "gan":
        import le4nn.gan
    elif name == "gradcheck":
        import le4nn.gradcheck
    elif name == "initializers":
        import le4nn.initializers
    elif name == "layers":
        import le4nn.layers
    elif name == "losses":
        import le4nn.losses
    elif name == "metrics":
        import le4nn.metrics
    elif name == "models":
        import le4nn.models
    elif name == "optimizers":
        import le4nn.optimizers
    elif name == "plot":
        import le4nn.plot
    elif name == "regularizers":
        import le4nn.regularizers
    elif name == "schedules":
        import le4nn.schedules
    else:
        import le4nn.utils

        return le4nn.utils
    return sys.modules[f"le4nn.{name}"]  # the module a branch above imported


# The lazily imported names are left out, so that ``from le4nn import *`` stays as light as ``import le4nn``.
__all__ = [
    "SUBMODULES",
    "__version__",
    "backend",
    "get_backend",
    "get_num_threads",
    "native_available",
    "set_backend",
    "set_num_threads",
    "version",
]
