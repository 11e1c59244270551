"""``plot_model``: the layer graph as a picture, drawn by Graphviz's ``dot`` program.

Also reachable as ``le4nn.utils.plot_model`` / ``model_to_dot`` (Keras's place), which this module
registers with :mod:`le4nn.utils` when imported (utils sits below the models and cannot import them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from le4nn import utils
from le4nn.layers import InputLayer
from le4nn.layers.shapes import format_shape
from le4nn.models.model import Model


def model_to_dot(model: Model, show_shapes: bool = True) -> str:
    """The model's layer graph in Graphviz's DOT language."""
    if not isinstance(model, Model):
        raise TypeError(f"model_to_dot: expected an le4nn model (Sequential or Model), got {type(model).__name__}")
    lines = ["digraph model {", '  rankdir="TB";', '  node [shape=record, fontname="Helvetica", fontsize=10];']
    producer: dict[int, int] = {}  # output slot -> index of the node that writes it
    for index, node in enumerate(model.graph.nodes):
        layer = node.layer
        label = f"{layer.name}|{type(layer).__name__}"
        if show_shapes:
            shape = layer.batch_input_shape if isinstance(layer, InputLayer) else layer.output_shape
            label += f"|{format_shape(shape)}"
        label = label.replace("{", "\\{").replace("}", "\\}").replace("<", "\\<").replace(">", "\\>")
        lines.append(f'  n{index} [label="{{{label}}}"];')
        for slot in node.inputs:
            if slot in producer:
                lines.append(f"  n{producer[slot]} -> n{index};")
        producer[node.output] = index
    lines.append("}")
    return "\n".join(lines)


def plot_model(model: Model, to_file: str = "model.png", show_shapes: bool = True) -> Path:
    """Draw the layer graph to ``to_file`` (format from its extension: png, svg, pdf, ...).

    Needs Graphviz's ``dot`` on the PATH (``apt-get install graphviz``, ``brew install graphviz``,
    ``conda install graphviz``); without it a RuntimeError says so, and :func:`model_to_dot` still gives
    the graph as text.
    """
    if not isinstance(model, Model):
        raise TypeError(f"plot_model: expected an le4nn model (Sequential or Model), got {type(model).__name__}")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "plot_model needs Graphviz's 'dot' program, which is not installed "
            "(apt-get install graphviz / brew install graphviz); model_to_dot(model) gives the DOT text"
        )
    path = Path(to_file)
    fmt = path.suffix.lstrip(".") or "png"
    result = subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=model_to_dot(model, show_shapes),
                            text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz failed to draw {path}: {result.stderr.strip()}")
    return path


utils.register_model_drawing(plot_model, model_to_dot)
