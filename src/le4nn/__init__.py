"""le4nn: a readable deep-learning library, from the equations of the course handout up.

A NumPy reference path that students can read, Cython/OpenMP kernels that make it fast, and a
Keras-style API on top.  See README.md and docs/design.md.
"""

from le4nn._threads import configure_runtime_environment

configure_runtime_environment()  # before NumPy/OpenBLAS and OpenMP start (see le4nn._threads)

from le4nn._threads import apply_env_thread_count, get_num_threads, set_num_threads  # noqa: E402
from le4nn.ops import backend, get_backend, native_available, set_backend  # noqa: E402

__version__ = "0.1.0"

apply_env_thread_count()

__all__ = [
    "__version__",
    "backend",
    "get_backend",
    "get_num_threads",
    "native_available",
    "set_backend",
    "set_num_threads",
]
