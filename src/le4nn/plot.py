"""Figures with matplotlib (the optional ``plot`` extra: ``pip install "le4nn[plot]"``).

Each function returns a :class:`matplotlib.figure.Figure` and, given ``path``, also saves it there.
Figures are made with the object-oriented API (no pyplot state), so they work without a display.

Two helpers need no matplotlib: :func:`image_grid` tiles a batch of images into one uint8 picture and
:func:`save_png` writes such a picture as a PNG file (what the GAN trainer and ``le4nn-predict
--generate`` use for their sample grids).
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from le4nn._files import atomic_write, write_bytes
from le4nn._typing import ArrayLike, PathLike

if TYPE_CHECKING:  # hints only: plot sits beside augment and below the layers (import layers)
    from matplotlib.figure import Figure

    from le4nn.augment import Transform
    from le4nn.layers import Layer
    from le4nn.models import Model


def _figure(figsize: tuple[float, float]) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('le4nn.plot needs matplotlib: pip install "le4nn[plot]"') from None
    return Figure(figsize=figsize, layout="constrained")


def _finish(fig: Figure, path: PathLike | None) -> Figure:
    """Save ``fig`` at ``path`` (atomically; the format from the file's extension, PNG without one)."""
    if path is not None:
        path = Path(os.fspath(path))
        image_format = path.suffix[1:].lower() or "png"
        with atomic_write(path, "wb") as f:
            fig.savefig(f, dpi=100, format=image_format)
    return fig


def _as_images(images: Any) -> np.ndarray:  # (array-like)
    """(N, H, W), (N, H, W, 1|3) or (N, 1|3, H, W) → (N, H, W) or (N, H, W, 3) for imshow."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"expected a batch of images (N, H, W[, C]), got shape {images.shape}")
    return images


def _show(ax: Any, image: np.ndarray) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray_r" if image.max() > 0 else "gray", interpolation="nearest")
    else:
        lo, hi = float(image.min()), float(image.max())
        ax.imshow((image - lo) / (hi - lo) if hi > lo else np.zeros_like(image), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_history(history: Mapping[str, Sequence[float]], path: PathLike | None = None) -> Figure:
    """Loss (and every metric) per epoch, training and validation, from a History or its dict."""
    logs = getattr(history, "history", history)
    names = [k for k in logs if not k.startswith("val_") and k != "lr"]
    fig = _figure((5 * len(names), 3.6))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], marker="o", label="training")
        if f"val_{name}" in logs:
            ax.plot(epochs, logs[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return _finish(fig, path)


def plot_images(images: np.ndarray, labels: Sequence[Any] | np.ndarray | None = None,
                predictions: Sequence[Any] | np.ndarray | None = None,
                class_names: Sequence[str] | None = None, columns: int = 10, path: PathLike | None = None,
                title: str | None = None) -> Figure:
    """A grid of images titled with their labels (and predictions); misclassified ones in red."""
    images = _as_images(images)
    rows = math.ceil(len(images) / columns)
    fig = _figure((1.2 * columns, 1.35 * rows + (0.4 if title else 0)))
    axes = fig.subplots(rows, columns, squeeze=False)
    name = (lambda c: class_names[int(c)]) if class_names is not None else (lambda c: str(int(c)))
    for index, ax in enumerate(axes.flat):
        if index >= len(images):
            ax.axis("off")
            continue
        _show(ax, images[index])
        parts, colour = [], "black"
        if labels is not None:
            parts.append(name(labels[index]))
        if predictions is not None:
            parts.append(f"→{name(predictions[index])}")
            if labels is not None and int(predictions[index]) != int(labels[index]):
                colour = "red"
                for spine in ax.spines.values():
                    spine.set_color("red")
                    spine.set_linewidth(2)
        if parts:
            ax.set_title(" ".join(parts), fontsize=8, color=colour)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_misclassified(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                       class_names: Sequence[str] | None = None, limit: int = 50,
                       path: PathLike | None = None) -> Figure:
    """The first ``limit`` misclassified images with their true and predicted labels."""
    labels, predictions = np.asarray(labels).astype(int), np.asarray(predictions).astype(int)
    wrong = np.flatnonzero(labels != predictions)[:limit]
    if len(wrong) == 0:
        fig = _figure((4, 1))
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return _finish(fig, path)
    title = f"{np.count_nonzero(labels != predictions)} misclassified of {len(labels)}"
    return plot_images(np.asarray(images)[wrong], labels[wrong], predictions[wrong], class_names,
                       columns=min(10, len(wrong)), path=path, title=title)


def _first_conv_kernel(source: Any) -> np.ndarray:
    """The kernel of a Conv2D layer, of a model's first Conv2D layer, or the array itself."""
    if hasattr(source, "layers"):  # a model
        for layer in source.layers:
            kernel = getattr(layer, "params", {}).get("kernel")
            if kernel is not None and kernel.ndim == 4:
                return kernel
        raise ValueError("the model has no convolution layer (no layer with a 4-D kernel)")
    if hasattr(source, "params"):  # a layer
        kernel = source.params.get("kernel")
        if kernel is None:
            raise ValueError(f"layer {getattr(source, 'name', source)!r} has no kernel (is it built?)")
        return kernel
    return np.asarray(source)


def plot_filters(kernel: ArrayLike | Layer | Model, path: PathLike | None = None, columns: int = 8) -> Figure:
    """Learned convolution filters, one image per output channel (input channels averaged, or shown in
    colour when there are three).  ``kernel``: a Keras-layout kernel (kh, kw, in, out), a Conv2D layer,
    or a model (its first convolution layer)."""
    kernel = _first_conv_kernel(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"expected a Conv2D kernel (kh, kw, in, out), got shape {kernel.shape}")
    filters = kernel.transpose(3, 0, 1, 2)  # (out, kh, kw, in)
    filters = filters if filters.shape[-1] == 3 else filters.mean(axis=-1)
    rows = math.ceil(len(filters) / columns)
    fig = _figure((1.1 * columns, 1.1 * rows))
    for index, ax in enumerate(fig.subplots(rows, columns, squeeze=False).flat):
        if index < len(filters):
            image = filters[index]
            ax.imshow(image if image.ndim == 2 else (image - image.min()) / (np.ptp(image) or 1),
                      cmap="coolwarm" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    return _finish(fig, path)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts ``matrix[true, predicted]``."""
    labels, predictions = np.asarray(labels).astype(int), np.asarray(predictions).astype(int)
    k = num_classes or int(max(labels.max(initial=0), predictions.max(initial=0))) + 1
    return np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str] | None = None,
                          path: PathLike | None = None) -> Figure:
    """The confusion matrix as a heat map with the counts written in."""
    k = len(class_names) if class_names is not None else None
    matrix = confusion_matrix(labels, predictions, k)
    k = matrix.shape[0]
    fig = _figure((0.55 * k + 2, 0.55 * k + 1.5))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    names = class_names if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if class_names is not None else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"accuracy {accuracy:.2%}")
    return _finish(fig, path)


def plot_augmented(images: np.ndarray, augment: Transform | str | Callable[..., Any] | None, repeats: int = 3,
                   rng: int = 0, labels: np.ndarray | None = None, path: PathLike | None = None,
                   title: str | None = None) -> Figure:
    """What an augmentation pipeline does: the original ``images`` in the first row, and below them
    ``repeats`` rows of independently augmented versions (one column per image).

    ``augment``: a :mod:`le4nn.augment` transform, a preset name (e.g. ``"digits"``) or a function
    ``f(batch) -> batch``; ``rng``: a seed or Generator for the augmentation (default seed 0, so the
    figure is reproducible); ``images``: a float batch (N, H, W[, C]) in [0, 1], N ≤ ~12 is legible."""
    from le4nn import augment as augment_module

    transform = augment_module.get(augment)
    batch = np.asarray(images)
    if batch.dtype.kind != "f":
        batch = batch.astype(np.float32) / 255
    generator = augment_module.as_rng(rng)
    rows = [batch] + [transform(batch, rng=generator) if transform is not None else batch
                      for _ in range(repeats)]
    columns = len(batch)
    fig = _figure((1.1 * columns + 0.8, 1.15 * (repeats + 1) + (0.4 if title else 0.2)))
    axes = fig.subplots(repeats + 1, columns, squeeze=False)
    for r, row in enumerate(rows):
        shown = _as_images(row)
        for c in range(columns):
            ax = axes[r, c]
            image = np.clip(shown[c], 0, 1)  # one fixed scale for all, so noise and contrast show as they are
            ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and labels is not None:
                ax.set_title(str(labels[c]), fontsize=8)
        axes[r, 0].set_ylabel("original" if r == 0 else f"augmented {r}", fontsize=8)
    if title is None:
        title = (f"augmentation preset {augment!r}" if isinstance(augment, str)
                 else f"augmentation: {type(transform).__name__ if transform is not None else 'none'}")
    fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


# --- pixel grids without matplotlib ---------------------------------------------------------------


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2, pad_value: int = 0, scale: int = 1,
               value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Tile a batch of images into one uint8 picture (H', W') or (H', W', 3), row by row.

    ``images``: (N, H, W), (N, H, W, 1|3) or (N, 1|3, H, W); uint8 as they are, floats mapped from
    ``value_range`` (e.g. ``(-1, 1)`` for a tanh generator) to 0–255 and clipped.  ``columns``: images
    per row (default ⌈√N⌉); ``padding`` pixels of ``pad_value`` between and around them; ``scale``: an
    integer nearest-neighbour enlargement.  No matplotlib needed.
    """
    images = _as_images(images)
    if images.dtype != np.uint8:
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"image_grid: value_range must be (low, high) with high > low, got {value_range!r}")
        scaled = (images.astype(np.float64) - low) * (255.0 / (high - low))
        images = np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid: no images")
    columns = columns or math.ceil(math.sqrt(n))
    if columns < 1 or padding < 0 or scale < 1:
        raise ValueError("image_grid: columns and scale must be >= 1 and padding >= 0")
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    rows = math.ceil(n / columns)
    h, w = images.shape[1:3]
    shape = (rows * (h + padding) + padding, columns * (w + padding) + padding, *images.shape[3:])
    grid = np.full(shape, pad_value, dtype=np.uint8)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def save_png(image: np.ndarray, path: PathLike) -> Path:
    """Write a uint8 picture (H, W) (grey) or (H, W, 3) (RGB) as a PNG file, atomically (a temporary
    file renamed over ``path``).  No matplotlib needed."""
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise TypeError(f"save_png: expected a uint8 image, got dtype {pixels.dtype}")
    if pixels.ndim == 2:
        colour_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"save_png: expected an image (H, W) or (H, W, 3), got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return write_bytes(path, png)


# --- GAN training -----------------------------------------------------------------------------------


def plot_gan_history(history: Mapping[str, Sequence[float]],
                     batch_losses: Mapping[str, Sequence[float]] | None = None, path: PathLike | None = None,
                     title: str | None = None) -> Figure:
    """A GAN run: the discriminator's and generator's losses per epoch (left; with ``batch_losses`` =
    ``{"d_loss": [...], "g_loss": [...]}`` also per batch, as a faint moving average) and the
    discriminator's accuracy on real and on generated images per epoch (right, when recorded).

    ``history``: a dict of per-epoch lists (or a History) with ``d_loss`` and ``g_loss`` and optionally
    ``d_acc_real``/``d_acc_fake``."""
    logs = getattr(history, "history", history)
    has_acc = "d_acc_real" in logs or "d_acc_fake" in logs
    fig = _figure((11 if has_acc else 6, 3.8))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    ax = axes[0]
    epochs_done = len(logs.get("d_loss", []))
    for key, label, colour in (("d_loss", "discriminator", "C0"), ("g_loss", "generator", "C1")):
        batches = (batch_losses or {}).get(key)
        if batches is not None and len(batches) > 1 and epochs_done:
            values = np.asarray(batches, dtype=np.float64)
            window = max(1, min(50, len(values) // 20))
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            x = (np.arange(len(smooth)) + window) * (epochs_done / len(values))
            ax.plot(x, smooth, color=colour, alpha=0.35, linewidth=0.8)
        if key in logs:
            ax.plot(np.arange(1, len(logs[key]) + 1), logs[key], marker="o", color=colour, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (binary cross-entropy)")
    ax.grid(alpha=0.3)
    ax.legend()
    if has_acc:
        ax = axes[1]
        for key, label in (("d_acc_real", "real images"), ("d_acc_fake", "generated images")):
            if key in logs:
                ax.plot(np.arange(1, len(logs[key]) + 1), logs[key], marker="o", label=label)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch")
        ax.set_ylabel("discriminator accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
