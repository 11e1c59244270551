"""A rough FLOP count of one GAN training epoch, for choosing the networks' widths."""

from __future__ import annotations

import math
from typing import Any

from le4nn.models import Model


def epoch_flops(generator: Model, discriminator: Model, n: int = 60000) -> float:
    """A rough count of the floating-point operations of one epoch of ``n`` images (multiply-adds × 2 of
    the Dense and convolution layers; forward ×3 for forward + backward), for choosing widths."""
    def forward_flops(model: Any) -> float:  # (a Model: its layers' output shapes are known)
        total = 0.0
        for layer in model.layers:
            kernel = layer.params.get("kernel") if hasattr(layer, "params") else None
            if kernel is None:
                continue
            out = layer.output_shape
            if kernel.ndim == 2:
                total += 2 * kernel.size
            elif type(layer).__name__ == "Conv2DTranspose":
                total += 2 * kernel.size * math.prod(layer.input_shape[1:3])
            else:
                total += 2 * kernel.size * math.prod(out[1:3])
        return total

    g, d = forward_flops(generator), forward_flops(discriminator)
    # per real image: D fwd+bwd on 2 images, G fwd (fakes), G fwd+bwd and D fwd+bwd in the combined step
    return n * (3 * d * 2 + g + 3 * g + 3 * d)
