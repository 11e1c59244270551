"""MkDocs hook (``hooks:`` in mkdocs.yml): the site shows the source lines the pages link to.

The pages link to source as GitHub shows it, ``../src/le4nn/ops/reference.py#L383-L391`` (see
tools/doc_links.py, which keeps those lines exact).  Such a path leaves the docs folder, which
``mkdocs build --strict`` refuses; this hook adds one generated page per linked source file (the file with
numbered, anchored lines, under ``source/``) and points each link at its first line there, so the built
site is whole and offline.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_links import LINK, ROOT  # noqa: E402

LANGUAGES = {".py": "python", ".pyx": "cython", ".pxi": "cython", ".h": "c"}
#: The line anchors pymdownx.highlight writes (``anchor_linenums``): ``__codelineno-<block>-<line>``.
LINE_ANCHOR = re.compile(r'(?:id|name)="(__codelineno-\d+-\d+)"')


def _source_uri(page_uri: str, link_path: str) -> str:
    """``source/le4nn/ops/reference.py.md`` for a link from ``page_uri`` (in docs/) to src/le4nn/..."""
    repository_path = posixpath.normpath(posixpath.join("docs", posixpath.dirname(page_uri), link_path))
    return "source/" + posixpath.relpath(repository_path, "src") + ".md"


def _source_page(uri: str) -> str:
    relative = "src/" + uri.removeprefix("source/").removesuffix(".md")
    text = (ROOT / relative).read_text(encoding="utf-8")
    fence = "`" * 4
    return (f"# {relative}\n\nThe file as it is in this version of le4nn; the tutorials link to its lines.\n\n"
            f'{fence}{LANGUAGES[Path(relative).suffix]} linenums="1"\n{text}{fence}\n')


def on_files(files, config):
    wanted = set()
    for page in files.documentation_pages():
        for link in LINK.finditer(page.content_string):
            wanted.add(_source_uri(page.src_uri, link["path"]))
    for uri in sorted(wanted):
        files.append(File.generated(config, uri, content=_source_page(uri)))
    return files


def on_page_markdown(markdown, page, config, files):
    here = posixpath.dirname(page.file.src_uri)

    def local(link):
        target = posixpath.relpath(_source_uri(page.file.src_uri, link["path"]), here or ".")
        return f"[`{link['name']}`]({target}#__codelineno-0-{link['start']})"

    return LINK.sub(local, markdown)


def on_page_content(html, page, config, files):
    """MkDocs checks each link's anchor against the ids it saw while rendering Markdown, which do not include
    those of highlighted code (raw HTML); on the source pages, add the line anchors the HTML really has."""
    if page.file.src_uri.startswith("source/"):
        page.present_anchor_ids.update(LINE_ANCHOR.findall(html))
    return html
