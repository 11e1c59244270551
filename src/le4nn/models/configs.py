"""Model configs: ``model.get_config()`` as JSON-ready dicts, and models rebuilt from them.

``Sequential.get_config``/``from_config`` and ``Model.get_config``/``from_config`` are written here
(:func:`sequential_config`, :func:`sequential_from`, :func:`functional_config`, :func:`functional_from`),
each taking the model class it builds, so this module never imports the classes; they register under
their config's ``class_name`` (:func:`register_model_class`) for :func:`model_from_config`.

:func:`model_from_config` takes configs from model files and JSON files, so it checks every part
before use and reports a bad one with a :class:`~le4nn.models.file_format.ModelFileError` naming the
source, the layer and the problem; with ``max_weight_bytes`` it also refuses, before allocating
anything, an architecture whose weights need more memory than that (a model file must hold all its
weights, so its size bounds them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Set
from typing import Any

from le4nn import layers
from le4nn.layers import InputLayer
from le4nn.layers.shapes import format_shape, normalize_shape
from le4nn.layers.weight_budget import weight_budget
from le4nn.models.file_format import ErrorSource, clip, short

# What building a layer or a graph from bad arguments can raise (the layers check their arguments).
_BUILD_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, ZeroDivisionError)

_MODEL_KEYS = {"class_name", "config"}
_SEQUENTIAL_KEYS = {"name", "input_shape", "layers"}
_FUNCTIONAL_KEYS = {"name", "layers", "input_layers", "output_layers"}
_LAYER_KEYS = {"class_name", "config"}


#: The model classes by their config's class_name ("Sequential", "Functional").
_MODEL_CLASSES: dict[str, Any] = {}  # name -> Model class (registered by le4nn.models)


def register_model_class(class_name: str, cls: type) -> None:
    """Let :func:`model_from_config` build configs of ``class_name`` with ``cls.from_config``."""
    _MODEL_CLASSES[class_name] = cls


def model_class(class_name: str) -> type:
    """The model class registered under ``class_name`` (e.g. "Functional", for builders of models
    other than from configs, such as the ONNX import, which therefore need not import the class)."""
    return _MODEL_CLASSES[class_name]


def sequential_config(model) -> dict:
    """``Sequential.get_config()``: the name, the input shape and every layer's config."""
    shape = model.input_shape
    return {
        "class_name": "Sequential",
        "config": {
            "name": model.name,
            "input_shape": None if shape is None else list(shape),
            "layers": [layers.serialize(layer) for layer in model.layers],
        },
    }


def functional_config(model) -> dict:
    """``Model.get_config()``: every layer's config with the names of the layers it reads
    (``inbound``), and the names of the input and output layers."""
    graph = model.graph
    producer = {node.output: node.layer.name for node in graph.nodes}
    entries = []
    for node in graph.nodes:
        entry = layers.serialize(node.layer)
        entry["inbound"] = [producer[s] for s in node.inputs if s in producer]
        entries.append(entry)
    # In the order of the model's inputs (the graph's node order is topological and may differ).
    input_layer_at = {node.inputs[0]: node.layer.name for node in graph.nodes if node.inputs[0] in graph.input_slots}
    input_names = [input_layer_at[slot] for slot in graph.input_slots]
    return {
        "class_name": "Functional",
        "config": {
            "name": model.name,
            "layers": entries,
            "input_layers": input_names,
            "output_layers": [node.layer.name for node in graph.output_nodes],
        },
    }


def model_config(model) -> dict:
    """``model.get_config()``."""
    return model.get_config()


class _Checker(ErrorSource):
    """Checks the parts of a config, reporting a bad one as a ModelFileError naming the source."""

    def known_keys(self, value: dict, allowed: set, what: str) -> None:
        self.refuse_unknown_keys(value, allowed, f"{what}: unknown key(s)")

    def object(self, value, what: str, allowed: set) -> dict:
        if not isinstance(value, dict):
            raise self.fail(f"{what} must be a JSON object, got {type(value).__name__} {short(value, 40)}")
        self.known_keys(value, allowed, what)
        return value

    def names(self, value, what: str, allow_empty: bool = False) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (
                not value and not allow_empty):
            raise self.fail(f"{what} must be a {'' if allow_empty else 'non-empty '}list of layer names, "
                            f"got {short(value, 60)}")
        return value

    def layer_list(self, value, what: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{what} must be a non-empty list of layer configs, got {short(value, 60)}")
        return value


def _layer_from(entry, index: int, check: _Checker, extra_keys: Set[str] = frozenset()):
    """One layer from ``{"class_name": ..., "config": {...}}`` (entry ``index`` of the layer list)."""
    what = f"layer #{index} of the model config"
    check.object(entry, what, _LAYER_KEYS | extra_keys)
    class_name, config = entry.get("class_name"), entry.get("config", {})
    if not isinstance(class_name, str):
        raise check.fail(f"{what}: class_name must be a string, got {short(class_name, 40)}")
    if not isinstance(config, dict):
        raise check.fail(f"{what} ({clip(class_name, 40)}): config must be a JSON object, got "
                         f"{type(config).__name__}")
    try:
        layer = layers.deserialize({"class_name": class_name, "config": config})
    except _BUILD_ERRORS as exc:
        raise check.fail(f"{what} ({clip(class_name, 40)}): {clip(str(exc), 300)}") from None
    flags = {key for key, value in layer.get_config().items() if isinstance(value, bool)}
    for key in sorted(flags & set(config)):  # the layers take any truthy value; a file must say true/false
        if not isinstance(config[key], bool):
            raise check.fail(f"{what} ({class_name}): {key} must be true or false, got {short(config[key], 40)}")
    return layer


def _model_body(config, kinds, check: _Checker) -> tuple[str, dict]:
    """``class_name`` (one of ``kinds``) and the ``config`` object of ``{"class_name": ..., "config": {...}}``."""
    check.object(config, "the model config", _MODEL_KEYS)
    kind, body = config.get("class_name"), config.get("config")
    if kind not in tuple(kinds):  # (a tuple: a hostile class_name may be unhashable)
        raise check.fail(f"unknown model class {short(kind, 40)} in the model config")
    if not isinstance(body, dict):
        raise check.fail(f"the {kind} model config needs a 'config' object, got {short(body, 40)}")
    return kind, body


def sequential_from(cls: type, config: dict, source: str | None = None):
    """``Sequential.from_config``: a ``cls`` from :func:`sequential_config`'s dict, every part checked."""
    check = _Checker(source)
    _, body = _model_body(config, ("Sequential",), check)
    check.known_keys(body, _SEQUENTIAL_KEYS, "the Sequential config")
    entries = check.layer_list(body.get("layers"), "the Sequential config's 'layers'")
    shape = body.get("input_shape")
    if shape is not None and not isinstance(shape, list):
        raise check.fail(f"the Sequential config's input_shape must be a list, got {short(shape, 40)}")
    layer_objects = [_layer_from(entry, i, check) for i, entry in enumerate(entries)]
    try:
        model = cls(layer_objects, name=body.get("name"))
        if shape is not None:
            shape = (None, *normalize_shape(shape, "input_shape")[1:])
            if not model.built:
                model.build(shape)
    except _BUILD_ERRORS as exc:
        raise check.fail(f"the Sequential model cannot be built: {clip(str(exc), 300)}") from None
    if shape is not None and model.input_shape != shape:
        raise check.fail(f"the Sequential config's input_shape {format_shape(shape)} differs from its first "
                         f"layer's {format_shape(model.input_shape)}")
    return model


def _connect(layer, inbound: list[str], tensors: dict, check: _Checker):
    """Call ``layer`` on the outputs of its inbound layers, which must all come before it."""
    missing = [name for name in inbound if name not in tensors]
    if missing:
        raise check.fail(f"layer '{layer.name}' takes input from {short(missing[0], 40)}, which no earlier "
                         f"layer of the config defines (a dangling or cyclic reference)")
    if not inbound:
        raise check.fail(f"layer '{layer.name}' has no inbound layers")
    if len(inbound) > 1 and not layer._multi_input:
        raise check.fail(f"layer '{layer.name}' takes one input, the config gives {len(inbound)}")
    inputs = [tensors[name] for name in inbound]
    try:
        return layer(inputs if layer._multi_input else inputs[0])
    except _BUILD_ERRORS as exc:
        raise check.fail(f"layer '{layer.name}' cannot be connected: {clip(str(exc), 300)}") from None


def functional_from(cls: type, config: dict, source: str | None = None):
    """``Model.from_config``: a ``cls`` from :func:`functional_config`'s dict, every part checked."""
    check = _Checker(source)
    _, body = _model_body(config, ("Functional",), check)
    check.known_keys(body, _FUNCTIONAL_KEYS, "the Functional config")
    entries = check.layer_list(body.get("layers"), "the Functional config's 'layers'")
    input_names = check.names(body.get("input_layers"), "the Functional config's input_layers")
    output_names = check.names(body.get("output_layers"), "the Functional config's output_layers")
    tensors, input_layers = {}, set()
    for index, entry in enumerate(entries):
        layer = _layer_from(entry, index, check, {"inbound"})
        inbound = check.names(entry.get("inbound", []), f"the inbound list of layer '{layer.name}'", True)
        if layer.name in tensors:
            raise check.fail(f"the config has two layers named '{layer.name}'")
        if isinstance(layer, InputLayer):
            if inbound:
                raise check.fail(f"input layer '{layer.name}' cannot have inbound layers")
            tensors[layer.name] = layer.output
            input_layers.add(layer.name)
        else:
            tensors[layer.name] = _connect(layer, inbound, tensors, check)
    for name in input_names:
        if name not in input_layers:
            raise check.fail(f"input_layers names {short(name, 40)}, which is not an input layer of the config")
    for name in output_names:
        if name not in tensors:
            raise check.fail(f"output_layers names {short(name, 40)}, which is not a layer of the config")
    inputs = [tensors[name] for name in input_names]
    outputs = [tensors[name] for name in output_names]
    try:
        return cls(inputs=inputs if len(inputs) > 1 else inputs[0],
                     outputs=outputs if len(outputs) > 1 else outputs[0], name=body.get("name"))
    except _BUILD_ERRORS as exc:
        raise check.fail(f"the functional model cannot be built: {clip(str(exc), 300)}") from None


def model_from_config(config: Any, source: str | None = None, max_weight_bytes: int | None = None) -> Any:
    """Rebuild an (uncompiled, freshly initialized) model from ``model.get_config()``'s dict, with the
    ``from_config`` of the class it names.

    A bad config gives a :class:`~le4nn.models.file_format.ModelFileError` naming ``source`` (e.g. the
    file it came from) and the part.  With ``max_weight_bytes``, a model whose weights need more bytes
    is refused before they are allocated.
    """
    kind, _ = _model_body(config, _MODEL_CLASSES, _Checker(source))
    budget = (contextlib.nullcontext() if max_weight_bytes is None
              else weight_budget(max_weight_bytes, source or "the model file"))
    with budget:
        return _MODEL_CLASSES[kind].from_config(config, source)
