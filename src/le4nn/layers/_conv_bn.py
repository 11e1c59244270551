"""Conv2D folded with the BatchNormalization that alone reads its output, for inference.

Inside a model's ``predict``/``evaluate`` (and any forward with ``training`` False) the graph
(:class:`le4nn.models.graph.Graph`) offers Conv2D its sole consumer through the fused pair protocol
(``Layer._forward_through``, see :mod:`le4nn.layers.base`).  When that consumer is a
BatchNormalization on the convolution's channel axis and the convolution has no activation, the
normalization in inference mode (handout eq. 38: y = γ (z − μ)/√(σ² + ε) + β with the moving μ, σ²)
is an affine map per output channel k, and so is the convolution; their composition is one
convolution with

    W'[..., k] = W[..., k] · s_k,    b'_k = (b_k − μ_k) · s_k + β_k,    s_k = γ_k / √(σ²_k + ε)

(b = 0 without ``use_bias``, γ = 1 without ``scale``, β = 0 without ``center``).  It runs through the
convolution's own paths (channels_last direct, Winograd or im2col + GEMM; channels_first im2col), so
the normalization costs nothing.  W' and b' are recomputed at every call (a pass over the weights,
tiny next to the convolution), so weights, moving statistics or ``epsilon`` changed since the last
call are always used; they are computed in float64 and rounded once to the layer's dtype.

The result equals the two layers' to rounding: z − μ and the scale are applied in another order.
Keras and PyTorch keep the two layers apart at inference unless asked to fold them (e.g.
``torch.ao.quantization.fuse_modules``); in training mode the statistics are the batch's, so nothing
is folded here (``NotImplemented``: the model runs both layers).
"""

from __future__ import annotations

import numpy as np

from le4nn.layers.normalization import BatchNormalization, is_plain_relu


def _fusable(conv, bn, training: bool) -> bool:
    channel_axis = 3 if conv.data_format == "channels_last" else 1
    return (not training and isinstance(bn, BatchNormalization) and bn.built and conv.built
            and bn.axis % 4 == channel_axis and conv.activation.name == "linear" and bn.dtype == conv.dtype
            and bn.state["moving_mean"].shape == (conv.filters,))


def folded_weights(conv, bn) -> tuple[np.ndarray, np.ndarray]:
    """``(W', b')``: the kernel (kh, kw, C, K) and bias (K,) of ``bn(conv(x))`` in inference mode."""
    inv_std = 1.0 / np.sqrt(bn.state["moving_variance"].astype(np.float64) + float(bn.epsilon))
    scale = inv_std * bn.params["gamma"] if bn.scale else inv_std
    bias = conv.params["bias"].astype(np.float64) if conv.use_bias else 0.0
    shift = (bias - bn.state["moving_mean"]) * scale
    if bn.center:
        shift = shift + bn.params["beta"]
    kernel = conv.params["kernel"] * scale  # scale broadcasts along the last axis, K
    return kernel.astype(conv.dtype), shift.astype(conv.dtype)


def forward(conv, bn, x, training: bool, relu=None):
    """``bn(conv(x))`` in inference mode as one convolution with the folded weights; or
    ``NotImplemented`` (training mode, an activation on the convolution, another axis or dtype).
    With ``relu`` (a ReLU layer reading the normalization's output alone, offered by the graph in
    inference: Conv2D → BatchNormalization → ReLU, the ResNet pattern) the folded convolution takes
    the ReLU as its activation, fused with the bias where its path can (``relu(bn(conv(x)))``).

    The folded convolution runs on a shallow copy of ``conv`` (sharing its scratch buffers) whose
    weights are W' and b': the layer's own weights are never replaced, not even for a moment, so
    ``get_weights`` from another thread sees them as they are.  ``conv``'s backward record is
    cleared (no backward follows an inference forward)."""
    if not _fusable(conv, bn, training):
        return NotImplemented
    if relu is not None and not (is_plain_relu(relu) and relu.dtype == conv.dtype):
        return NotImplemented
    kernel, bias = folded_weights(conv, bn)
    folded = object.__new__(type(conv))
    folded.__dict__.update(conv.__dict__)
    folded.params = {"kernel": kernel, "bias": bias}
    folded.use_bias = True
    if relu is not None:
        folded.activation = relu.activation
    y = type(conv).forward(folded, x, training=False)  # the class's: not a method patched onto conv
    if relu is not None and not relu.built:
        relu.build((None, *y.shape[1:]))
    conv._cache, conv._z, conv._y = None, None, None
    return y
