"""Links from the documentation to the lines of source that compute each equation, kept exact.

A page links to a definition as ``[`name`](../src/le4nn/ops/reference.py#L383-L391)``: the link text names
the function, class or method (``Adam._update``; for Cython and C files the name in a ``def``, ``cdef`` or
C definition line) and the anchor gives the lines of its definition.  :func:`check` lists every link whose
lines no longer hold its definition (the test suite runs it); ``python tools/doc_links.py`` rewrites the
anchors of every page from the source as it is now, so moving code never leaves a link pointing elsewhere.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: ``[`name`](relative/path/to/src/le4nn/file#La-Lb)``: name, path (from the page), first and last line.
LINK = re.compile(r"\[`(?P<name>[\w.]+)`\]\((?P<path>(?:\.\./)+src/le4nn/[\w/]+\.(?:py|pyx|pxi|h))"
                  r"#L(?P<start>\d+)(?:-L(?P<end>\d+))?\)")


def pages() -> list[Path]:
    """Every Markdown page of the site."""
    return sorted(DOCS.rglob("*.md"))


def _python_definition(path: Path, name: str) -> tuple[int, int] | None:
    scope: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    node = None
    for part in name.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                     and n.name == part), None)
        if node is None:
            return None
        scope = node.body
    return node.lineno, node.end_lineno


def _compiled_definition(path: Path, name: str) -> tuple[int, int] | None:
    """A ``def``/``cdef``/``cpdef`` of Cython (to the next top-level line) or a C function (to its ``}``)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(rf"^(?:(?:c?p?def|cdef)\b.*\b{re.escape(name)}\s*\(|\w.*\b{re.escape(name)}(?:_?##\w+)?\s*\()")
    for number, line in enumerate(lines, 1):
        if pattern.match(line):
            end = number
            for later in range(number, len(lines)):
                text = lines[later]
                if path.suffix == ".h" and text.startswith("}"):
                    end = later + 1
                    break
                if path.suffix != ".h" and text and not text[0].isspace() and not text.startswith("#"):
                    break
                if text.strip():
                    end = later + 1
            return number, end
    return None


def definition(path: Path, name: str) -> tuple[int, int] | None:
    """First and last line of ``name``'s definition in ``path`` (None if it has none)."""
    if path.suffix == ".py":
        return _python_definition(path, name)
    return _compiled_definition(path, name)


def _target(page: Path, link: re.Match) -> Path:
    return (page.parent / link["path"]).resolve()


def check() -> list[str]:
    """Every source link of the pages whose lines are not its definition's, as readable lines."""
    problems = []
    for page in pages():
        for link in LINK.finditer(page.read_text(encoding="utf-8")):
            target = _target(page, link)
            where = f"{page.relative_to(ROOT)}: {link[0]}"
            if not target.is_file():
                problems.append(f"{where}: no file {target}")
                continue
            found = definition(target, link["name"])
            linked = (int(link["start"]), int(link["end"] or link["start"]))
            if found is None:
                problems.append(f"{where}: {link['name']} is not defined in {target.name}")
            elif found != linked:
                problems.append(f"{where}: {link['name']} is at lines {found[0]}-{found[1]} now")
    return problems


def update() -> int:
    """Rewrite every page's source anchors from the source; returns the number of links changed."""
    changed = 0
    for page in pages():
        text = page.read_text(encoding="utf-8")

        def fixed(link: re.Match, page: Path = page) -> str:
            found = definition(_target(page, link), link["name"])
            if found is None:
                return link[0]
            return f"[`{link['name']}`]({link['path']}#L{found[0]}-L{found[1]})"

        new = LINK.sub(fixed, text)
        changed += sum(a != b for a, b in zip(LINK.findall(text), LINK.findall(new), strict=True))
        if new != text:
            page.write_text(new, encoding="utf-8")
    return changed


if __name__ == "__main__":
    print(f"{update()} link(s) updated")
    remaining = check()
    print("\n".join(remaining))
    sys.exit(1 if remaining else 0)
