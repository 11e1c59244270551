"""Helpers shared by test files in different folders (``from tests.helpers import ...``); the fixtures
are in ``tests/conftest.py``, the op tests' own helpers in ``tests/ops/helpers.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import le4nn


def run_python(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports the same le4nn as this test session, with the
    environment changed as given (``None`` removes a variable)."""
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    package_parent = str(Path(le4nn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [package_parent, env.get("PYTHONPATH", "")] if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120)
