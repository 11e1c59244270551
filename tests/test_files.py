"""le4nn._files: atomic writes (old file or complete new one, never a truncated one), the user's umask,
and the removal of the temporary files a killed writer left behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from le4nn._files import atomic_write, remove_stale_temporaries, write_bytes, write_text


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    write_text(target, "new text")
    write_bytes(tmp_path / "out.bin", b"\x00\x01")
    assert target.read_text() == "new text" and (tmp_path / "out.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "out.txt"]


@pytest.mark.parametrize("fail_in", ["write", "fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_names_the_target(tmp_path, monkeypatch, fail_in):
    target = tmp_path / "predict.txt"
    target.write_text("1\n2\n3\n")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_in != "write":
        monkeypatch.setattr(f"le4nn._files.os.{fail_in}", disk_full)
    with pytest.raises(OSError) as caught, atomic_write(target) as f:
        f.write("4\n")
        if fail_in == "write":
            disk_full()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_text() == "1\n2\n3\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predict.txt"]


def test_a_short_write_without_errno_names_the_target(tmp_path):
    """NumPy's ``tofile`` (``np.save`` to a real file) reports a full disk as a bare short write."""
    target = tmp_path / "images.npy"
    target.write_bytes(b"old")
    with pytest.raises(OSError) as caught, atomic_write(target, "wb"):
        raise OSError("784000 requested and 77696 written")
    assert caught.value.filename == str(target)
    assert caught.value.strerror == "short write (784000 requested and 77696 written; is the disk full?)"
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["images.npy"]


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("{}")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write('{"half": ')
        raise RuntimeError("crash while writing")
    assert target.read_text() == "{}" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == mode


def test_only_our_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    target = tmp_path / "checkpoint.npz"
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".checkpoint.npz.{dead}.ab_12.tmp"
    kept = [
        tmp_path / f".checkpoint.npz.{alive}.cd34.tmp",  # a writer that still runs
        tmp_path / f".model.npz.{dead}.ef56.tmp",  # another target
        tmp_path / ".checkpoint.npz.xyz.tmp",  # not our pattern
        tmp_path / f"checkpoint.npz.{dead}.gh78.tmp",  # not hidden: not ours
    ]
    for path in (stale, *kept):
        path.write_bytes(b"partial")
    assert remove_stale_temporaries(target) == [stale]
    assert all(path.exists() for path in kept)
    stale.write_bytes(b"partial")
    write_bytes(target, b"data")  # every write cleans up first
    assert not stale.exists() and target.read_bytes() == b"data"


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):
        pass
