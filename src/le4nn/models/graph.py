"""The layer graph a model runs: nodes in topological order, forward and backward over them.

A graph has *slots* (one per tensor) and *nodes* (one per layer call): a node reads its input slots and
writes its output slot.  Forward runs the nodes in order; backward runs them in reverse and adds up the
gradients of a tensor that feeds several layers (a branch).  The same class serves Sequential models (a
chain) and functional models (any DAG built by calling layers on symbolic tensors).

Threads: every pass over the graph runs inside :attr:`Graph.guard` (held by the model for each step),
which holds the locks of all its layers, so two threads' steps on layers they share run one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from le4nn._threads import StepGuard
from le4nn.layers import InputLayer, Layer, SymbolicTensor


@dataclass(frozen=True)
class Node:
    layer: Layer
    inputs: tuple[int, ...]  # slots read
    output: int  # slot written


class Graph:
    """Nodes in topological order, the slots fed by the model's inputs and those it returns."""

    def __init__(self, nodes: list[Node], input_slots: list[int], output_slots: list[int]) -> None:
        self.nodes = nodes
        self._layers = [node.layer for node in nodes]
        #: Held around each step on this graph: its layers' locks, and BLAS on one thread.
        self.guard = StepGuard(self._layers)
        self._index = {id(node): k for k, node in enumerate(nodes)}
        self.input_slots = input_slots
        self.output_slots = output_slots
        producers = {node.output: node for node in nodes}
        self.output_nodes = [producers.get(slot) for slot in output_slots]
        read = {slot for node in nodes for slot in node.inputs}
        readers: dict[int, int] = {}
        for node in nodes:
            for slot in node.inputs:
                readers[slot] = readers.get(slot, 0) + 1
        # node -> the node producing its (single) input when only it reads that tensor and the
        # model does not return it: a pair whose backward passes may be fused (see backward).
        self._sole_producer = {
            id(node): producers[node.inputs[0]] for node in nodes
            if len(node.inputs) == 1 and node.inputs[0] in producers and readers[node.inputs[0]] == 1
            and node.inputs[0] not in output_slots
        }
        self._sole_consumer = {id(producer): consumer for consumer in nodes
                               for producer in [self._sole_producer.get(id(consumer))] if producer is not None}
        #: Per output: whether no layer reads it (only the loss does), so that the model may let its
        #: layer return logits and leave the softmax to a fused loss.
        self.output_is_leaf = [slot not in read for slot in output_slots]

    def __getstate__(self) -> dict:
        """Copies and pickles carry no locks: :meth:`__setstate__` takes the copied layers' own."""
        state = dict(self.__dict__)
        state.pop("guard", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.guard = StepGuard(self._layers)

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
        return list(self._layers)

    def forward(self, inputs: list[np.ndarray], training: bool) -> list[np.ndarray]:
        values: dict[int, np.ndarray] = dict(zip(self.input_slots, inputs, strict=True))
        done: set[int] = set()
        for node in self.nodes:
            if id(node) in done:
                continue
            args = [values[s] for s in node.inputs]
            layer = node.layer
            consumer = self._sole_consumer.get(id(node)) if layer._scratch else None
            if consumer is not None:
                # e.g. Conv2D + ReLU + MaxPooling2D or Add + ReLU in one pass, without the
                # full-size tensor between them (see Layer._forward_through); only inside a model
                # step, whose backward pass fuses the pair the same way.
                arg = args if layer._multi_input else args[0]
                then = self._sole_consumer.get(id(consumer)) if not training else None
                if then is not None:  # a triple, inference only (no backward follows)
                    out = layer._forward_through_two(consumer.layer, then.layer, arg)
                    if out is not NotImplemented:
                        values[then.output] = out
                        done.update((id(consumer), id(then)))
                        continue
                out = layer._forward_through(consumer.layer, arg, training)
                if out is not NotImplemented:
                    values[consumer.output] = out
                    done.add(id(consumer))
                    continue
            values[node.output] = layer.forward(args if layer._multi_input else args[0], training=training)
        return [values[s] for s in self.output_slots]

    def set_scratch(self, on: bool) -> None:
        """Let the layers return their own reusable arrays (``Layer._scratch``) while the model runs a
        step, ``evaluate`` or ``predict``, which consume every output and gradient before the next call;
        the model switches it off again afterwards, so that direct calls get fresh arrays."""
        for layer in self._layers:
            layer._scratch = on

    def _input_grads_needed(self) -> list[bool]:
        """Per node: whether ∂E/∂(its inputs) is needed, i.e. some layer upstream of it has trainable
        weights.  The nodes fed only by the model's inputs (the first layers) are spared computing
        it (for a first convolution: the whole ∂E/∂X' GEMM and col2im), and layers without trainable
        weights there are not visited at all.  Computed at each step, as ``trainable`` may change."""
        differentiable: dict[int, bool] = {}  # slot -> depends on trainable weights
        needed = []
        for node in self.nodes:
            need = any(differentiable.get(s, False) for s in node.inputs)
            needed.append(need)
            layer = node.layer
            differentiable[node.output] = need or (layer.trainable and bool(layer.params))
        return needed

    def backward(self, output_grads: list[np.ndarray | None], from_logits: list[bool]) -> None:
        """Back-propagate ∂E/∂outputs through every layer (parameter gradients land in ``layer.grads``).

        ``from_logits[k]``: output k's gradient is w.r.t. the pre-softmax logits (fused cross-entropy).
        Input gradients nobody needs (those of the model's inputs) are not computed.
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
        needed = self._input_grads_needed()
        index = self._index
        for node, need in zip(reversed(self.nodes), reversed(needed), strict=True):
            grad = grads.pop(node.output, None)
            layer = node.layer
            if grad is None or isinstance(layer, InputLayer):
                continue
            producer = self._sole_producer.get(id(node))
            if producer is not None and node.output not in fused:
                # e.g. Conv2D + ReLU + MaxPooling2D, Add + ReLU: both backward passes in one (see
                # _backward_through); a multi-input producer returns one gradient per input.
                producer_need = needed[index[id(producer)]]
                grad_in = producer.layer._backward_through(layer, grad, producer_need)
                if grad_in is not NotImplemented:
                    if producer_need:
                        self._accumulate(grads, producer, grad_in)
                    continue
            if not need:
                if layer.trainable and layer.params:  # parameter gradients only
                    layer._backward_step(grad, from_logits=node.output in fused, need_input_grad=False)
                continue
            grad_in = layer._backward_step(grad, from_logits=node.output in fused, need_input_grad=True)
            self._accumulate(grads, node, grad_in)

    @staticmethod
    def _accumulate(grads: dict[int, np.ndarray], node: Node, grad_in: Any) -> None:
        """Add ∂E/∂(node's inputs) (a list for a multi-input layer) to ``grads``.  Gradients are only
        read, never written in place: a layer may return one array for several inputs (Add + ReLU)."""
        grad_ins = grad_in if node.layer._multi_input else [grad_in]
        for slot, g in zip(node.inputs, grad_ins, strict=True):
            if slot in grads:
                grads[slot] = grads[slot] + g  # a tensor that feeds several layers
            else:
                grads[slot] = g
