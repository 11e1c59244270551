"""Writing output files atomically, the one way every part of le4nn does it.

:func:`atomic_write` writes into a temporary file in the target's folder, flushes it to the disk
(``fsync``) and renames it over the target (``os.replace``), so a full disk, a crash or a ``kill -9``
never leaves a truncated file where a good one was: the target is the old file or the complete new
one.  The temporary file is named ``.<target name>.<pid>.<random>.tmp``; a process killed before its
rename leaves it behind, and :func:`remove_stale_temporaries` (called before each write) deletes
those of the same target whose process is gone.  Files get the permissions the user's umask allows
(``0o666 & ~umask``), as ``open`` would give them, not the ``0o600`` of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from le4nn._typing import PathLike

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    """The process's umask: from ``/proc/self/status`` where Linux shows it (reading it with
    ``os.umask`` means setting it for a moment, which another thread creating a file would see)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_pattern(target: Path) -> re.Pattern:
    """Our temporary files of ``target``: ``.<name>.<pid>.<random>.tmp``."""
    return re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}$")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours (or cannot tell): leave its files alone
    return True


def remove_stale_temporaries(target: PathLike) -> list[Path]:
    """Delete the temporary files a killed writer of ``target`` left behind (only files that match our
    own naming pattern for this very target and whose process no longer runs); returns them."""
    target = Path(os.fspath(target))
    folder = target.parent if str(target.parent) else Path(".")
    pattern = _temp_pattern(target)
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / name)
            removed.append(folder / name)
    return removed


def make_parent_folder(path: PathLike) -> Path:
    """Create the folder ``path`` goes into (and its parents); a part of it that is a file, not a
    folder, is a NotADirectoryError naming that file (``mkdir``'s own error says only "File exists")."""
    folder = Path(os.fspath(path)).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write {path}: {blocker} is a file, not a folder",
                                 str(blocker)) from None
    return folder


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
                 ) -> Iterator[IO]:
    """``with atomic_write(path) as f: f.write(...)``: ``f`` is a temporary file next to ``path`` that
    replaces ``path`` only when the block ends without an error (``mode`` ``"w"`` or ``"wb"``)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=folder)
        text = mode == "w"
        with os.fdopen(fd, mode, encoding=encoding if text else None, newline=newline if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException as exc:
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        if isinstance(exc, OSError):
            exc.filename = str(path)  # "PATH: No space left on device": the user's file, not our temporary
            if exc.strerror is None:  # a short C-level write (NumPy's tofile) gives no errno, only a text
                exc.strerror = f"short write ({exc.args[0] if exc.args else 'no reason given'}; is the disk full?)"
        raise


def write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(os.fspath(path))


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(os.fspath(path))
