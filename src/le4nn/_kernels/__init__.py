"""Compiled Cython/OpenMP kernels.  Use them through :mod:`le4nn.ops`, never directly."""
