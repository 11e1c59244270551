"""What a generator takes and gives (:class:`GeneratorSpec`), and the combined model generator → discriminator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from le4nn.layers import InputLayer
from le4nn.models import Model
from le4nn.models.graph import Graph, Node


@dataclass(frozen=True)
class GeneratorSpec:
    """How to drive a generator: ``latent_dim``, ``num_classes`` (None: unconditional), the output
    ``image_shape`` (H, W, C), and the positions of the noise and label inputs."""

    latent_dim: int
    num_classes: int | None
    image_shape: tuple
    noise_index: int = 0
    label_index: int | None = None
    clustered: bool = False  # conditioned on k-means clusters (input "cluster"), not on classes

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def inputs(self, noise: np.ndarray, one_hot: np.ndarray | None) -> np.ndarray | list[np.ndarray]:
        """The model's input list (or single input) for this noise and these one-hot labels."""
        if not self.conditional:
            return noise
        xs: list[Any] = [None, None]
        assert self.noise_index is not None and self.label_index is not None  # (conditional)
        xs[self.noise_index], xs[self.label_index] = noise, one_hot
        return xs


def model_inputs(model: Model) -> list[tuple[str, tuple]]:
    """(name, shape with batch axis) of each model input, in the model's input order."""
    graph = model.graph
    result = []
    for slot in graph.input_slots:
        reader = next((node.layer for node in graph.nodes if slot in node.inputs), None)
        if reader is None or reader._multi_input:
            raise ValueError(f"model {model.name!r}: cannot tell what its input {slot} is")
        name = reader.name if isinstance(reader, InputLayer) else f"input_{slot}"
        result.append((name, tuple(reader.input_shape)))
    return result


def generator_spec(model: Model) -> GeneratorSpec:
    """What ``model`` (a generator built here, or any model from 1 noise vector [+ 1 one-hot label
    vector] to images) takes and gives; ``ValueError`` if it is not such a model.

    Inputs named ``noise``/``label`` are recognized by name; otherwise the first is the noise."""
    inputs = model_inputs(model)
    outputs = model.graph.output_nodes
    if len(outputs) != 1 or outputs[0] is None:
        raise ValueError(f"model {model.name!r} is not a generator: it has {len(outputs)} outputs")
    out_shape: tuple[Any, ...] = outputs[0].layer.output_shape
    if len(out_shape) != 4:
        raise ValueError(f"model {model.name!r} is not a generator: its output has shape {out_shape}, not images "
                         "(batch, height, width, channels)")
    if len(inputs) not in (1, 2) or any(len(shape) != 2 for _, shape in inputs):
        described = ", ".join(f"{name} {shape}" for name, shape in inputs)
        raise ValueError(f"model {model.name!r} is not a generator: it takes {described}, not a noise vector "
                         "(and a one-hot label)")
    names = [name for name, _ in inputs]
    noise_index = names.index("noise") if "noise" in names else 0
    label_index = None if len(inputs) == 1 else 1 - noise_index
    return GeneratorSpec(
        latent_dim=int(inputs[noise_index][1][1]),
        num_classes=None if label_index is None else int(inputs[label_index][1][1]),
        image_shape=tuple(int(s) for s in out_shape[1:]),
        noise_index=noise_index,
        label_index=label_index,
        clustered=label_index is not None and names[label_index] == "cluster",
    )


def combined_model(generator: Model, discriminator: Model, name: str = "gan") -> Model:
    """The model generator → discriminator that trains the generator: its inputs are the generator's
    (noise [, label]), its output the discriminator's logit.  It holds the same layer objects as both
    models (one copy of the weights), joined graph to graph: the discriminator's image input reads the
    generator's output and its label input the generator's label input (a layer object cannot be called
    twice symbolically, so the graphs are joined directly).  Freeze the discriminator
    (``discriminator.trainable = False``) while training this model."""
    spec = generator_spec(generator)
    g, d = generator.graph, discriminator.graph
    d_inputs = model_inputs(discriminator)
    images = [k for k, (_, shape) in enumerate(d_inputs) if len(shape) == 4]
    labels = [k for k, (_, shape) in enumerate(d_inputs) if len(shape) == 2]
    if len(images) != 1 or len(images) + len(labels) != len(d_inputs):
        raise ValueError(f"discriminator {discriminator.name!r} must take one image (and a one-hot label), "
                         f"got inputs {d_inputs}")
    if tuple(d_inputs[images[0]][1][1:]) != spec.image_shape:
        raise ValueError(f"the discriminator takes images of shape {d_inputs[images[0]][1][1:]}, the generator "
                         f"makes {spec.image_shape}")
    if len(labels) != (1 if spec.conditional else 0):
        raise ValueError("the generator and the discriminator must both be conditional or both not")
    if labels and d_inputs[labels[0]][1][1] != spec.num_classes:
        raise ValueError(f"the discriminator takes {d_inputs[labels[0]][1][1]} classes, the generator "
                         f"{spec.num_classes}")
    if len(d.output_slots) != 1:
        raise ValueError(f"discriminator {discriminator.name!r} must have one output (a logit)")
    shared = {id(layer) for layer in g.layers} & {id(layer) for layer in d.layers}
    if shared:
        raise ValueError("the generator and the discriminator share layers")
    # The discriminator's input slots now read the generator's output / the generator's label input.
    mapping = {d.input_slots[images[0]]: g.output_slots[0]}
    if labels:
        assert spec.label_index is not None  # (a conditional generator)
        mapping[d.input_slots[labels[0]]] = g.input_slots[spec.label_index]
    used = [*g.input_slots, *(n.output for n in g.nodes), *(s for n in g.nodes for s in n.inputs)]
    offset = max(used) + 1
    nodes = list(g.nodes)
    for node in d.nodes:
        if isinstance(node.layer, InputLayer) and node.inputs[0] in d.input_slots:
            mapping[node.output] = mapping[node.inputs[0]]  # the input check is skipped: shapes were checked
            continue
        nodes.append(Node(node.layer, tuple(mapping.get(s, s + offset) for s in node.inputs), node.output + offset))
    out = d.output_slots[0]
    return Model.from_graph(Graph(nodes, list(g.input_slots), [mapping.get(out, out + offset)]), name=name)
