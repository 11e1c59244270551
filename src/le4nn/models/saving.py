"""Model files: one ``.npz`` holding the JSON architecture, the weights and the optimizer state.

Layout of the archive (never pickled; loaded with ``allow_pickle=False``):

- ``__le4nn__``: JSON text ``{"format": 1, "le4nn_version": ..., "model": <model config>,
  "compile": <optimizer/loss/metrics config or null>, "training": {...}}``
- ``weights/<layer name>/<param or state name>``: every layer's arrays
- ``optimizer/<key>``: the optimizer's state (moments, iteration count)

Files are written to a temporary file in the same folder and renamed over the target, so an
interrupted save never leaves a broken file behind and the previous file survives until the new one
is complete.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from le4nn._files import atomic_write

FORMAT_VERSION = 1
HEADER_KEY = "__le4nn__"


class ModelFileError(ValueError):
    """A model or weights file that cannot be read, or that does not fit the model."""


def normalize_path(path) -> Path:
    """``np.savez`` appends ``.npz`` to names without it; do the same up front so paths agree."""
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def write_archive(path, header: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Atomically write ``header`` (JSON) and ``arrays`` into an ``.npz`` file at ``path``."""
    path = normalize_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {HEADER_KEY: np.array(json.dumps(header))}
    payload.update({key: np.asarray(value, order="C") for key, value in arrays.items()})
    with atomic_write(path, "wb") as tmp:
        np.savez(tmp, **payload)
    return path


def read_archive(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a file written by :func:`write_archive`; any damage gives a :class:`ModelFileError`."""
    path = Path(os.fspath(path))
    if not path.exists() and normalize_path(path).exists():
        path = normalize_path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive; say so before NumPy tries other formats
        what = "it is empty" if not magic else "it is not an .npz (zip) archive"
        raise ModelFileError(f"{path}: not a le4nn model file ({what})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable le4nn model file (truncated or corrupted: {exc})") \
            from None
    if HEADER_KEY not in arrays:
        raise ModelFileError(f"{path}: not a le4nn model file (no {HEADER_KEY} header)")
    try:
        header = json.loads(str(arrays.pop(HEADER_KEY)))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelFileError(f"{path}: the model header is corrupted ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported model file format {header.get('format')!r}")
    return header, arrays


# ---------------------------------------------------------------------------------------------------
# Model configs
# ---------------------------------------------------------------------------------------------------


def sequential_config(model) -> dict:
    from le4nn import layers

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
    from le4nn import layers

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
    from le4nn.models.sequential import Sequential

    return sequential_config(model) if isinstance(model, Sequential) else functional_config(model)


def model_from_config(config: dict):
    """Rebuild an (uncompiled, freshly initialized) model from :func:`model_config`'s output."""
    from le4nn import layers
    from le4nn.models.model import Model
    from le4nn.models.sequential import Sequential

    kind, body = config.get("class_name"), config.get("config", {})
    if kind == "Sequential":
        model = Sequential([layers.deserialize(entry) for entry in body["layers"]], name=body.get("name"))
        if body.get("input_shape") is not None and not model.built:
            model.build(tuple(body["input_shape"]))
        return model
    if kind == "Functional":
        tensors = {}
        for entry in body["layers"]:
            layer = layers.deserialize({"class_name": entry["class_name"], "config": entry["config"]})
            if isinstance(layer, layers.InputLayer):
                tensors[layer.name] = layer.output
                continue
            inbound = [tensors[name] for name in entry["inbound"]]
            tensors[layer.name] = layer(inbound if layer._multi_input else inbound[0])
        inputs = [tensors[name] for name in body["input_layers"]]
        outputs = [tensors[name] for name in body["output_layers"]]
        return Model(inputs=inputs if len(inputs) > 1 else inputs[0],
                     outputs=outputs if len(outputs) > 1 else outputs[0], name=body.get("name"))
    raise ModelFileError(f"unknown model class {kind!r} in the model config")


# ---------------------------------------------------------------------------------------------------
# Weights, whole models
# ---------------------------------------------------------------------------------------------------


def _weight_arrays(model) -> dict[str, np.ndarray]:
    arrays = {}
    for layer in model.layers:
        for name, value in zip(layer.weight_names, layer.weights, strict=True):
            arrays[f"weights/{layer.name}/{name}"] = value
    return arrays


def _file_layers(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """The file's weights grouped by layer, in the order they were written: {layer: {name: array}}."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("weights/"):
            layer, _, name = key[len("weights/"):].rpartition("/")
            layers.setdefault(layer, {})[name] = value
    return layers


def _restore_weights(model, arrays: dict[str, np.ndarray], path) -> None:
    """Copy the file's weights into the model, checking every layer, parameter and shape first.

    Layers are matched by name when every model layer with weights has its name in the file (a file
    from this model, or from a model rebuilt by the same script); otherwise by position among the
    layers that have weights, as Keras's ``load_weights`` does, so that weights saved from an identical
    architecture whose automatic names differ (``dense`` vs ``dense_3``) still load.  Nothing is changed
    unless the whole file fits.
    """
    file_layers = _file_layers(arrays)
    model_layers = [layer for layer in model.layers if layer.weight_names]
    if all(layer.name in file_layers for layer in model_layers):
        pairs = [(layer, layer.name) for layer in model_layers]
        extra = sorted(set(file_layers) - {layer.name for layer in model_layers})
        if extra:
            raise ModelFileError(f"{path}: the file has weights for layers the model does not have: "
                                 f"{', '.join(extra[:5])}")
    else:
        if len(file_layers) != len(model_layers):
            raise ModelFileError(
                f"{path}: the file has weights for {len(file_layers)} layers "
                f"({', '.join(list(file_layers)[:8])}), the model has {len(model_layers)} layers with weights "
                f"({', '.join(layer.name for layer in model_layers[:8])})"
            )
        pairs = list(zip(model_layers, file_layers, strict=True))
    updates = []
    for layer, file_name in pairs:
        stored = file_layers[file_name]
        where = f"layer '{layer.name}'" + (f" (file layer '{file_name}')" if file_name != layer.name else "")
        if list(stored) != layer.weight_names:
            raise ModelFileError(
                f"{path}: {where}: the model has weights {layer.weight_names}, the file has {list(stored)}"
            )
        for name, current in zip(layer.weight_names, layer.weights, strict=True):
            value = stored[name]
            if value.shape != current.shape:
                raise ModelFileError(
                    f"{path}: {where}, weight '{name}': the model has shape {current.shape}, "
                    f"the file has {value.shape}"
                )
            if value.dtype.kind != "f":
                raise ModelFileError(f"{path}: {where}, weight '{name}': dtype {value.dtype} is not a float")
        updates.append((layer, [stored[name] for name in layer.weight_names]))
    for layer, values in updates:
        layer.set_weights(values)


def _header(**extra) -> dict:
    from le4nn import __version__

    return {"format": FORMAT_VERSION, "le4nn_version": __version__, **extra}


def save_weights(model, filepath) -> Path:
    """Only the weights (``model.save_weights``)."""
    return write_archive(filepath, _header(kind="weights"), _weight_arrays(model))


def load_weights(model, filepath) -> None:
    """Load weights saved by :func:`save_weights` or :func:`save_model` into ``model``."""
    _, arrays = read_archive(filepath)
    _restore_weights(model, arrays, filepath)


def _compile_config(model) -> dict | None:
    if not getattr(model, "_compiled", False):
        return None
    from le4nn import losses, optimizers

    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": [losses.serialize(loss) for loss in model._losses],
        "loss_weights": model._loss_weights,
        "metrics": [m if isinstance(m, str) else m.name for m in model._metric_specs],
    }


def save_model(model, filepath) -> Path:
    """Architecture, weights, optimizer state and the training position in one file (atomically)."""
    from le4nn.utils import get_rng_state

    arrays = _weight_arrays(model)
    compile_config = _compile_config(model)
    if compile_config is not None:
        arrays.update({f"optimizer/{k}": v for k, v in model.optimizer.get_state().items()})
    training = {"epochs_done": getattr(model, "_epochs_done", 0), "rng_state": get_rng_state()}
    header = _header(kind="model", model=model_config(model), compile=compile_config,
                     training=training)
    return write_archive(filepath, header, arrays)


def load_model(filepath, compile: bool = True):
    """A model saved by ``model.save``: architecture, weights and (with ``compile=True``) optimizer
    state.  The global random generator is restored too, so that ``fit(..., initial_epoch=...)``
    continues exactly as the interrupted run would have."""
    from le4nn import losses, optimizers
    from le4nn.utils import set_rng_state

    header, arrays = read_archive(filepath)
    if header.get("kind") != "model":
        raise ModelFileError(f"{filepath}: holds only weights; build the model and use load_weights")
    try:
        model = model_from_config(header["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{filepath}: the architecture in the file is invalid ({exc})") from exc
    _restore_weights(model, arrays, filepath)
    compile_config = header.get("compile")
    if compile and compile_config is not None:
        model.compile(
            optimizer=optimizers.deserialize(compile_config["optimizer"]),
            loss=[losses.deserialize(c) for c in compile_config["loss"]],
            metrics=compile_config["metrics"],
            loss_weights=compile_config["loss_weights"],
        )
        prefix = "optimizer/"
        model.optimizer.set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    training = header.get("training") or {}
    model._epochs_done = int(training.get("epochs_done", 0))
    if training.get("rng_state") is not None:
        set_rng_state(training["rng_state"])
    return model
