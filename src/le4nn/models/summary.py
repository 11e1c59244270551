"""``model.summary()``: each layer's name, type, output shape and parameter count, with totals, laid out
as Keras 2 prints it (functional models get a "Connected to" column)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from le4nn.layers import InputLayer
from le4nn.layers.shapes import format_shape


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "".join(f" {str(c):<{w - 1}}" for c, w in zip(cells, widths, strict=True)).rstrip()


def summary_text(model: Any, line_length: int = 98, connections: bool | None = None) -> str:
    """The summary's text; ``connections``: with the "Connected to" column (default: as the model's
    class says, ``summary_connections``: functional models have it, Sequential chains do not)."""
    if connections is None:
        connections = model.summary_connections
    rows = []
    if model.built:
        incoming = {}
        for node in model.graph.nodes:
            incoming[node.output] = node.layer.name
        for node in model.graph.nodes:
            layer = node.layer
            shape = format_shape(layer.batch_input_shape) if isinstance(layer, InputLayer) else (
                format_shape(layer.output_shape))
            params = layer.count_params() if layer.built else 0
            connected = ", ".join(incoming[s] for s in node.inputs if s in incoming)
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, f"{params:,}", connected))
    else:
        rows = [(f"{layer.name} ({type(layer).__name__})", "(unbuilt)", "?", "") for layer in model.layers]

    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    columns = 4 if connections else 3
    widths = [max(len(headers[c]), *(len(r[c]) for r in rows)) + 3 if rows else len(headers[c]) + 3
              for c in range(columns)]
    width = max(sum(widths), min(line_length, 65))
    lines = [f'Model: "{model.name}"', "_" * width, _row(headers[:columns], widths), "=" * width]
    for k, row in enumerate(rows):
        lines.append(_row(row[:columns], widths))
        lines.append("_" * width if k < len(rows) - 1 else "=" * width)
    if not rows:
        lines.append("=" * width)
    if model.built:
        trainable = sum(w.size for layer in model.layers for w in layer.trainable_weights)
        total = model.count_params()
        lines += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
        ]
    else:
        lines.append("The model is not built yet: parameter counts are known once it sees an input shape.")
    lines.append("_" * width)
    return "\n".join(lines)
