"""The decorator that gives each compiled wrapper (:mod:`le4nn.ops.native`, :mod:`le4nn.ops.native_winograd`)
its reference twin's docstring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def same_docs(reference_function: Callable[..., Any]) -> Callable[[_F], _F]:
    """Give a wrapper the reference's docstring (the semantics are the same)."""

    def decorate(function: _F) -> _F:
        function.__doc__ = reference_function.__doc__
        return function

    return decorate
