"""Model files: one ``.npz`` holding the JSON architecture, the weights and the optimizer state.

Layout of the archive (never pickled; loaded with ``allow_pickle=False``):

- ``__le4nn__``: JSON text ``{"format": 1, "le4nn_version": ..., "kind": "model", "model": <model
  config>, "compile": <optimizer/loss/metrics config or null>, "training": {"epochs_done": ...,
  "rng_state": ...}}`` (``"kind": "weights"`` and no more for :func:`save_weights`)
- ``weights/<layer name>/<param or state name>``: every layer's arrays
- ``optimizer/<key>``: the optimizer's state (moments, iteration count)

Files are written to a temporary file in the same folder and renamed over the target, so an
interrupted save never leaves a broken file behind and the previous file survives until the new one
is complete.

Loading trusts nothing in the file (:mod:`le4nn.models.file_format`): every part is checked, only the
entries the architecture names are read, each after its declared shape and dtype were checked, and
any problem is one :class:`ModelFileError` naming the file and the part.  Weights or optimizer state
holding NaN or infinity are refused unless ``allow_nonfinite=True`` (such a model predicts nonsense);
:func:`check_finite_weights` runs the same check on a model in memory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from le4nn import losses, optimizers
from le4nn._files import atomic_write, make_parent_folder
from le4nn._numbers import is_real
from le4nn._typing import PathLike
from le4nn._version import __version__
from le4nn.models.configs import functional_config, model_config, model_from_config, sequential_config
from le4nn.models.file_format import (
    FORMAT_VERSION,
    HEADER_KEY,
    ErrorSource,
    ModelArchive,
    ModelFileError,
    clip,
    normalize_path,
    open_archive,
    short,
)
from le4nn.utils import get_rng, get_rng_state, set_rng_state

if TYPE_CHECKING:  # (model.py imports this module)
    from le4nn.models.model import Model

__all__ = [
    "FORMAT_VERSION", "HEADER_KEY", "ModelFileError", "check_finite_weights", "functional_config",
    "load_model", "load_weights", "model_config", "model_from_config", "non_finite_weights", "normalize_path",
    "save_model",
    "save_weights", "sequential_config", "write_archive",
]

_MODEL_HEADER_KEYS = {"format", "le4nn_version", "kind", "model", "compile", "training"}
_COMPILE_KEYS = {"optimizer", "loss", "loss_weights", "metrics"}
_TRAINING_KEYS = {"epochs_done", "rng_state"}
#: Optimizer slots that hold one integer per parameter rather than an array like it (Adam's step t).
_INTEGER_SLOTS = {"t"}
_MAX_EPOCHS = 10**9


def write_archive(path: PathLike, header: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Atomically write ``header`` (JSON) and ``arrays`` into an ``.npz`` file at ``path``."""
    path = normalize_path(path)
    make_parent_folder(path)
    payload = {HEADER_KEY: np.array(json.dumps(header))}
    payload.update({key: np.asarray(value, order="C") for key, value in arrays.items()})
    with atomic_write(path, "wb") as tmp:
        np.savez(tmp, **payload)  # type: ignore[arg-type]  # NumPy's stub types **kwds as allow_pickle
    return path


# ---------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------


def _weight_arrays(model) -> dict[str, np.ndarray]:
    arrays = {}
    for layer in model.layers:
        for name, value in zip(layer.weight_names, layer.weights, strict=True):
            arrays[f"weights/{layer.name}/{name}"] = value
    return arrays


def _file_layers(archive: ModelArchive) -> dict[str, list[str]]:
    """The file's weight entries grouped by layer, in the order they were written: {layer: [names]};
    entries that are neither weights nor optimizer state are refused."""
    layers: dict[str, list[str]] = {}
    for key in archive.keys:
        if key.startswith("weights/"):
            layer, _, name = key[len("weights/"):].rpartition("/")
            layers.setdefault(layer, []).append(name)
        elif not key.startswith("optimizer/"):
            raise archive.fail(f"unexpected entry {short(key, 60)} (a le4nn file holds weights/ and "
                               "optimizer/ entries)")
    return layers


def _nonfinite_error(source, what: str) -> ModelFileError:
    return ErrorSource(source).fail(f"{what}: the weights are not finite (they contain NaN or infinity: a "
                          "diverged training run?); pass allow_nonfinite=True to load them anyway")


def non_finite_weights(model) -> list[str]:
    """The model's weights that hold a NaN or an infinity, as "layer 'L', weight 'W'"."""
    return [f"layer '{layer.name}', weight '{name}'"
            for layer in model.layers
            for name, value in zip(layer.weight_names, layer.weights, strict=True)
            if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all()]


def check_finite_weights(model, source=None) -> None:
    """Raise a :class:`ModelFileError` naming ``source`` (e.g. the model file) and the weights that
    hold NaN or infinity, if any; such a model's predictions mean nothing."""
    bad = non_finite_weights(model)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise _nonfinite_error(source, f"{', '.join(bad[:3])}{more}")


def _match_layers(model, file_layers: dict[str, list[str]], path: PathLike) -> list[tuple]:
    """(model layer, file layer name) pairs: by name when every model layer with weights has its name
    in the file, else by position (see :func:`_restore_weights`)."""
    model_layers = [layer for layer in model.layers if layer.weight_names]
    if all(layer.name in file_layers for layer in model_layers):
        extra = sorted(set(file_layers) - {layer.name for layer in model_layers})
        if extra:
            raise ModelFileError(f"{path}: the file has weights for layers the model does not have: "
                                 f"{', '.join(short(name, 40) for name in extra[:5])}")
        return [(layer, layer.name) for layer in model_layers]
    if len(file_layers) != len(model_layers):
        raise ModelFileError(
            f"{path}: the file has weights for {len(file_layers)} layers "
            f"({', '.join(short(name, 40) for name in list(file_layers)[:8])}), the model has "
            f"{len(model_layers)} layers with weights ({', '.join(layer.name for layer in model_layers[:8])})"
        )
    return list(zip(model_layers, file_layers, strict=True))


def _restore_weights(model, archive: ModelArchive, allow_nonfinite: bool) -> None:
    """Copy the file's weights into the model, checking every layer, parameter and shape first.

    Layers are matched by name when every model layer with weights has its name in the file (a file
    from this model, or from a model rebuilt by the same script); otherwise by position among the
    layers that have weights, as Keras's ``load_weights`` does, so that weights saved from an identical
    architecture whose automatic names differ (``dense`` vs ``dense_3``) still load.  Nothing is changed
    unless the whole file fits.
    """
    path = archive.path
    file_layers = _file_layers(archive)
    updates = []
    for layer, file_name in _match_layers(model, file_layers, path):
        where = f"layer '{layer.name}'" + (f" (file layer '{file_name}')" if file_name != layer.name else "")
        if file_layers[file_name] != layer.weight_names:
            raise ModelFileError(f"{path}: {where}: the model has weights {layer.weight_names}, the file has "
                                 f"{[name[:40] for name in file_layers[file_name][:8]]}")
        values = []
        for name, current in zip(layer.weight_names, layer.weights, strict=True):
            what = f"{where}, weight '{name}'"
            value = archive.read(f"weights/{file_name}/{name}", what, shape=current.shape)
            if not allow_nonfinite and not np.isfinite(value).all():
                raise _nonfinite_error(path, what)
            values.append(value)
        updates.append((layer, values))
    for layer, values in updates:
        layer.set_weights(values)


def _header(**extra) -> dict:
    return {"format": FORMAT_VERSION, "le4nn_version": __version__, **extra}


def _check_kind(archive: ModelArchive) -> str:
    kind = archive.header.get("kind")
    if kind not in ("model", "weights"):
        raise archive.fail(f"the header's kind must be 'model' or 'weights', got {short(kind, 40)}")
    return kind


def save_weights(model: Model, filepath: PathLike) -> Path:
    """Only the weights (``model.save_weights``)."""
    return write_archive(filepath, _header(kind="weights"), _weight_arrays(model))


def load_weights(model: Model, filepath: PathLike, allow_nonfinite: bool = False) -> None:
    """Load weights saved by :func:`save_weights` or :func:`save_model` into ``model`` (non-finite
    weights are refused unless ``allow_nonfinite``)."""
    with open_archive(filepath) as archive:
        _check_kind(archive)
        _restore_weights(model, archive, allow_nonfinite)


# ---------------------------------------------------------------------------------------------------
# Whole models: compile settings, optimizer state, training position
# ---------------------------------------------------------------------------------------------------


def save_model(model, filepath: PathLike) -> Path:
    """Architecture, weights, optimizer state and the training position in one file (atomically)."""
    arrays = _weight_arrays(model)
    compile_config = model.compile_config()
    if compile_config is not None:
        arrays.update({f"optimizer/{k}": v for k, v in model.optimizer.get_state().items()})
    training = {"epochs_done": model.epochs_done, "rng_state": get_rng_state()}
    header = _header(kind="model", model=model.get_config(), compile=compile_config,
                     training=training)
    return write_archive(filepath, header, arrays)


def _is_config(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and isinstance(
        value.get("config", {}), dict)


def _compile(model, config, archive: ModelArchive) -> None:
    """``model.compile`` with the file's settings, each checked first."""
    if not isinstance(config, dict) or set(config) - _COMPILE_KEYS:
        raise archive.fail(f"the compile settings must be an object with keys {sorted(_COMPILE_KEYS)}, "
                           f"got {short(config, 80)}")
    loss, metrics, weights = config.get("loss"), config.get("metrics") or [], config.get("loss_weights")
    if not _is_config(config.get("optimizer")):
        raise archive.fail(f"compile: the optimizer must be a config object, got {short(config.get('optimizer'))}")
    if not isinstance(loss, list) or not loss or not all(_is_config(item) for item in loss):
        raise archive.fail(f"compile: the loss must be a list of loss configs, got {short(loss)}")
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise archive.fail(f"compile: the metrics must be a list of names, got {short(metrics)}")
    if weights is not None and not (isinstance(weights, list) and all(
            is_real(w) and math.isfinite(w) for w in weights)):
        raise archive.fail(f"compile: loss_weights must be a list of finite numbers, got {short(weights)}")
    try:
        model.compile(optimizer=optimizers.deserialize(config["optimizer"]),
                      loss=[losses.deserialize(item) for item in loss], metrics=metrics, loss_weights=weights)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise archive.fail(f"compile: the settings are invalid ({clip(str(exc), 300)})") from None


def _read_slot(archive: ModelArchive, key: str, entry: str, optimizer, params: dict, allow_nonfinite: bool):
    """One optimizer entry ``<slot>/<layer>/<param>``, checked against the optimizer and the parameter."""
    what = f"optimizer state '{short(entry, 60)}'"
    slot, _, param_key = entry.partition("/")
    if slot not in optimizer.SLOTS:
        raise archive.fail(f"{what}: {type(optimizer).__name__} has no state {short(slot, 40)} "
                           f"(its state: {', '.join(optimizer.SLOTS) or 'none'})")
    if param_key not in params:
        raise archive.fail(f"{what}: the model has no parameter {short(param_key, 60)}")
    param = params[param_key]
    if slot in _INTEGER_SLOTS:
        value = archive.read(key, what, kinds="iu", shape=())
        if int(value) < 0:
            raise archive.fail(f"{what}: must be >= 0, got {int(value)}")
        return value.astype(np.int64)
    value = archive.read(key, what, shape=param.shape)
    if value.dtype != param.dtype:
        raise archive.fail(f"{what}: dtype {value.dtype} differs from the parameter's {param.dtype}")
    if not allow_nonfinite and not np.isfinite(value).all():
        raise _nonfinite_error(archive.path, what)
    return value


def _read_optimizer_state(model, archive: ModelArchive, allow_nonfinite: bool) -> dict[str, np.ndarray]:
    optimizer = model.optimizer
    params = {f"{layer.name}/{name}": value for layer in model.layers for name, value in layer.params.items()}
    state = {}
    for key in archive.keys:
        if not key.startswith("optimizer/"):
            continue
        entry = key[len("optimizer/"):]
        if entry == "iterations":
            value = archive.read(key, "optimizer state 'iterations'", kinds="iu", shape=())
            if not 0 <= int(value) <= 2**62:
                raise archive.fail(f"optimizer state 'iterations' must be >= 0, got {int(value)}")
        elif entry == "learning_rate":
            value = archive.read(key, "optimizer state 'learning_rate'", shape=())
            if not (math.isfinite(value) and value >= 0):
                raise archive.fail(f"optimizer state 'learning_rate' must be finite and >= 0, got {float(value)}")
        else:
            value = _read_slot(archive, key, entry, optimizer, params, allow_nonfinite)
        state[entry] = value
    return state


def _training_position(archive: ModelArchive) -> tuple[int, dict | None]:
    """``epochs_done`` and ``rng_state`` from the header, both checked."""
    training = archive.header.get("training")
    training = {} if training is None else training
    if not isinstance(training, dict) or set(training) - _TRAINING_KEYS:
        raise archive.fail(f"training must be an object with keys {sorted(_TRAINING_KEYS)}, got {short(training)}")
    epochs = training.get("epochs_done", 0)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 0 <= epochs <= _MAX_EPOCHS:
        raise archive.fail(f"training.epochs_done must be a whole number in [0, {_MAX_EPOCHS}], "
                           f"got {short(epochs, 40)}")
    state = training.get("rng_state")
    if state is not None:
        scratch = type(get_rng().bit_generator)()
        try:
            scratch.state = state
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as exc:
            raise archive.fail(f"training.rng_state is not a state of the {type(scratch).__name__} random "
                               f"generator ({clip(str(exc), 200)})") from None
    return epochs, state


def _model_from_archive(archive: ModelArchive):
    """The (uncompiled) architecture, refused before allocation when it needs more weights than the
    file holds."""
    weight_bytes = sum(archive.entry_size(key) for key in archive.keys if key.startswith("weights/"))
    return model_from_config(archive.header.get("model"), source=str(archive.path),
                             max_weight_bytes=min(weight_bytes, archive.read_budget))


def load_model(filepath: PathLike, compile: bool = True, allow_nonfinite: bool = False) -> Model:
    """A model saved by ``model.save``: architecture, weights and (with ``compile=True``) optimizer
    state.  The global random generator is restored too, so that ``fit(..., initial_epoch=...)``
    continues exactly as the interrupted run would have.

    Any damage or inconsistency in the file gives a :class:`ModelFileError` naming the file and the
    part, and nothing is allocated beyond what the file holds.  Weights or optimizer state with NaN
    or infinity are refused unless ``allow_nonfinite=True``.
    """
    with open_archive(filepath) as archive:
        if _check_kind(archive) != "model":
            raise archive.fail("holds only weights; build the model and use load_weights")
        archive.known_header_keys(_MODEL_HEADER_KEYS)
        epochs_done, rng_state = _training_position(archive)
        model = _model_from_archive(archive)
        _restore_weights(model, archive, allow_nonfinite)
        compile_config = archive.header.get("compile")
        if compile and compile_config is not None:
            _compile(model, compile_config, archive)
            state = _read_optimizer_state(model, archive, allow_nonfinite)
            model.optimizer.set_state(state)
    model.epochs_done = epochs_done
    if rng_state is not None:
        set_rng_state(rng_state)
    return model
