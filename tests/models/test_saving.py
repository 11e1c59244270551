"""Model files: save → load → predict, resuming training bitwise, weights-only files, damaged files and
atomic writes."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from le4nn import optimizers
from le4nn.layers import (
    Add,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
)
from le4nn.models import Model, ModelFileError, Sequential, load_model
from le4nn.utils import get_rng, set_random_seed


def _functional_cnn() -> Model:
    inputs = Input(shape=(8, 8, 1))
    x = Conv2D(4, (3, 3), padding="same", activation="relu")(inputs)
    x = BatchNormalization()(x)
    x = MaxPooling2D((2, 2))(x)
    x = Flatten()(x)
    x = Dropout(0.3)(x)
    outputs = Dense(3, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs)


@pytest.fixture
def trained(small_images, make_small_cnn):
    """A Sequential CNN (with BatchNormalization and Dropout) trained for one epoch."""
    x, y = small_images
    set_random_seed(0)
    model = make_small_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_save_load_predict_gives_identical_outputs(kind, small_images, make_small_cnn, tmp_path):
    x, y = small_images
    set_random_seed(1)
    model = make_small_cnn() if kind == "sequential" else _functional_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.save(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    assert type(loaded) is type(model)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_multi_input_multi_output_model_round_trips_with_its_input_order(tmp_path, rng):
    """The graph visits input "b" first; the reloaded model must still take [a, b]."""
    set_random_seed(2)
    a = Input(shape=(3,), name="a")
    b = Input(shape=(5,), name="b")
    hidden = Concatenate()([Dense(4, activation="relu")(b), Dense(4, activation="relu")(a)])
    out1 = Dense(2, activation="softmax", name="probs")(hidden)
    out2 = Dense(1, name="score")(Add()([Dense(4)(b), Dense(4)(hidden)]))
    model = Model(inputs=[a, b], outputs=[out1, out2])
    model.compile(optimizer="rmsprop", loss=["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.3])
    xs = [rng.standard_normal((30, 3)), rng.standard_normal((30, 5))]
    ys = [np.eye(2)[rng.integers(0, 2, 30)], rng.standard_normal((30, 1))]
    model.fit(xs, ys, batch_size=10, epochs=1, verbose=0)
    model.save(tmp_path / "two.npz")
    loaded = load_model(tmp_path / "two.npz")
    assert [t.layer.name for t in loaded.inputs] == ["a", "b"]
    for got, expected in zip(loaded.predict(xs), model.predict(xs), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert loaded.evaluate(xs, ys, verbose=0) == model.evaluate(xs, ys, verbose=0)


def test_save_adds_the_npz_suffix_and_load_finds_it(trained, tmp_path):
    trained.save(tmp_path / "model")
    assert (tmp_path / "model.npz").is_file()
    assert load_model(tmp_path / "model").count_params() == trained.count_params()


def test_the_file_is_an_npz_with_a_json_header_and_no_pickle(trained, tmp_path):
    trained.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        header = json.loads(str(archive["__le4nn__"]))
        names = set(archive.files)
    assert header["format"] == 1 and header["kind"] == "model"
    assert header["model"]["class_name"] == "Sequential"
    assert header["compile"]["loss"][0]["class_name"] == "CategoricalCrossentropy"
    assert header["training"]["epochs_done"] == 1
    conv = trained.layers[0].name
    assert {f"weights/{conv}/kernel", f"weights/{conv}/bias", "optimizer/iterations"} <= names


def test_load_model_without_compile(trained, small_images, tmp_path):
    x, _ = small_images
    trained.save(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz", compile=False)
    np.testing.assert_array_equal(loaded.predict(x), trained.predict(x))
    with pytest.raises(RuntimeError, match="must be compiled"):
        loaded.evaluate(x, x, verbose=0)


def test_uncompiled_model_saves_and_loads(make_small_cnn, small_images, tmp_path):
    x, _ = small_images
    model = make_small_cnn()
    model.save(tmp_path / "fresh.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "fresh.npz").predict(x), model.predict(x))


# --- resuming ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "momentum_sgd"])
def test_resume_gives_bitwise_identical_weights(optimizer, small_images, make_small_cnn, tmp_path):
    x, y = small_images

    def compiled():
        model = make_small_cnn()
        model.compile(optimizer=optimizers.get(optimizer), loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    set_random_seed(7)
    straight = compiled()
    history = straight.fit(x, y, batch_size=32, epochs=2, verbose=0, validation_split=0.1)

    set_random_seed(7)
    first = compiled()
    first.fit(x, y, batch_size=32, epochs=1, verbose=0, validation_split=0.1)
    first.save(tmp_path / "epoch1.npz")
    set_random_seed(999)  # a new process: whatever the generator holds now must not matter
    get_rng().random(100)
    resumed = load_model(tmp_path / "epoch1.npz")
    history2 = resumed.fit(x, y, batch_size=32, epochs=2, initial_epoch=1, verbose=0, validation_split=0.1)

    assert history2.epoch == [1]
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
    assert history2.history["loss"] == history.history["loss"][1:]
    assert straight.optimizer.iterations == resumed.optimizer.iterations


def test_resume_from_a_model_checkpoint_file(small_images, make_small_cnn, tmp_path):
    """ModelCheckpoint saves inside fit (at the end of each epoch): resuming from its file continues the
    same run exactly."""
    from le4nn.callbacks import ModelCheckpoint

    x, y = small_images
    set_random_seed(11)
    model = make_small_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=40, epochs=3, verbose=0, validation_split=0.2,
              callbacks=[ModelCheckpoint(tmp_path / "ckpt-{epoch}.npz")])
    resumed = load_model(tmp_path / "ckpt-1.npz")
    assert resumed.epochs_done == 1
    resumed.fit(x, y, batch_size=40, epochs=3, initial_epoch=1, verbose=0, validation_split=0.2)
    for a, b in zip(model.get_weights(), resumed.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


# --- weights only -----------------------------------------------------------------------------------


def test_save_weights_and_load_weights(trained, small_images, make_small_cnn, tmp_path):
    x, _ = small_images
    trained.save_weights(tmp_path / "weights.npz")
    other = make_small_cnn()  # same architecture, other automatic layer names
    assert other.layers[0].name != trained.layers[0].name
    assert not np.allclose(other.predict(x), trained.predict(x))
    other.load_weights(tmp_path / "weights.npz")
    np.testing.assert_array_equal(other.predict(x), trained.predict(x))
    # A whole-model file also provides weights.
    trained.save(tmp_path / "model.npz")
    third = make_small_cnn()
    third.load_weights(tmp_path / "model.npz")
    np.testing.assert_array_equal(third.predict(x), trained.predict(x))
    with pytest.raises(ModelFileError, match="holds only weights"):
        load_model(tmp_path / "weights.npz")


def test_weights_that_do_not_fit_name_the_layer_the_parameter_and_both_shapes(trained, tmp_path):
    trained.save(tmp_path / "model.npz")
    wider = Sequential([
        Conv2D(5, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 1)),
        BatchNormalization(), MaxPooling2D((2, 2)), Flatten(), Dropout(0.3),
        Dense(16, activation="relu"), Dense(3, activation="softmax"),
    ])
    before = wider.get_weights()
    conv = wider.layers[0].name
    with pytest.raises(ModelFileError, match=rf"layer '{conv}'.*weight 'kernel'.*\(3, 3, 1, 5\).*\(3, 3, 1, 4\)"):
        wider.load_weights(tmp_path / "model.npz")
    for a, b in zip(before, wider.get_weights(), strict=True):  # nothing was half-loaded
        assert np.array_equal(a, b)
    deeper = Sequential([Dense(3, input_shape=(4,)), Dense(3), Dense(3)])
    with pytest.raises(ModelFileError, match="weights for 4 layers.*the model has 3 layers"):
        deeper.load_weights(tmp_path / "model.npz")


def test_a_file_whose_weights_do_not_match_its_own_architecture(trained, tmp_path):
    """A model file edited (or assembled) so that one array has the wrong shape."""
    trained.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    dense = trained.layers[-1].name
    arrays[f"weights/{dense}/kernel"] = np.zeros((15, 3), np.float32)
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(ModelFileError, match=rf"layer '{dense}', weight 'kernel'.*\(16, 3\).*\(15, 3\)"):
        load_model(tmp_path / "edited.npz")
    del arrays[f"weights/{dense}/kernel"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ModelFileError, match=rf"layer '{dense}'.*\['kernel', 'bias'\].*\['bias'\]"):
        load_model(tmp_path / "missing.npz")


# --- damaged files ----------------------------------------------------------------------------------


def _damaged_files(path, folder):
    data = path.read_bytes()
    flipped = bytearray(data)
    middle = len(data) // 2
    flipped[middle : middle + 16] = bytes(b ^ 0xFF for b in flipped[middle : middle + 16])
    return {
        "truncated to half": data[: len(data) // 2],
        "truncated by 10 bytes": data[:-10],
        "bytes flipped": bytes(flipped),
        "garbage": b"this is not a model file\n" * 40,
        "empty": b"",
    }


def test_damaged_files_give_a_clear_model_file_error(trained, tmp_path):
    trained.save(tmp_path / "model.npz")
    for label, content in _damaged_files(tmp_path / "model.npz", tmp_path).items():
        bad = tmp_path / f"bad-{label.replace(' ', '_')}.npz"
        bad.write_bytes(content)
        with pytest.raises(ModelFileError, match=r"not a (readable )?le4nn model file|corrupted") as info:
            load_model(bad)
        assert str(bad) in str(info.value), label
        with pytest.raises(ModelFileError):
            trained.load_weights(bad)


def test_a_plain_npz_without_the_header(tmp_path, trained):
    np.savez(tmp_path / "plain.npz", kernel=np.zeros((3, 3)))
    with pytest.raises(ModelFileError, match=r"not a le4nn model file \(no __le4nn__ header\)"):
        load_model(tmp_path / "plain.npz")
    with pytest.raises(ModelFileError, match="no __le4nn__ header"):
        trained.load_weights(tmp_path / "plain.npz")


def test_a_corrupted_header(tmp_path, trained):
    trained.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["__le4nn__"] = np.array("{not json")
    np.savez(tmp_path / "header.npz", **arrays)
    with pytest.raises(ModelFileError, match="header is corrupted"):
        load_model(tmp_path / "header.npz")
    arrays["__le4nn__"] = np.array(json.dumps({"format": 99}))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ModelFileError, match="unsupported model file format 99"):
        load_model(tmp_path / "future.npz")


def test_a_pickled_array_is_refused(tmp_path):
    np.savez(tmp_path / "pickled.npz", __le4nn__=np.array([{"format": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="pickled.npz: the model header: dtype 'object' is not allowed"):
        load_model(tmp_path / "pickled.npz")


def test_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        load_model(tmp_path / "nothing-here.npz")


def test_saving_under_a_file_names_that_file(trained, tmp_path):
    (tmp_path / "taken").write_text("keep me")
    with pytest.raises(NotADirectoryError, match="taken is a file, not a folder") as info:
        trained.save(tmp_path / "taken" / "deeper" / "model.npz")
    assert info.value.filename == str(tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "keep me"


# --- atomic writes ----------------------------------------------------------------------------------


def test_a_failed_save_leaves_the_old_file_intact(trained, small_images, monkeypatch, tmp_path):
    x, y = small_images
    path = tmp_path / "model.npz"
    trained.save(path)
    old_bytes = path.read_bytes()
    expected = trained.predict(x)

    def broken_savez(file, *args, **kwds):
        file.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    trained.fit(x, y, batch_size=32, epochs=1, verbose=0)  # the weights change
    with pytest.raises(OSError, match="disk full"):
        trained.save(path)
    with pytest.raises(OSError, match="disk full"):
        trained.save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind
    np.testing.assert_array_equal(load_model(path).predict(x), expected)
    assert zipfile.is_zipfile(path)


def test_save_is_write_then_rename(trained, monkeypatch, tmp_path):
    renames = []
    original = os.replace

    def recording_replace(src, dst):
        renames.append((os.path.basename(src), os.path.basename(dst)))
        return original(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)  # le4nn._files.atomic_write renames
    trained.save(tmp_path / "model.npz")
    assert len(renames) == 1 and renames[0][1] == "model.npz" and renames[0][0] != "model.npz"


@pytest.mark.parametrize("path", [3, None, 2.5, ["model.npz"]])
def test_load_model_of_something_that_is_not_a_path_names_the_argument(path):
    with pytest.raises(TypeError, match="a model file must be given as a path"):
        load_model(path)
