"""What the two console scripts share: clean error exits, and turning raw images into model inputs."""

from __future__ import annotations

import sys

import numpy as np


class CLIError(Exception):
    """An error to report as one line on stderr, with exit status 2 (never a traceback)."""


def run(main, prog: str, argv=None) -> int:
    """Call ``main(argv)``; report a :class:`CLIError` (or a file/format problem) as one line."""
    from le4nn.datasets import DatasetError
    from le4nn.models import ModelFileError

    try:
        return main(argv)
    except (CLIError, DatasetError, ModelFileError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) → float32 in [0, 1] with a channel axis (N, H, W, C)."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise CLIError(f"expected images of shape (N, H, W) or (N, H, W, C), got {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    return x.astype(np.float32, copy=False)
