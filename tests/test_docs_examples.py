"""Every example of the documentation site runs, and every link to a line of source still points at it.

- Every ```python block of every page under docs/ runs offline in a fresh interpreter on the bundled MNIST
  sample, as the README's do (``tests/test_readme.py``, whose runner this uses; the pages that test covers
  already are not run twice).  Examples are written small (one epoch, a few thousand images), so the whole
  set stays well under two minutes.
- Every ``le4nn-train`` / ``le4nn-predict`` command of the pages' ```bash blocks parses with the program's
  own options, so a renamed option cannot leave a tutorial's last command broken.
- Every source link ``[`name`](../src/le4nn/...#La-Lb)`` covers the lines of ``name``'s definition
  (``python tools/doc_links.py`` rewrites them after code moves).
- There is an API page for every public module of ``le4nn``.
"""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest

import le4nn
from tests.test_readme import DOCS_WITH_CODE, code_blocks, run_python_block

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python_blocks():
    return [pytest.param(page, code, id=f"{page.relative_to(DOCS).as_posix()}:{line}") for page in PAGES
            if page not in DOCS_WITH_CODE for line, code in code_blocks(page, "python")]


def test_every_tutorial_has_an_example_and_a_command():
    for page in sorted((DOCS / "course").glob("*.md")):
        if page.name == "index.md":
            continue
        assert code_blocks(page, "python"), f"{page.name} has no example"
        assert code_blocks(page, "bash"), f"{page.name} does not end with the command that trains it"
    assert len(_python_blocks()) >= 15


@pytest.mark.parametrize(("page", "code"), _python_blocks())
def test_page_example_runs_offline_on_the_bundled_sample(page, code, tmp_path):
    run_python_block(page, code, tmp_path)


def _commands():
    for page in PAGES:
        for _, block in code_blocks(page, "bash"):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                if words and words[0] in ("le4nn-train", "le4nn-predict"):
                    yield pytest.param(words, id=f"{page.relative_to(DOCS).as_posix()}: {shlex.join(words)}")


@pytest.mark.parametrize("command", list(_commands()))
def test_page_command_has_valid_options(command, capsys):
    from le4nn.cli import predict, train

    program, args = command[0], command[1:]
    if program == "le4nn-train":
        train.parse_args(args)
    else:
        predict.parse_args(args)
    assert "error" not in capsys.readouterr().err


def test_source_links_point_at_their_definitions():
    doc_links = _tool("doc_links")
    links = [link for page in PAGES for link in doc_links.LINK.finditer(page.read_text(encoding="utf-8"))]
    assert len(links) >= 50  # every equation of the course pages, and its compiled twin
    problems = doc_links.check()
    assert not problems, "run python tools/doc_links.py to update the anchors:\n" + "\n".join(problems)


def test_the_link_checker_notices_a_moved_function(tmp_path):
    doc_links = _tool("doc_links")
    source = tmp_path / "module.py"
    source.write_text("import numpy\n\n\ndef f(x):\n    return x\n\n\nclass C:\n    def g(self):\n        pass\n")
    assert doc_links.definition(source, "f") == (4, 5)
    assert doc_links.definition(source, "C.g") == (9, 10)
    assert doc_links.definition(source, "missing") is None


def test_every_public_module_has_an_api_page():
    for name in (*le4nn.SUBMODULES, "ops"):
        page = DOCS / "api" / f"{name}.md"
        assert page.is_file(), f"no API page for le4nn.{name}"
        assert f"::: le4nn.{name}" in page.read_text(encoding="utf-8")
    assert "::: le4nn\n" in (DOCS / "api" / "index.md").read_text(encoding="utf-8")
