"""Hostile model files: every malformed header, layer config, weight, optimizer slot or zip structure
ends in one ModelFileError naming the file and the part, and nothing is allocated beyond what the file
holds.  Each file is generated here from a valid one (no binary fixtures)."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import le4nn
from le4nn.layers import BatchNormalization, Dense, Input
from le4nn.models import Model, ModelFileError, Sequential, load_model
from le4nn.models.saving import check_finite_weights
from le4nn.utils import set_random_seed

SRC = str(Path(le4nn.__file__).resolve().parent.parent)


def _small_model(kind: str = "sequential"):
    if kind == "sequential":
        return Sequential([Dense(6, activation="relu", input_shape=(4,)), BatchNormalization(),
                           Dense(3, activation="softmax")], name="small")
    inputs = Input(shape=(4,), name="pixels")
    hidden = Dense(6, activation="relu", name="hidden")(inputs)
    return Model(inputs=inputs, outputs=Dense(3, activation="softmax", name="probs")(hidden), name="graph")


def _saved(folder: Path, kind: str) -> Path:
    """A compiled (Adam: array and integer slots) model trained for one epoch, saved in ``folder``."""
    set_random_seed(3)
    rng = np.random.default_rng(3)
    model = _small_model(kind)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(rng.random((20, 4), dtype=np.float32), np.eye(3)[rng.integers(0, 3, 20)], batch_size=10,
              epochs=1, verbose=0)
    model.save(folder / f"{kind}.npz")
    return folder / f"{kind}.npz"


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    return _saved(tmp_path_factory.mktemp("valid"), "sequential")


@pytest.fixture(scope="module")
def valid_graph(tmp_path_factory) -> Path:
    return _saved(tmp_path_factory.mktemp("valid"), "functional")


def _refused(path: Path, match: str, **kwargs) -> ModelFileError:
    """Loading ``path`` gives a ModelFileError whose message names the file and matches ``match``."""
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path, **kwargs)
    assert str(path) in str(info.value)
    assert len(str(info.value)) < 1000  # one readable line, whatever the file holds
    return info.value


def test_the_valid_files_load(valid, valid_graph):
    assert load_model(valid).count_params() == 4 * 6 + 6 + 4 * 6 + 6 * 3 + 3
    assert load_model(valid_graph).count_params() == 4 * 6 + 6 + 6 * 3 + 3


# --- the header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "match"), [
    ("[1, 2]", "must be a JSON object, got list"),
    ("3.5", "must be a JSON object, got float"),
    ('"a string"', "must be a JSON object, got str"),
    ("null", "must be a JSON object, got NoneType"),
    ("{", "header is corrupted"),
    ('{"format": 1, "kind": "model", "model": ' + "[" * 100_000 + "]" * 100_000 + "}", "header is"),
    ('{"format": 1, "kind": "model", "model": ' + "[" * 500 + "]" * 500 + "}", "nested more than 32"),
    ('{"format": 2, "kind": "model"}', "unsupported model file format 2"),
    ('{"format": 1, "kind": "os.system"}', "kind must be 'model' or 'weights'"),
])
def test_a_malformed_header(valid, model_files, tmp_path, text, match):
    _refused(model_files.rewrite(valid, tmp_path / "bad.npz", header=text), match)


def _set(path: tuple, value):
    """A header edit: ``header[path[0]][path[1]]... = value``."""

    def edit(header):
        target = header
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


@pytest.mark.parametrize(("path", "value", "match"), [
    (("model",), [], "model config must be a JSON object, got list"),
    (("model",), "Sequential", "model config must be a JSON object, got str"),
    (("model",), None, "model config must be a JSON object, got NoneType"),
    (("model", "class_name"), "Sneaky", "unknown model class 'Sneaky'"),
    (("model", "config"), 7, "needs a 'config' object"),
    (("model", "config", "layers"), [], "'layers' must be a non-empty list"),
    (("model", "config", "layers"), {"a": 1}, "'layers' must be a non-empty list"),
    (("model", "config", "input_shape"), "784", "input_shape must be a list"),
    (("model", "config", "input_shape"), [None, -4], "cannot be built.*non-negative"),
    (("model", "config", "input_shape"), [None, 5], r"input_shape \(None, 5\) differs from its first layer's"),
    (("model", "config", "extra"), 1, "Sequential config: unknown key.*'extra'"),
    (("training",), [], "training must be an object"),
    (("training",), "epoch 3", "training must be an object"),
    (("training", "when"), "now", "training must be an object"),
    (("compile",), [], "compile settings must be an object"),
    (("compile", "optimizer"), "adam", "optimizer must be a config object"),
    (("compile", "optimizer", "class_name"), "os.system", "unknown optimizer 'os.system'"),
    (("compile", "optimizer", "config", "learning_rate"), math.nan, "learning_rate must be in"),
    (("compile", "loss"), "mse", "loss must be a list of loss configs"),
    (("compile", "loss"), [], "loss must be a list of loss configs"),
    (("compile", "metrics"), [3], "metrics must be a list of names"),
    (("compile", "metrics"), ["no_such_metric"], "compile: the settings are invalid"),
    (("compile", "loss_weights"), [math.nan], "loss_weights must be a list of finite numbers"),
    (("compile", "loss_weights"), [1.0, 2.0], "compile: the settings are invalid"),
    (("surprise",), 1, "header has unknown key.*'surprise'"),
])
def test_a_header_part_of_the_wrong_type(valid, model_files, tmp_path, path, value, match):
    _refused(model_files.rewrite(valid, tmp_path / "bad.npz", header=_set(path, value)), match)


def test_a_header_without_its_model(valid, model_files, tmp_path):
    _refused(model_files.rewrite(valid, tmp_path / "bad.npz", header=lambda h: h.pop("model")),
             "model config must be a JSON object")


@pytest.mark.parametrize("epochs", [math.inf, math.nan, "abc", -1, 1.5, True, 10**20, [1]])
def test_epochs_done_must_be_a_whole_number(valid, model_files, tmp_path, epochs):
    bad = model_files.rewrite(valid, tmp_path / "bad.npz", header=_set(("training", "epochs_done"), epochs))
    _refused(bad, r"training\.epochs_done must be a whole number")


@pytest.mark.parametrize("state", [
    "abc", 5, [], {}, {"bit_generator": "MT19937", "state": {}},
    {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0, "uinteger": 0},
    {"bit_generator": "PCG64", "state": {"state": 1, "inc": 1}, "has_uint32": "yes", "uinteger": 0},
])
def test_a_garbage_rng_state(valid, model_files, tmp_path, state):
    from le4nn.utils import get_rng

    before = get_rng().bit_generator.state
    bad = model_files.rewrite(valid, tmp_path / "bad.npz", header=_set(("training", "rng_state"), state))
    _refused(bad, r"training\.rng_state is not a state of the PCG64")
    assert get_rng().bit_generator.state == before  # the global generator is untouched


# --- layer configs ----------------------------------------------------------------------------------


def _layer_edit(index: int, key: str, value):
    return _set(("model", "config", "layers", index, "config", key), value)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("units", "abc", "units must be a positive integer"),
    ("units", -1, "units must be a positive integer"),
    ("units", 1e30, "units must be a positive integer"),
    ("units", math.nan, "units must be a positive integer"),
    ("units", None, "units must be a positive integer"),
    ("units", True, "units must be a positive integer"),
    ("activation", "os.system", "invalid activation"),
    ("activation", {"class_name": "Eval"}, "invalid activation"),
    ("dtype", "os.system", "dtype must be 'float32' or 'float64'"),
    ("dtype", "object", "dtype must be 'float32' or 'float64'"),
    ("dtype", "U10", "dtype must be 'float32' or 'float64'"),
    ("dtype", {"names": ["a"], "formats": ["f4"]}, "dtype must be 'float32' or 'float64'"),
    ("dtype", [["a", "<f4"]], "dtype must be 'float32' or 'float64'"),
    ("kernel_initializer", "os.system", "invalid kernel_initializer"),
    ("kernel_regularizer", {"class_name": "L2", "config": {"l2": "x"}}, "kernel_regularizer"),
    ("name", "a/b", "name must be a non-empty string without '/'"),
    ("name", 17, "name must be a non-empty string"),
    ("no_such_argument", 1, "unexpected keyword argument"),
    ("self", 1, "got multiple values for argument 'self'"),
    ("use_bias", "abc", "use_bias must be true or false, got 'abc'"),
    ("trainable", math.nan, "trainable must be true or false, got nan"),
])
def test_a_layer_config_with_a_bad_argument(valid, model_files, tmp_path, key, value, match):
    bad = model_files.rewrite(valid, tmp_path / "bad.npz", header=_layer_edit(0, key, value))
    _refused(bad, rf"layer #0 of the model config \(Dense\).*{match}")


@pytest.mark.parametrize(("entry", "match"), [
    ({"class_name": "Sneaky", "config": {}}, "unknown layer class 'Sneaky'"),
    ({"class_name": "Sequential", "config": {}}, "unknown layer class 'Sequential'"),
    ({"class_name": 3, "config": {}}, "class_name must be a string"),
    ({"class_name": "Dense", "config": [8]}, "config must be a JSON object"),
    ({"class_name": "Dense"}, "units"),
    ({"class_name": "Dense", "config": {"units": 3}, "extra": 1}, "unknown key.*'extra'"),
    ([], "must be a JSON object, got list"),
    ("Dense", "must be a JSON object, got str"),
])
def test_a_bad_layer_entry(valid, model_files, tmp_path, entry, match):
    bad = model_files.rewrite(valid, tmp_path / "bad.npz", header=_set(("model", "config", "layers", 1), entry))
    _refused(bad, rf"layer #1 of the model config.*{match}")


def test_duplicated_layer_names(valid, model_files, tmp_path):
    bad = model_files.rewrite(valid, tmp_path / "bad.npz", header=_layer_edit(1, "name", "small_dense"))
    bad = model_files.rewrite(bad, tmp_path / "bad2.npz", header=_layer_edit(0, "name", "small_dense"))
    _refused(bad, "cannot be built.*already has a layer named 'small_dense'")


# --- functional graphs ------------------------------------------------------------------------------


def _graph_layers(header) -> dict:
    return {entry["config"]["name"]: entry for entry in header["model"]["config"]["layers"]}


@pytest.mark.parametrize(("edit", "match"), [
    (lambda h: _graph_layers(h)["hidden"].update(inbound=["nowhere"]), "'nowhere', which no earlier layer"),
    (lambda h: _graph_layers(h)["hidden"].update(inbound=["probs"]), "'probs', which no earlier layer"),
    (lambda h: _graph_layers(h)["hidden"].update(inbound=["hidden"]), "'hidden', which no earlier layer"),
    (lambda h: _graph_layers(h)["hidden"].update(inbound=[]), "'hidden' has no inbound layers"),
    (lambda h: _graph_layers(h)["hidden"].update(inbound=["pixels", "pixels"]), "takes one input"),
    (lambda h: _graph_layers(h)["hidden"].update(inbound="pixels"), "inbound list of layer 'hidden'"),
    (lambda h: _graph_layers(h)["hidden"].update(inbound=[0]), "inbound list of layer 'hidden'"),
    (lambda h: _graph_layers(h)["pixels"].update(inbound=["probs"]), "input layer 'pixels' cannot have"),
    (lambda h: h["model"]["config"].update(input_layers=["hidden"]), "'hidden', which is not an input"),
    (lambda h: h["model"]["config"].update(input_layers=[]), "input_layers must be a non-empty list"),
    (lambda h: h["model"]["config"].update(input_layers=[5]), "input_layers must be a non-empty list"),
    (lambda h: h["model"]["config"].update(output_layers=["ghost"]), "'ghost', which is not a layer"),
    (lambda h: h["model"]["config"].update(output_layers="probs"), "output_layers must be a non-empty list"),
    (lambda h: _graph_layers(h)["probs"]["config"].update(name="hidden"), "two layers named 'hidden'"),
    (lambda h: _graph_layers(h)["hidden"]["config"].update(units=1e9), "units must be a positive integer"),
])
def test_a_bad_functional_graph(valid_graph, model_files, tmp_path, edit, match):
    _refused(model_files.rewrite(valid_graph, tmp_path / "bad.npz", header=edit), match)


# --- weights ----------------------------------------------------------------------------------------


def _first_kernel(path, model_files) -> str:
    return next(key for key in model_files.entries(path) if key.endswith("/kernel"))


@pytest.mark.parametrize(("value", "match"), [
    (np.zeros((4, 5), np.float32), r"weight 'kernel': the model has shape \(4, 6\), the file has \(4, 5\)"),
    (np.zeros((24,), np.float32), r"the model has shape \(4, 6\), the file has \(24,\)"),
    (np.zeros((4, 6), object), "dtype 'object' is not allowed"),
    (np.full((4, 6), "x"), "dtype '<U1' is not allowed"),
    (np.zeros((4, 6), complex), "dtype 'complex128' is not allowed"),
    (np.zeros((4, 6), [("a", "<f4")]), r"dtype .*\('a', '<f4'\).* is not allowed"),
    (np.zeros((4, 6), np.int64), "dtype 'int64' is not allowed"),
    (np.zeros((4, 6), np.bool_), "dtype 'bool' is not allowed"),
])
def test_a_weight_of_the_wrong_shape_or_dtype(valid, model_files, tmp_path, value, match):
    kernel = _first_kernel(valid, model_files)
    _refused(model_files.rewrite(valid, tmp_path / "bad.npz", arrays={kernel: value}), match)


def test_a_weight_whose_npy_header_lies_about_its_size(valid, model_files, tmp_path):
    kernel = _first_kernel(valid, model_files)
    raw = model_files.entries(valid)[kernel]
    bad = model_files.rewrite(valid, tmp_path / "short.npz", arrays={kernel: raw[:-8]})
    _refused(bad, r"declares shape \(4, 6\) \(96 bytes of data\), but the zip holds 88 bytes")


@pytest.mark.parametrize(("old", "new"), [(b"False", b"F#lse"), (b"'shape'", b"'sh\xffpe'"), (b"<f4", b"|O")])
def test_a_weight_whose_npy_header_is_garbled(valid, model_files, tmp_path, old, new):
    kernel = _first_kernel(valid, model_files)
    raw = model_files.entries(valid)[kernel]
    bad = model_files.rewrite(valid, tmp_path / "garbled.npz", arrays={kernel: raw.replace(old, new, 1)})
    _refused(bad, rf"entry '{kernel}' is corrupted|dtype 'object' is not allowed")


def test_missing_and_extra_weights(valid, model_files, tmp_path):
    kernel = _first_kernel(valid, model_files)
    layer = kernel.split("/")[1]
    _refused(model_files.rewrite(valid, tmp_path / "missing.npz", drop=[kernel]),
             rf"layer '{layer}': the model has weights \['kernel', 'bias'\], the file has \['bias'\]")
    _refused(model_files.rewrite(valid, tmp_path / "extra.npz", arrays={f"weights/{layer}/spare": np.zeros(3)}),
             r"the file has \['kernel', 'bias', 'spare'\]")
    _refused(model_files.rewrite(valid, tmp_path / "ghost.npz", arrays={"weights/ghost/kernel": np.zeros(3)}),
             "weights for layers the model does not have: 'ghost'")


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused_unless_allowed(valid, model_files, tmp_path, bad_value):
    kernel = _first_kernel(valid, model_files)
    value = np.zeros((4, 6), np.float32)
    value[1, 2] = bad_value
    bad = model_files.rewrite(valid, tmp_path / "nan.npz", arrays={kernel: value})
    _refused(bad, rf"layer '{kernel.split('/')[1]}', weight 'kernel': the weights are not finite.*"
                  "allow_nonfinite=True")
    model = load_model(bad, allow_nonfinite=True)
    with pytest.raises(ModelFileError, match=rf"{bad}: layer '{kernel.split('/')[1]}', weight 'kernel'"):
        check_finite_weights(model, bad)
    with pytest.raises(ModelFileError, match="NaN or infinity"):
        model.load_weights(bad)
    check_finite_weights(load_model(valid), valid)  # a sound model passes


# --- optimizer state --------------------------------------------------------------------------------


def _slot(path, model_files, prefix: str) -> str:
    return next(key for key in model_files.entries(path) if key.startswith(prefix))


@pytest.mark.parametrize(("slot", "value", "match"), [
    ("optimizer/m/", np.zeros((4, 5), np.float32), r"the model has shape \(4, 6\), the file has \(4, 5\)"),
    ("optimizer/m/", np.zeros((4, 6), np.float64), "dtype float64 differs from the parameter's float32"),
    ("optimizer/v/", np.zeros((4, 6), object), "dtype 'object' is not allowed"),
    ("optimizer/v/", np.zeros((4, 6), complex), "dtype 'complex128' is not allowed"),
    ("optimizer/v/", np.full((4, 6), np.nan, np.float32), "NaN or infinity"),
    ("optimizer/t/", np.array(-3), "must be >= 0"),
    ("optimizer/t/", np.array(1.5), "dtype 'float64' is not allowed"),
    ("optimizer/t/", np.zeros(3, np.int64), r"the model has shape \(\), the file has \(3,\)"),
    ("optimizer/iterations", np.array(-1), "'iterations' must be >= 0"),
    ("optimizer/iterations", np.array("1"), "dtype '<U1' is not allowed"),
    ("optimizer/learning_rate", np.array(np.nan), "'learning_rate' must be finite"),
    ("optimizer/learning_rate", np.array(-1.0), "'learning_rate' must be finite and >= 0"),
])
def test_bad_optimizer_state(valid, model_files, tmp_path, slot, value, match):
    key = _slot(valid, model_files, slot) if slot.endswith("/") else slot
    bad = model_files.rewrite(valid, tmp_path / "bad.npz", arrays={key: value})
    _refused(bad, match)
    load_model(bad, compile=False)  # without the optimizer, the state is not read at all


def test_optimizer_state_for_unknown_slots_or_parameters(valid, model_files, tmp_path):
    extra = {"optimizer/momentum/x/kernel": np.zeros(3, np.float32)}
    _refused(model_files.rewrite(valid, tmp_path / "slot.npz", arrays=extra), "Adam has no state 'momentum'")
    ghost = {"optimizer/m/ghost/kernel": np.zeros(3, np.float32)}
    _refused(model_files.rewrite(valid, tmp_path / "param.npz", arrays=ghost),
             "the model has no parameter 'ghost/kernel'")


# --- the zip ----------------------------------------------------------------------------------------


def test_duplicated_zip_entries(valid, model_files, tmp_path):
    entries = list(model_files.entries(valid).items())
    kernel = _first_kernel(valid, model_files)
    twice = [*entries, (kernel, model_files.npy(np.full((4, 6), 7, np.float32)))]
    _refused(model_files.write(tmp_path / "twice.npz", twice), rf"zip entry '{kernel}.npy' appears twice")
    header_twice = [*entries, ("__le4nn__", model_files.header_npy({"format": 1, "kind": "weights"}))]
    _refused(model_files.write(tmp_path / "header.npz", header_twice), "'__le4nn__.npy' appears twice")


def test_missing_extra_and_foreign_entries(valid, model_files, tmp_path):
    _refused(model_files.rewrite(valid, tmp_path / "no-header.npz", drop=["__le4nn__"]), "no __le4nn__ header")
    _refused(model_files.rewrite(valid, tmp_path / "extra.npz", arrays={"junk": np.zeros(3)}),
             "unexpected entry 'junk'")
    entries = {**model_files.entries(valid), "notes.txt": b"hello"}
    _refused(model_files.write(tmp_path / "txt.npz", entries), "unexpected zip entry 'notes.txt'")
    entries = {**model_files.entries(valid), "folder/": b""}
    _refused(model_files.write(tmp_path / "dir.npz", entries), "unexpected zip entry 'folder/'")


def test_not_a_zip_and_truncated_zips(valid, tmp_path):
    data = valid.read_bytes()
    (tmp_path / "text.npz").write_bytes(b"hello, I am not a zip\n")
    _refused(tmp_path / "text.npz", r"not a le4nn model file \(it is not an .npz")
    (tmp_path / "magic.npz").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    _refused(tmp_path / "magic.npz", "not a readable le4nn model file")
    for size in (5, 30, 100, len(data) // 3, len(data) - 22, len(data) - 1):
        (tmp_path / f"cut{size}.npz").write_bytes(data[:size])
        _refused(tmp_path / f"cut{size}.npz", "not a readable le4nn model file|corrupted")
    (tmp_path / "folder.npz").mkdir()
    _refused(tmp_path / "folder.npz", "is a folder")


def test_a_pickled_npz_entry_is_never_unpickled(valid, model_files, tmp_path):
    kernel = _first_kernel(valid, model_files)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    hostile = np.empty((4, 6), object)
    hostile[0, 0] = Boom()
    _refused(model_files.rewrite(valid, tmp_path / "pickle.npz", arrays={kernel: hostile}),
             "dtype 'object' is not allowed")
    header = np.empty((), object)
    header[()] = Boom()
    _refused(model_files.rewrite(valid, tmp_path / "pickled-header.npz", arrays={"__le4nn__": header}),
             "the model header: dtype 'object' is not allowed")


# --- sizes: refused before anything is allocated ----------------------------------------------------

_LOW_MEMORY_LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
import numpy
from le4nn.models import ModelFileError, load_model
try:
    load_model(sys.argv[1])
except ModelFileError as exc:
    print("ModelFileError:", exc)
    sys.exit(3)
print("loaded")
"""


def _load_with_little_memory(path: Path) -> subprocess.CompletedProcess:
    """Load ``path`` in a subprocess limited to 1.5 GiB of address space."""
    env = {"PYTHONPATH": SRC, "LE4NN_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(_LOW_MEMORY_LOAD), str(path)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_small_header_asking_for_huge_weights_is_refused_before_allocation(valid, model_files, tmp_path):
    """A 2 kB header asking for Dense(1000000) (and Dense(10**30)) after a 784-input layer."""
    for units in (1_000_000, 10**30):
        bad = model_files.rewrite(valid, tmp_path / f"huge{len(str(units))}.npz", header=_layer_edit(0, "units", units))
        assert bad.stat().st_size < 20_000
        result = _load_with_little_memory(bad)
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"ModelFileError: {bad}" in result.stdout
        assert f"weight 'kernel' of shape (4, {units}) needs" in result.stdout
        assert f"more than {bad} allows" in result.stdout


def test_a_zip_bomb_is_refused_before_it_is_decompressed(valid, model_files, tmp_path):
    """A 1 MB file whose kernel entry inflates to 1 GiB of float32 zeros, and whose header's Dense
    fits it exactly: reading it and building the model would take 2 GiB."""
    header = model_files.header(valid)
    layers = header["model"]["config"]["layers"]
    layers[0]["config"]["units"] = 2**16
    layers[0]["config"]["batch_input_shape"] = [None, 2**12]
    header["model"]["config"]["input_shape"] = [None, 2**12]
    header["model"]["config"]["layers"] = layers[:1]
    header["compile"] = None
    name = layers[0]["config"]["name"]
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (2**12, 2**16)})
    kernel_header = buffer.getvalue()
    bomb = tmp_path / "bomb.npz"
    zeros = bytes(2**24)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("__le4nn__.npy", model_files.header_npy(header))
        for key in (f"weights/{name}/kernel", f"weights/{name}/bias"):
            with archive.open(f"{key}.npy", "w", force_zip64=True) as entry:
                entry.write(kernel_header if key.endswith("kernel") else model_files.npy(np.zeros(2**16, "f4")))
                for _ in range(2**30 // len(zeros) if key.endswith("kernel") else 0):
                    entry.write(zeros)
    assert bomb.stat().st_size < 4 * 2**20
    result = _load_with_little_memory(bomb)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"ModelFileError: {bomb}" in result.stdout and "needs 1,073,741,824 bytes" in result.stdout


# --- resuming training from a hostile checkpoint ----------------------------------------------------


@pytest.mark.parametrize("damage", ["nan weights", "wrong slot dtype", "garbage epochs_done"])
def test_le4nn_train_resume_refuses_a_hostile_checkpoint(model_files, tmp_path, damage):
    from le4nn.cli.presets import build_preset

    model = build_preset("mlp", (28, 28, 1), 10)
    model.compile(optimizer="momentum_sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(np.zeros((2, 28, 28, 1), np.float32), np.array([1, 2]))
    model.save(tmp_path / "good.npz")
    kernel = _first_kernel(tmp_path / "good.npz", model_files)
    slot = _slot(tmp_path / "good.npz", model_files, "optimizer/velocity/")
    edits = {
        "nan weights": {"arrays": {kernel: np.full((784, 100), np.nan, np.float32)}},
        "wrong slot dtype": {"arrays": {slot: np.zeros((784, 100) if "kernel" in slot else (100,), np.float64)}},
        "garbage epochs_done": {"header": _set(("training", "epochs_done"), "abc")},
    }
    bad = model_files.rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", **edits[damage])
    env = {"PYTHONPATH": SRC, "LE4NN_OFFLINE": "1", "LE4NN_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "le4nn.cli.train", "--model", "mlp", "--epochs", "2", "--subset", "100",
         "--output", str(tmp_path / "run"), "--resume", str(bad), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"le4nn-train: error: --resume: {bad}: "), lines
    assert {"nan weights": "NaN or infinity", "wrong slot dtype": "dtype float64 differs",
            "garbage epochs_done": "epochs_done must be"}[damage] in lines[0]


def test_every_refused_file_is_refused_by_load_weights_too(valid, model_files, tmp_path):
    kernel = _first_kernel(valid, model_files)
    model = load_model(valid)
    before = [w.copy() for w in model.get_weights()]
    for name, arrays in {"object": np.zeros((4, 6), object), "nan": np.full((4, 6), np.nan, np.float32),
                         "shape": np.zeros((5, 6), np.float32)}.items():
        bad = model_files.rewrite(valid, tmp_path / f"{name}.npz", arrays={kernel: arrays})
        with pytest.raises(ModelFileError, match=str(bad)):
            model.load_weights(bad)
    for a, b in zip(before, model.get_weights(), strict=True):  # nothing was half-loaded
        assert np.array_equal(a, b)


def test_json_in_the_header_can_hold_nan_tokens_without_harm(valid, model_files, tmp_path):
    """Python's json reads NaN/Infinity tokens; they reach checks that refuse them."""
    text = json.dumps(model_files.header(valid)).replace('"learning_rate": 0.001', '"learning_rate": NaN')
    _refused(model_files.rewrite(valid, tmp_path / "nan.npz", header=text), "learning_rate must be in")
