"""The documentation site builds with ``mkdocs build --strict`` (no broken link, anchor or reference), when
MkDocs and its plugins are installed (``pip install ".[docs]"``; CI installs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason='the documentation tools are not installed (pip install ".[docs]")')
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    for page in ("index.html", "getting-started.html", "course/convolution.html", "api/layers.html",
                 "keras-differences.html", "benchmarks.html", "source/le4nn/ops/reference.py.html"):
        assert (site / page).is_file(), page
    layers = (site / "api" / "layers.html").read_text(encoding="utf-8")
    assert 'id="le4nn.layers.Dense"' in layers  # the API pages hold the docstrings
    convolution = (site / "course" / "convolution.html").read_text(encoding="utf-8")
    assert "../source/le4nn/ops/reference.py.html#__codelineno-0-" in convolution  # links to lines of source
    assert "Kernels: native vs the NumPy reference" in (site / "benchmarks.html").read_text(encoding="utf-8")
    if shutil.which("git") and (ROOT / ".git").exists():  # the default site/ is never committed
        assert subprocess.run(["git", "check-ignore", "-q", "site/index.html"], cwd=ROOT).returncode == 0

