"""The type hints of le4nn's public API cannot rot (issue 20).

Every public function, and every public method of a public class, of the modules users import has
an annotation on each parameter (``*args``/``**kwargs`` included) and on its return value; mypy
(``[tool.mypy]`` in pyproject.toml, run by ``.ci/run``) then checks them against the code.  The
package is marked typed (PEP 561 ``py.typed``), so the hints reach users' type checkers.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import le4nn

ROOT = Path(__file__).resolve().parents[1]

#: The modules a user imports: the package, its lazily imported submodules, and the ops (the
#: dispatchers take the signatures of ``le4nn.ops.reference``, which the native twins repeat).
PUBLIC_MODULES = ("le4nn", *(f"le4nn.{name}" for name in le4nn.SUBMODULES), "le4nn.ops", "le4nn.ops.reference")

#: Dunder methods that are part of a class's public behaviour (the others are Python protocol).
PUBLIC_DUNDERS = ("__init__", "__call__")


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return [name for name in names if name not in ("annotations",)]


def _is_ours(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "le4nn"


def _class_functions(cls: type) -> Iterator[tuple[str, Callable]]:
    """The public methods (and property getters) of ``cls`` and of its le4nn base classes."""
    for klass in cls.__mro__:
        if not _is_ours(klass):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") and name not in PUBLIC_DUNDERS:
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                yield f"{klass.__qualname__}.{name}", member


def _modules() -> Iterator[object]:
    """The public modules, and the submodules they export (``le4nn.datasets.mnist``, ...)."""
    queue = [importlib.import_module(name) for name in PUBLIC_MODULES]
    done: set[str] = set()
    while queue:
        module = queue.pop(0)
        if module.__name__ in done:
            continue
        done.add(module.__name__)
        yield module
        for name in _public_names(module):
            obj = getattr(module, name, None)
            if inspect.ismodule(obj) and obj.__name__.startswith(module.__name__ + "."):
                queue.append(obj)


def public_functions() -> dict[str, Callable]:
    """``"module.qualname" -> function`` for the whole public API (each function once)."""
    found: dict[str, Callable] = {}
    seen: set[int] = set()
    for module in _modules():
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and _is_ours(obj):
                members = list(_class_functions(obj))
            elif inspect.isfunction(obj) and _is_ours(obj):
                members = [(obj.__qualname__, obj)]
            else:
                continue
            for qualname, function in members:
                if id(function) not in seen:
                    seen.add(id(function))
                    found[f"{function.__module__}.{qualname}"] = function
    return found


def missing_annotations(function: Callable) -> list[str]:
    """The parameters (and ``"return"``) of ``function`` without an annotation.  As mypy reads it,
    an ``__init__`` whose parameters are annotated needs no ``-> None``."""
    signature = inspect.signature(function)
    missing = [
        name for name, parameter in signature.parameters.items()
        if name not in ("self", "cls") and parameter.annotation is inspect.Parameter.empty
    ]
    if signature.return_annotation is inspect.Signature.empty:
        typed_init = function.__name__ == "__init__" and len(signature.parameters) > 1 and not missing
        if not typed_init:
            missing.append("return")
    return missing


PUBLIC = public_functions()


def test_the_walk_finds_the_public_api():
    """The walk sees what a user calls, so the check below is not vacuous."""
    assert len(PUBLIC) > 400
    for name in ("le4nn.layers.core.Dense.__init__", "le4nn.models.trainer.Trainer.fit",
                 "le4nn.ops.reference.im2col", "le4nn.models.saving.load_model", "le4nn.utils.to_categorical",
                 "le4nn.callbacks.core.Callback.on_epoch_end", "le4nn.optimizers.Adam.__init__",
                 "le4nn.datasets.mnist.load_data"):
        assert name in PUBLIC, name


def test_missing_annotations_are_found():
    def untyped(x, y: int, *args, **kwargs):
        return x

    def typed(x: int, *args: int, **kwargs: str) -> int:
        return x

    class Untyped:
        def __init__(self, a):
            self.a = a

    class Typed:
        def __init__(self, a: int):
            self.a = a

    assert missing_annotations(untyped) == ["x", "args", "kwargs", "return"]
    assert missing_annotations(typed) == []
    assert missing_annotations(Untyped.__init__) == ["a", "return"]
    assert missing_annotations(Typed.__init__) == []


@pytest.mark.parametrize("module_name", sorted({function.__module__ for function in PUBLIC.values()}))
def test_public_functions_are_annotated(module_name):
    missing = {
        name: gaps for name, function in PUBLIC.items()
        if function.__module__ == module_name and (gaps := missing_annotations(function))
    }
    assert not missing, "public functions without type hints:\n" + "\n".join(
        f"  {name}: {', '.join(gaps)}" for name, gaps in sorted(missing.items()))


def test_the_ops_dispatchers_show_the_reference_hints():
    """``le4nn.ops.im2col`` (the dispatcher) has the hints of the reference op it forwards to."""
    from le4nn import ops

    for name in ops.OPS:
        dispatched = inspect.signature(getattr(ops, name))
        assert dispatched == inspect.signature(getattr(ops.reference, name)), name
        assert dispatched.return_annotation is not inspect.Signature.empty, name


def test_the_package_is_marked_typed():
    """PEP 561: the marker sits in the package (the installed one too: the wheel takes every file
    under src/le4nn except the Cython and C sources)."""
    assert (Path(le4nn.__file__).parent / "py.typed").is_file()
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["scikit-build"]["wheel"]
    assert wheel["packages"] == ["src/le4nn"]
    assert not any(pattern.endswith(("typed", "*")) for pattern in wheel.get("exclude", []))


def test_mypy_checks_the_whole_package():
    """The type checker's configuration: all of src/le4nn, no blanket error switch-off."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert mypy["files"] == ["src/le4nn"]
    assert mypy.get("check_untyped_defs") is True
    overrides = mypy.get("overrides", [])
    assert not any(o.get("ignore_errors") for o in [mypy, *overrides])
    ignored = {m for o in overrides if o.get("ignore_missing_imports") for m in o["module"]}
    assert not any(m.startswith("le4nn") and not m.startswith("le4nn._kernels") for m in ignored)
    strict = {m for o in overrides if o.get("disallow_untyped_defs") for m in o["module"]}
    for module in ("le4nn.layers.base", "le4nn.models.model", "le4nn.ops.reference", "le4nn.losses", "le4nn.utils"):
        assert module in strict, f"{module}: every function must be annotated (disallow_untyped_defs)"
    assert "python -m mypy" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")

