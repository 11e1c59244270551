"""Residual networks (He et al. 2016, "Deep Residual Learning for Image Recognition", arXiv 1512.03385,
§4.2: the CIFAR-10 networks) built with the functional API.

The network is a stem, then one *stage* per entry of ``stage_widths``, then a classifier::

    stem     Conv2D(stem_width, 3x3, same, no bias) -> BatchNormalization -> ReLU
    stage k  blocks_per_stage basic blocks of width stage_widths[k]; the first block of every stage
             after the first has stride 2 (halves the height and width)
    head     GlobalAveragePooling2D -> Dense(num_classes, softmax)

A *basic block* with stride s computes ``y = ReLU(F(x) + shortcut(x))`` with::

    F(x)        = BN(Conv3x3(ReLU(BN(Conv3x3_stride_s(x)))))      (both convolutions "same", no bias)
    shortcut(x) = x                           when F keeps the shape (s = 1, same width)
                = BN(Conv1x1_stride_s(x))     otherwise (the paper's "option B" projection)

The convolutions carry no bias (the BatchNormalization after each has its own offset β), and use He
initialization (``he_normal``, the paper's §3.4).  The BatchNormalizations use PyTorch's ``momentum`` and
``epsilon`` (moving averages with weight 0.9 on the old value, ε = 1e-5) rather than Keras's defaults
(0.99, 1e-3), so that a network trained here and its PyTorch twin normalize alike.

"same" padding: le4nn follows Keras/TensorFlow.  With stride 2 on an *even* size, a 3×3 convolution
pads one row/column at the bottom/right only (none at the top/left); PyTorch's ``padding=1`` pads one on
each side, which samples the image at positions shifted by one pixel.  A PyTorch twin of these networks
must therefore pad ``(left 0, right 1, top 0, bottom 1)`` (``torch.nn.functional.pad(x, (0, 1, 0, 1))``)
and convolve with ``padding=0`` for every stride-2 3×3 convolution on an even size (the digit
preset's stride-2 stem on 28×28, the first block of a stage on 28×28 or 14×14 maps, ResNet-20's on
32×32 and 16×16).  On odd sizes,
for stride 1, and for the 1×1 projections (no padding at all) the two agree.

``channels_first`` is supported throughout: ``input_shape`` is then (C, H, W), and the
BatchNormalizations normalize axis 1.  Both layouts give the same outputs for the same weights (up to the
transpose of the input); the kernels' shapes do not depend on the layout, so weights move between the two
with ``set_weights(get_weights())``.

>>> from le4nn.applications import resnet20
>>> model = resnet20()        # 32x32x3 inputs, 10 classes, 272,474 trainable parameters
>>> model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
"""

from __future__ import annotations

from collections.abc import Sequence

from le4nn._numbers import is_integer
from le4nn._typing import DTypeLike
from le4nn.layers import (
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    Input,
    ReLU,
    SymbolicTensor,
)
from le4nn.models import Model

#: BatchNormalization settings of every block (PyTorch's defaults: running averages 0.9/0.1, ε = 1e-5).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

_DATA_FORMATS = ("channels_last", "channels_first")


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _positive_ints(name: str, values, length: int | None = None) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of ints >= 1, got {values!r}")
    if length is not None and len(values) != length:
        raise ValueError(f"{name} must have {length} entries (one per stage), got {len(values)}: {values!r}")
    return tuple(_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values))


def _check_arguments(stage_widths, blocks_per_stage, input_shape, num_classes, stem_width, stem_strides,
                     data_format, name):
    """The checked arguments of :func:`ResNet` (a ValueError naming the argument for any bad one)."""
    widths = _positive_ints("stage_widths", stage_widths)
    if is_integer(blocks_per_stage):
        blocks = (_positive_int("blocks_per_stage", blocks_per_stage),) * len(widths)
    else:
        blocks = _positive_ints("blocks_per_stage", blocks_per_stage, len(widths))
    if data_format not in _DATA_FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    layout = "(height, width, channels)" if data_format == "channels_last" else "(channels, height, width)"
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be {layout} for data_format={data_format!r}, got {input_shape!r}")
    shape = _positive_ints("input_shape", input_shape)
    height, width = shape[:2] if data_format == "channels_last" else shape[1:]
    strides = _positive_int("stem_strides", stem_strides)
    least = strides * 2 ** (len(widths) - 1)  # the stem divides the size by its stride, each later stage by 2
    if min(height, width) < least:
        raise ValueError(
            f"input_shape {shape!r}: the spatial size {height}x{width} is too small for a stride-{strides} stem "
            f"and {len(widths)} stages ({len(widths) - 1} stride-2 downsamplings): it must be at least "
            f"{least}x{least}"
        )
    classes = _positive_int("num_classes", num_classes, minimum=2)
    stem = widths[0] if stem_width is None else _positive_int("stem_width", stem_width)
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name must be a non-empty string or None, got {name!r}")
    return widths, blocks, shape, classes, stem, strides


class _Builder:
    """The layers of one network: the data format, dtype and naming every layer shares."""

    def __init__(self, data_format: str, dtype) -> None:
        self.data_format = data_format
        self.dtype = dtype
        self.bn_axis = -1 if data_format == "channels_last" else 1

    def conv(self, x, filters: int, size: int, strides: int, name: str) -> SymbolicTensor:
        return Conv2D(filters, size, strides=strides, padding="same", data_format=self.data_format,
                      use_bias=False, kernel_initializer="he_normal", dtype=self.dtype, name=name)(x)

    def bn(self, x, name: str) -> SymbolicTensor:
        return BatchNormalization(axis=self.bn_axis, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                  dtype=self.dtype, name=name)(x)

    def relu(self, x, name: str) -> SymbolicTensor:
        return ReLU(dtype=self.dtype, name=name)(x)

    def block(self, x, filters: int, strides: int, in_filters: int, name: str) -> SymbolicTensor:
        """One basic block (module docstring); ``name`` prefixes its layers' names."""
        y = self.relu(self.bn(self.conv(x, filters, 3, strides, f"{name}_conv1"), f"{name}_bn1"), f"{name}_relu1")
        y = self.bn(self.conv(y, filters, 3, 1, f"{name}_conv2"), f"{name}_bn2")
        shortcut = x
        if strides != 1 or filters != in_filters:
            shortcut = self.bn(self.conv(x, filters, 1, strides, f"{name}_shortcut_conv"), f"{name}_shortcut_bn")
        return self.relu(Add(dtype=self.dtype, name=f"{name}_add")([y, shortcut]), f"{name}_out")


def ResNet(stage_widths: Sequence[int], blocks_per_stage: int | Sequence[int], input_shape: Sequence[int],
           num_classes: int, stem_width: int | None = None, data_format: str = "channels_last",
           name: str | None = None, dtype: DTypeLike | None = None, stem_strides: int = 1) -> Model:
    """A residual network of basic blocks (module docstring), as a functional :class:`~le4nn.models.Model`.

    ``stage_widths``: the filters of each stage (one stage per entry); ``blocks_per_stage``: the number of
    basic blocks of every stage (an int) or of each stage (a sequence, one per stage); ``input_shape``:
    (H, W, C) for ``channels_last``, (C, H, W) for ``channels_first``; ``stem_width``: the filters of the
    stem convolution (default: the first stage's width); ``dtype``: the layers' dtype (default float32);
    ``stem_strides``: the stride of the stem convolution (2 runs every stage on maps half as large).

    Layers are named by their place, e.g. ``stem_conv``, ``stage2_block1_conv1``,
    ``stage2_block1_shortcut_bn``, ``stage3_block3_out``, ``avg_pool``, ``predictions``.
    Any bad argument is a ValueError naming it.
    """
    widths, blocks, shape, classes, stem, stem_strides = _check_arguments(
        stage_widths, blocks_per_stage, input_shape, num_classes, stem_width, stem_strides, data_format, name)
    make = _Builder(data_format, dtype)
    inputs = Input(shape=shape, dtype=dtype, name="input")
    x = make.relu(make.bn(make.conv(inputs, stem, 3, stem_strides, "stem_conv"), "stem_bn"), "stem_relu")
    filters = stem
    for stage, (width, count) in enumerate(zip(widths, blocks, strict=True), start=1):
        for block in range(1, count + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = make.block(x, width, strides, filters, f"stage{stage}_block{block}")
            filters = width
    x = GlobalAveragePooling2D(data_format=data_format, dtype=dtype, name="avg_pool")(x)
    outputs = Dense(classes, activation="softmax", dtype=dtype, name="predictions")(x)
    return Model(inputs=inputs, outputs=outputs, name=name or "resnet")


def resnet20(input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10,
             data_format: str = "channels_last", name: str = "resnet20", dtype: DTypeLike | None = None) -> Model:
    """He et al. 2016's CIFAR-10 ResNet-20 (§4.2, n = 3): a 16-filter stem, three stages of three basic
    blocks with 16, 32 and 64 filters, global average pooling, Dense softmax — 19 convolutions and one
    Dense layer (20 weighted layers), plus two 1×1 projection shortcuts (the paper's option B; its
    CIFAR networks used option A, parameter-free zero-padding: 269,722 trainable parameters, the
    paper's "0.27 M").  Here, for 32×32×3 inputs and 10 classes: 272,474 trainable parameters, 274,042
    with the BatchNormalizations' moving averages.  ``input_shape`` in the ``data_format``'s order; any
    size of at least 4×4 works (e.g. 28×28×1 digits: 7×7 maps in the last stage)."""
    return ResNet((16, 32, 64), 3, input_shape, num_classes, stem_width=16, data_format=data_format,
                  name=name, dtype=dtype)


#: The digit network's shape (see :func:`digit_resnet`).
DIGIT_WIDTHS = (64, 128, 256)
DIGIT_BLOCKS = 2
DIGIT_STEM_STRIDES = 2


def digit_resnet(input_shape: Sequence[int] = (28, 28, 1), num_classes: int = 10,
                 data_format: str = "channels_last", name: str = "resnet", dtype: DTypeLike | None = None) -> Model:
    """The ``resnet`` preset for 28×28 digits: a stride-2 stem of 64 filters (28 → 14), then stages of
    two basic blocks with 64, 128 and 256 filters on 14×14, 7×7 and 4×4 maps, global average pooling,
    Dense softmax (2,781,002 parameters for 10 classes).  These are the widths of the ResNet that
    reaches 99.70–99.78 % on MNIST in PyTorch (issue 19).  The stem's 3×3 windows at stride 2 overlap,
    so no pixel is skipped.

    Why these: one training step (batch 128, 28×28×1, Adam, 2 threads, AMD EPYC, issue 19) took
    ≈ 420 ms for this network against ≈ 450 ms for (24, 48, 96) × 2 and ≈ 570 ms for (32, 64, 128) × 2
    with the first stage at full 28×28 resolution, and ≈ 290 ms for (48, 96, 192) × 2 with the stride-2
    stem: at the cost of the small full-resolution networks it has 4–7× their width, and one MNIST
    epoch (469 steps) takes ≈ 3.3 minutes.
    """
    return ResNet(DIGIT_WIDTHS, DIGIT_BLOCKS, input_shape, num_classes, data_format=data_format,
                  name=name, dtype=dtype, stem_strides=DIGIT_STEM_STRIDES)


__all__ = ["BN_EPSILON", "BN_MOMENTUM", "DIGIT_BLOCKS", "DIGIT_STEM_STRIDES", "DIGIT_WIDTHS", "ResNet", "digit_resnet",
           "resnet20"]
