"""``python -m le4nn`` (``le4nn.__main__``): a bad option or environment variable is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import le4nn


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    src = str(Path(le4nn.__file__).resolve().parent.parent)
    environment = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run([sys.executable, "-m", "le4nn", *args], capture_output=True, text=True, env=environment,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--repeat", "0"], {}, "argument --repeat: must be an integer in 1..1000, got '0'"),  # printed inf/nan
        (["--repeat", "100000000"], {}, "argument --repeat: must be an integer in 1..1000, got '100000000'"),
        (["--repeat", "abc"], {}, "argument --repeat: expected an integer, got 'abc'"),
        ([], {"LE4NN_BACKEND": "bogus"}, "LE4NN_BACKEND must be one of native, numpy, got 'bogus'"),
        ([], {"LE4NN_NUM_THREADS": "0"}, "LE4NN_NUM_THREADS must be a positive integer, got '0'"),
    ],
    ids=["repeat-0", "repeat-huge", "repeat-word", "backend-bogus", "threads-0"],
)
def test_bad_option_or_environment_is_one_line(args, env, message):
    result = _run(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"python -m le4nn: error: {message}"
                                                  + (" (see python -m le4nn --help)" if args else "")]
    assert result.stdout == ""
