"""le4nn.cli.common: how the command-line programs end on errors and interrupts."""

from __future__ import annotations

import errno

import pytest

from le4nn.cli import common


def _raising(exc: BaseException):
    def main(argv):
        raise exc

    return main


@pytest.mark.parametrize(
    ("exc", "status", "text"),
    [
        (KeyboardInterrupt(), common.EXIT_INTERRUPTED, "prog: interrupted"),
        (common.CLIError("--lr must be finite"), common.EXIT_USAGE, "prog: error: --lr must be finite"),
        (OSError(errno.ENOSPC, "No space left on device", "out.txt"), common.EXIT_USAGE,
         "prog: error: cannot write out.txt: No space left on device"),
        (MemoryError(), common.EXIT_USAGE, "prog: error: out of memory"),
    ],
)
def test_run_ends_every_error_and_interrupt_in_one_line(exc, status, text, capsys):
    assert common.run(_raising(exc), "prog", []) == status
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(text), lines


def test_a_write_error_names_the_users_file_not_the_temporary(tmp_path):
    from le4nn._files import write_text

    target = tmp_path / "missing-folder" / "predict.txt"
    with pytest.raises(OSError) as info:
        write_text(target, "1\n")
    assert info.value.filename == str(target)
    assert common.describe_os_error(info.value) == f"{target}: not found"
