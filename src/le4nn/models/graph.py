"""The layer graph a model runs: nodes in topological order, forward and backward over them.

A graph has *slots* (one per tensor) and *nodes* (one per layer call): a node reads its input slots and
writes its output slot.  Forward runs the nodes in order; backward runs them in reverse and adds up the
gradients of a tensor that feeds several layers (a branch).  The same class serves Sequential models (a
chain) and functional models (any DAG built by calling layers on symbolic tensors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from le4nn.layers import InputLayer, Layer, SymbolicTensor


@dataclass(frozen=True)
class Node:
    layer: Layer
    inputs: tuple[int, ...]  # slots read
    output: int  # slot written


class Graph:
    """Nodes in topological order, the slots fed by the model's inputs and those it returns."""

    def __init__(self, nodes: list[Node], input_slots: list[int], output_slots: list[int]):
        self.nodes = nodes
        self.input_slots = input_slots
        self.output_slots = output_slots
        producers = {node.output: node for node in nodes}
        self.output_nodes = [producers.get(slot) for slot in output_slots]

    @classmethod
    def chain(cls, layers: list[Layer]) -> Graph:
        """A Sequential model: slot 0 is the input, layer k reads slot k and writes slot k + 1."""
        nodes = [Node(layer, (k,), k + 1) for k, layer in enumerate(layers)]
        return cls(nodes, [0], [len(layers)])

    @classmethod
    def from_tensors(cls, inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> Graph:
        """A functional model: walk back from ``outputs`` to ``inputs`` through the recorded layer calls."""
        for tensor in inputs:
            if not isinstance(tensor, SymbolicTensor) or not isinstance(tensor.layer, InputLayer):
                raise ValueError(f"Model inputs must come from le4nn.layers.Input(...), got {tensor!r}")
        n_inputs = len(inputs)
        feed = {id(t): k for k, t in enumerate(inputs)}  # the data fed to input k sits in slot k
        slots: dict[int, int] = {}  # id(tensor) -> slot, numbered after the feeds

        def slot(tensor: SymbolicTensor) -> int:
            return slots.setdefault(id(tensor), n_inputs + len(slots))

        order: list[SymbolicTensor] = []
        state: dict[int, str] = {}

        def visit(tensor: SymbolicTensor) -> None:
            mark = state.get(id(tensor))
            if mark == "done":
                return
            if mark == "active":
                raise ValueError("the layer graph has a cycle")
            if not isinstance(tensor, SymbolicTensor):
                raise TypeError(f"Model outputs must be symbolic tensors from layer calls, got {tensor!r}")
            state[id(tensor)] = "active"
            if isinstance(tensor.layer, InputLayer) and id(tensor) not in feed:
                raise ValueError(
                    f"the outputs depend on input {tensor.layer.name!r}, which is not in the model's inputs"
                )
            for parent in tensor.inputs:
                visit(parent)
            state[id(tensor)] = "done"
            order.append(tensor)

        for tensor in outputs:
            visit(tensor)
        unused = [t.layer.name for t in inputs if state.get(id(t)) != "done"]
        if unused:
            raise ValueError(f"the model's outputs do not depend on input(s) {', '.join(map(repr, unused))}")

        nodes = []
        seen_layers: set[int] = set()
        for tensor in order:
            if id(tensor.layer) in seen_layers:
                raise ValueError(f"layer {tensor.layer.name!r} appears twice in the graph")
            seen_layers.add(id(tensor.layer))
            reads = (feed[id(tensor)],) if id(tensor) in feed else tuple(slot(p) for p in tensor.inputs)
            nodes.append(Node(tensor.layer, reads, slot(tensor)))
        return cls(nodes, list(range(n_inputs)), [slot(t) for t in outputs])

    @property
    def layers(self) -> list[Layer]:
        return [node.layer for node in self.nodes]

    def forward(self, inputs: list[np.ndarray], training: bool) -> list[np.ndarray]:
        values: dict[int, np.ndarray] = dict(zip(self.input_slots, inputs, strict=True))
        for node in self.nodes:
            args = [values[s] for s in node.inputs]
            values[node.output] = node.layer.forward(
                args if node.layer._multi_input else args[0], training=training
            )
        return [values[s] for s in self.output_slots]

    def backward(self, output_grads: list[np.ndarray | None], from_logits: list[bool]) -> None:
        """Back-propagate ∂E/∂outputs through every layer (parameter gradients land in ``layer.grads``).

        ``from_logits[k]``: output k's gradient is w.r.t. the pre-softmax logits (fused cross-entropy).
        """
        grads: dict[int, np.ndarray] = {}
        fused: set[int] = set()
        for slot, grad, logits in zip(self.output_slots, output_grads, from_logits, strict=True):
            if grad is None:
                continue
            if slot in grads:
                raise ValueError("two model outputs are the same tensor; give each output its own layer")
            grads[slot] = grad
            if logits:
                fused.add(slot)
        for node in reversed(self.nodes):
            grad = grads.pop(node.output, None)
            if grad is None or isinstance(node.layer, InputLayer):
                continue
            if node.output in fused:
                grad_in = node.layer.backward_from_logits(grad)
            else:
                grad_in = node.layer.backward(grad)
            grad_ins = grad_in if node.layer._multi_input else [grad_in]
            for slot, g in zip(node.inputs, grad_ins, strict=True):
                if slot in grads:
                    grads[slot] = grads[slot] + g  # a tensor that feeds several layers
                else:
                    grads[slot] = g
