"""The shape of the source tree a newcomer reads (issue 16): small modules, short functions, and no
module reaching into another's private names.  The import layering itself is checked by import-linter
(contracts in pyproject.toml, run by ``.ci/run``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "le4nn"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: The NumPy equations one after the other, as the handout has them: long, but still bounded.
TEXTBOOK_FILES = {"ops/reference.py": 700}


def _sources(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in SRC.rglob(pattern) if "build" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


@pytest.mark.parametrize("path", _sources("*.py", "*.pyx", "*.h"), ids=_name)
def test_module_is_small(path):
    limit = TEXTBOOK_FILES.get(_name(path), MAX_MODULE_LINES)
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= limit, f"{_name(path)} has {lines} lines; split it by job"


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


@pytest.mark.parametrize("path", _sources("*.py"), ids=_name)
def test_functions_are_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines, line {f.lineno})"
            for f in _functions(tree) if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{_name(path)}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


@pytest.mark.parametrize("path", _sources("*.py"), ids=_name)
def test_no_private_names_from_other_modules(path):
    """``from le4nn.x import _y`` only where ``_y`` is a module, or ``le4nn.x`` is a private module of the
    importer's own package (``layers/_arguments.py`` serves the layers); never another module's private
    function or class (``gan`` importing ``models``' ``_GracefulInterrupt`` was the case that prompted it)."""
    module = _module_name(path)
    package = _package(module, path)
    offending = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("le4nn"):
            continue
        source = node.module
        same_package_private = source.rpartition(".")[0] == package and source.rpartition(".")[2].startswith("_")
        for alias in node.names:
            if not alias.name.startswith("_") or alias.name.startswith("__"):
                continue
            if (SRC.parent / (source + "." + alias.name).replace(".", "/")).exists() or \
                    (SRC.parent / f"{(source + '.' + alias.name).replace('.', '/')}.py").exists():
                continue  # a (private) module, e.g. from le4nn import _threads
            if source == module or same_package_private:
                continue
            offending.append(f"from {source} import {alias.name} (line {node.lineno})")
    assert not offending, f"{_name(path)} imports private names: {'; '.join(offending)}"
