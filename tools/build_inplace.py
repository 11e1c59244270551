"""Build the compiled kernels into the source tree, for development without reinstalling.

    python tools/build_inplace.py [target ...]      # e.g. im2col pooling; default: all kernels

CMake builds into build/inplace-<tag> (set LE4NN_BUILD_TAG to keep parallel builds apart) and the
extension modules are copied into src/le4nn/_kernels/ (git ignores them).  Then run the tests with
``PYTHONPATH=src python -m pytest``.  Users install with ``pip install .`` instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kernel_names() -> list[str]:
    """The modules CMakeLists.txt builds (its ``set(LE4NN_KERNELS ...)`` line)."""
    match = re.search(r"set\(LE4NN_KERNELS ([^)]*)\)", (ROOT / "CMakeLists.txt").read_text())
    return match.group(1).split()


def main(targets: list[str]) -> None:
    tag = os.environ.get("LE4NN_BUILD_TAG", "dev")
    build = ROOT / "build" / f"inplace-{tag}"
    configure = [
        "cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja",
        "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}",
    ]
    subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
    command = ["cmake", "--build", str(build)]
    if targets:
        command += ["--target", *targets]
    subprocess.run(command, check=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    destination = ROOT / "src" / "le4nn" / "_kernels"
    kernels = kernel_names()
    for stale in destination.glob(f"*{suffix}"):  # a module CMake no longer builds (renamed or split)
        if stale.name.split(".")[0] not in kernels:
            stale.unlink()
            print(f"removed {stale.name}")
    for module in build.glob(f"*{suffix}"):
        name = module.name.split(".")[0]
        if name in kernels and (not targets or name in targets):
            temporary = destination / f".{module.name}.tmp"
            shutil.copy2(module, temporary)
            os.replace(temporary, destination / module.name)  # atomic: running tests keep the old file
            print(f"copied {module.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
