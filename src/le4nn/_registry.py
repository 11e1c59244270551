"""Name → class lookup and ``{"class_name", "config"}`` (de)serialization, shared by the losses,
regularizers, initializers and optimizers (Keras's ``get`` / ``serialize`` / ``deserialize``).

Each of those modules builds one :class:`Registry` from its Keras names and keeps its public
``get`` / ``serialize`` / ``deserialize`` functions as thin wrappers over it.  A name is looked up
case-insensitively among the snake_case names (``"he_normal"``, ``"mse"``), then exactly among the
class names (``"HeNormal"``), so that a config written by :meth:`Registry.serialize` reads back.

This module imports nothing from le4nn: it sits below every module that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_C = TypeVar("_C", bound="Configurable")


class Configurable:
    """What the classes a :class:`Registry` serves share: ``get_config()`` (the constructor's
    arguments, JSON-friendly; none here), ``from_config(config)`` (the object built from them) and a
    repr that shows them."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls: type[_C], config: dict[str, Any]) -> _C:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Registry:
    """The classes of one kind (``kind="loss"``, ``module="losses"``, ``base=Loss``) by name.

    ``names`` maps the snake_case names (with Keras's aliases) to the classes; every class is also
    found by its ``__name__``.  The classes implement ``get_config()`` and ``from_config(config)``.
    """

    def __init__(self, kind: str, module: str, base: type, names: dict[str, type]) -> None:
        self.kind = kind
        self.module = module
        self.base = base
        self.names = dict(names)
        self.classes = {cls.__name__: cls for cls in self.names.values()}

    def valid_names(self) -> str:
        """The snake_case names, sorted and comma-separated (what error messages list)."""
        return ", ".join(sorted(self.names))

    def lookup(self, name: str) -> type:
        """The class called ``name`` (snake_case, any case, or the class name); a ValueError lists the
        valid names; a name that is not a string is a TypeError naming it (a hostile config may hold
        a list or a dict there)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.module}: a {self.kind} name must be a string, got {name!r:.80}")
        cls = self.names.get(name.strip().lower()) or self.classes.get(name)
        if cls is None:
            raise ValueError(f"unknown {self.kind} {name!r}: valid names are {self.valid_names()}")
        return cls

    def serialize(self, obj: Any) -> dict[str, Any]:
        """``{"class_name": ..., "config": {...}}`` of an instance of the base class."""
        if not isinstance(obj, self.base):
            article = "an" if self.base.__name__[0] in "AEIOU" else "a"
            raise TypeError(f"{self.module}.serialize: expected {article} {self.base.__name__}, got {obj!r}")
        configurable: Any = obj  # an instance of the base class, which has get_config
        return {"class_name": type(obj).__name__, "config": configurable.get_config()}

    def deserialize(self, config: dict) -> Any:
        """The inverse of :meth:`serialize`."""
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"{self.module}: a config dict needs 'class_name' and 'config', got {config!r:.80}")
        arguments = config.get("config") or {}
        if not isinstance(arguments, dict):
            raise TypeError(f"{self.module}: the 'config' of a {self.kind} must be a dict, got {arguments!r:.80}")
        cls: Any = self.lookup(config["class_name"])  # a subclass of the base, which has from_config
        return cls.from_config(dict(arguments))

    def get(self, identifier: Any, *, accepts: Callable[[Any], bool] | None = None, hint: str | None = None) -> Any:
        """An instance from an instance (returned as is), a name, a config dict or a subclass (built
        with its defaults).  Anything else is returned as is when ``accepts(identifier)`` says so, or
        refused with a ValueError: "could not interpret <kind> identifier ...", or with ``hint`` (what
        to give instead) after the valid names."""
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            return self.lookup(identifier)()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if accepts is not None and accepts(identifier):
            return identifier
        if hint is None:
            raise ValueError(f"could not interpret {self.kind} identifier {identifier!r}")
        raise ValueError(f"could not interpret {self.kind} {identifier!r}: give a name ({self.valid_names()}), {hint}")
