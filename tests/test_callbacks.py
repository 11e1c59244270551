"""Callbacks during ``fit``: History, the progress bar, EarlyStopping, ModelCheckpoint, CSVLogger, the
learning-rate callbacks, TerminateOnNaN (and its return to the last finite state), and Ctrl-C (a
KeyboardInterrupt or a real SIGINT) or SIGTERM."""

from __future__ import annotations

import csv
import io
import signal

import numpy as np
import pytest

from le4nn import optimizers
from le4nn.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from le4nn.layers import Dense, Dropout, Flatten
from le4nn.models import Sequential, load_model
from le4nn.utils import set_random_seed, to_categorical


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    x = rng.random((120, 6, 6, 1), dtype=np.float32) * 0.5
    x[np.arange(120), labels * 2] += 0.5  # learnable: the brighter row pair gives the class
    return x, to_categorical(labels, 3)


def _model(learning_rate=0.05) -> Sequential:
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(6, 6, 1)), Dense(12, activation="relu"), Dropout(0.2),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Scripted(Callback):
    """Puts ``values[epoch]`` into the logs under ``key`` (placed before the callback under test) and
    keeps a copy of the weights at the end of every epoch."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


class Recorder(Callback):
    """Records every hook call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs or {})))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, sorted(logs)))


# --- order of the hooks, History, progress bar ------------------------------------------------------


def test_hooks_run_in_order_with_the_logs(data):
    x, y = data
    recorder = Recorder()
    _model().fit(x[:60], y[:60], batch_size=30, epochs=2, verbose=0, callbacks=[recorder],
                 validation_data=(x[60:], y[60:]))
    epoch_keys = ["accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    batch = [("batch_begin", 0), ("batch_end", 0, ["accuracy", "loss"]),
             ("batch_begin", 1), ("batch_end", 1, ["accuracy", "loss"])]
    assert recorder.calls == [
        ("train_begin",),
        ("epoch_begin", 0), *batch, ("epoch_end", 0, epoch_keys),
        ("epoch_begin", 1), *batch, ("epoch_end", 1, epoch_keys),
        ("train_end", {"interrupted": False}),
    ]


def test_history_records_each_epoch(data):
    x, y = data
    model = _model()
    history = model.fit(x, y, batch_size=20, epochs=3, verbose=0, initial_epoch=1)
    assert isinstance(history, History) and history.epoch == [1, 2]
    assert list(history.history) == ["loss", "accuracy", "lr"]
    assert history.history["lr"] == [0.05, 0.05]


def test_callbacks_must_be_callbacks(data):
    x, y = data
    with pytest.raises(TypeError, match="Callback instances"):
        _model().fit(x, y, verbose=0, callbacks=[lambda *a: None])


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: EarlyStopping(patience=-1), ValueError, "EarlyStopping: patience must be an integer >= 0, got -1"),
        (lambda: ReduceLROnPlateau(patience=1.5), ValueError, "ReduceLROnPlateau: patience must be an integer"),
        (lambda: LearningRateScheduler(0.01), TypeError, "LearningRateScheduler: schedule must be a function"),
    ],
    ids=["early-stopping-patience", "plateau-patience", "scheduler-not-callable"],
)
def test_bad_callback_arguments_are_refused_when_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_schedule_giving_no_number_names_the_scheduler(data):
    x, y = data
    with pytest.raises(ValueError, match="LearningRateScheduler: the schedule gave 'fast', not a learning rate"):
        _model().fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: "fast")])


def test_a_checkpoint_under_a_file_names_that_file(data, tmp_path):
    x, y = data
    (tmp_path / "taken").write_text("keep me")
    with pytest.raises(NotADirectoryError, match="taken is a file, not a folder"):
        _model().fit(x, y, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "taken" / "best.npz"))])
    assert (tmp_path / "taken").read_text() == "keep me"


def test_verbose_0_is_quiet_and_2_prints_one_line_per_epoch(data, capsys):
    x, y = data
    _model().fit(x, y, batch_size=40, epochs=2, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    _model().fit(x, y, batch_size=40, epochs=2, verbose=2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - ") and "loss: " in lines[0] and "accuracy: " in lines[0]
    assert lines[1].startswith("Epoch 2/2 - ")


def test_verbose_1_without_a_terminal_prints_one_line_per_epoch(data, capsys):
    x, y = data
    _model().fit(x, y, batch_size=40, epochs=2, verbose=1)
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_uses_tqdm(data):
    x, y = data
    stream = _FakeTerminal()
    _model().fit(x, y, batch_size=40, epochs=2, verbose=0, callbacks=[ProgressBar(1, stream=stream)])
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "3/3" in text and "loss=" in text and "accuracy=" in text  # 3 batches, live metrics


# --- EarlyStopping ----------------------------------------------------------------------------------


def test_early_stopping_stops_and_restores_the_best_weights(data):
    x, y = data
    model = _model()
    scores = Scripted("score", [5.0, 3.0, 4.0, 3.5, 1.0, 1.0, 1.0, 1.0])
    stopper = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    history = model.fit(x, y, batch_size=20, epochs=8, verbose=0, callbacks=[scores, stopper])
    assert history.epoch == [0, 1, 2, 3]  # best at epoch 1, two epochs without improvement
    assert stopper.stopped and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    for restored, best in zip(model.get_weights(), scores.weights[1], strict=True):
        assert np.array_equal(restored, best)
    assert not np.array_equal(model.get_weights()[0], scores.weights[3][0])


def test_early_stopping_without_restore_keeps_the_last_weights(data):
    x, y = data
    model = _model()
    scores = Scripted("score", [1.0, 2.0, 3.0, 4.0])
    stopper = EarlyStopping(monitor="score", patience=1)
    history = model.fit(x, y, batch_size=20, epochs=4, verbose=0, callbacks=[scores, stopper])
    assert history.epoch == [0, 1]
    assert np.array_equal(model.get_weights()[0], scores.weights[-1][0])


def test_early_stopping_min_delta_mode_and_baseline(data):
    x, y = data
    scores = Scripted("val_accuracy", [0.5, 0.52, 0.53, 0.9])  # "acc" in the name: higher is better
    stopper = EarlyStopping(monitor="val_accuracy", patience=2, min_delta=0.05)
    history = _model().fit(x, y, batch_size=20, epochs=4, verbose=0, callbacks=[scores, stopper])
    assert history.epoch == [0, 1, 2]
    scores = Scripted("loss_x", [2.0, 2.0, 2.0])
    stopper = EarlyStopping(monitor="loss_x", patience=0, baseline=1.0, verbose=1)
    history = _model().fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[scores, stopper])
    assert history.epoch == [0] and stopper.stopped and stopper.stopped_epoch == 0


def test_early_stopping_on_val_loss(data):
    x, y = data
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)  # never improves enough
    history = _model().fit(x, y, batch_size=20, epochs=5, verbose=0, callbacks=[stopper], validation_split=0.25)
    assert len(history.epoch) == 2


def test_a_missing_monitor_is_reported_not_fatal(data, capsys):
    x, y = data
    history = _model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(monitor="val_nothing")])
    assert len(history.epoch) == 2
    assert "'val_nothing' is not in the logs" in capsys.readouterr().err


# --- ModelCheckpoint --------------------------------------------------------------------------------


def test_model_checkpoint_saves_only_the_best_with_a_filename_pattern(data, tmp_path):
    x, y = data
    model = _model()
    scores = Scripted("score", [3.0, 2.0, 2.5, 1.0])
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{score:.2f}.npz")
    checkpoint = ModelCheckpoint(pattern, monitor="score", save_best_only=True)
    model.fit(x, y, batch_size=20, epochs=4, verbose=0, callbacks=[scores, checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-01-3.00.npz", "ckpt-02-2.00.npz", "ckpt-04-1.00.npz"]
    assert checkpoint.last_saved == str(tmp_path / "ckpt-04-1.00.npz")
    best = load_model(tmp_path / "ckpt-02-2.00.npz")
    for loaded, at_epoch in zip(best.get_weights(), scores.weights[1], strict=True):
        assert np.array_equal(loaded, at_epoch)
    np.testing.assert_array_equal(load_model(checkpoint.last_saved).predict(x), model.predict(x))


def test_model_checkpoint_on_val_loss_to_one_file(data, tmp_path):
    x, y = data
    model = _model()
    scores = Scripted("val_loss", [1.0, 0.5, 0.7])
    path = tmp_path / "best.npz"
    checkpoint = ModelCheckpoint(path, save_best_only=True)
    model.fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[scores, checkpoint],
              validation_split=0.2)
    saved = load_model(path)
    assert np.array_equal(saved.get_weights()[0], scores.weights[1][0])
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]


def test_model_checkpoint_every_epoch_and_weights_only(data, tmp_path):
    x, y = data
    model = _model()
    model.fit(x, y, batch_size=40, epochs=3, verbose=0,
              callbacks=[ModelCheckpoint(tmp_path / "w-{epoch}.npz", save_weights_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-1.npz", "w-2.npz", "w-3.npz"]
    fresh = _model()
    fresh.load_weights(tmp_path / "w-3.npz")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_model_checkpoint_with_an_unknown_field_says_so(data, tmp_path):
    x, y = data
    with pytest.raises(ValueError, match="cannot fill in filepath.*val_acc"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "{val_acc}.npz")])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("ckpt-{epoch:02d}.npz", "ckpt-interrupted.npz"), ("best.npz", "best-interrupted.npz"),
     ("{epoch}-{val_loss:.3f}", "checkpoint-interrupted.npz"), ("run_{epoch}.weights.npz", "run-interrupted.npz")],
)
def test_interrupted_checkpoint_names(pattern, expected, tmp_path):
    assert ModelCheckpoint(tmp_path / pattern).interrupted_path() == str(tmp_path / expected)


# --- CSVLogger --------------------------------------------------------------------------------------


def test_csv_logger_writes_a_row_per_epoch_and_appends(data, tmp_path):
    x, y = data
    path = tmp_path / "log.csv"
    model = _model()
    history = model.fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[CSVLogger(path)],
                        validation_split=0.25)
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["loss"]) for r in rows] == history.history["loss"]
    model.fit(x, y, batch_size=20, epochs=5, initial_epoch=3, verbose=0,
              callbacks=[CSVLogger(path, append=True)], validation_split=0.25)
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert path.read_text().splitlines()[0] == "epoch;loss;accuracy;lr"


def test_csv_logger_append_drops_the_rows_of_epochs_trained_again(data, tmp_path):
    """A run resumed from an older checkpoint (epoch 1 of 3) rewrites epochs 1 and 2: no duplicated rows."""
    x, y = data
    path = tmp_path / "log.csv"
    _model().fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[CSVLogger(path)])
    old = list(csv.DictReader(path.open()))
    history = _model(learning_rate=0.01).fit(x, y, batch_size=20, epochs=3, initial_epoch=1, verbose=0,
                                             callbacks=[CSVLogger(path, append=True)])
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert rows[0] == old[0]
    assert [float(r["loss"]) for r in rows[1:]] == history.history["loss"]


def test_csv_logger_keeps_the_previous_file_when_a_write_fails(data, tmp_path, monkeypatch):
    x, y = data
    path = tmp_path / "log.csv"
    _model().fit(x, y, batch_size=20, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("le4nn._files.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left") as caught:
        _model().fit(x, y, batch_size=20, epochs=3, initial_epoch=2, verbose=0,
                     callbacks=[CSVLogger(path, append=True)])
    assert caught.value.filename == str(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


# --- learning rate ----------------------------------------------------------------------------------


def test_learning_rate_scheduler_sets_the_rate_each_epoch(data):
    x, y = data
    model = _model(learning_rate=0.1)
    history = model.fit(x, y, batch_size=40, epochs=4, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)])
    seen = history.history["lr"]
    assert seen == [0.1, 0.05, 0.025, 0.0125]
    assert model.optimizer.learning_rate == 0.0125
    with pytest.raises(ValueError, match="invalid learning rate"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: -1.0)])


def test_reduce_lr_on_plateau_lowers_the_rate(data):
    x, y = data
    model = _model(learning_rate=0.1)
    scores = Scripted("val_loss", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    reducer = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.03)
    rates = []

    class Rates(Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(self.model.optimizer.learning_rate)

    model.fit(x, y, batch_size=40, epochs=8, verbose=0, callbacks=[scores, reducer, Rates()])
    # No improvement in epochs 1 and 2 → halve; again after 3 and 4, but not below min_lr.
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03]
    scores = Scripted("val_loss", [1.0] * 8)
    reducer = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.0)
    rates.clear()
    _model(learning_rate=0.1).fit(x, y, epochs=6, verbose=0, callbacks=[scores, reducer, Rates()])
    # After each reduction, one epoch is skipped (Keras counts the reducing epoch into the cooldown).
    assert rates == [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]


# --- TerminateOnNaN ---------------------------------------------------------------------------------


class AtBatch(Callback):
    """Calls ``action(model)`` after batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch, action):
        super().__init__()
        self.epoch, self.batch, self.action, self.current = epoch, batch, action, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            self.action(self.model)


def _poison_first_kernel(model):
    model.layers[1].params["kernel"][0, 0] = np.nan


def PoisonAt(epoch, batch):
    """Puts a NaN into the first kernel after batch ``batch`` of epoch ``epoch`` (the next loss is NaN)."""
    return AtBatch(epoch, batch, _poison_first_kernel)


def test_terminate_on_nan_stops_after_the_bad_batch(data, capsys):
    x, y = data  # fit refuses NaN in x (issue 15): a weight turns NaN before the third batch instead
    recorder = Recorder()
    model = _model()
    with np.errstate(invalid="ignore"):
        history = model.fit(x, y, batch_size=20, epochs=3, verbose=0, shuffle=False,
                            callbacks=[TerminateOnNaN(), PoisonAt(epoch=0, batch=1), recorder])
    batches = [c[1] for c in recorder.calls if c[0] == "batch_end"]
    assert batches == [0, 1, 2]
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])
    assert "invalid loss nan" in capsys.readouterr().err


def test_terminate_on_nan_restores_the_last_finite_state(data, tmp_path, capsys):
    x, y = data
    model = _model()
    weights = Scripted("marker", [0.0] * 4)
    terminate = TerminateOnNaN()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt.npz")
    model.fit(x, y, batch_size=20, epochs=4, verbose=0, shuffle=False,
              callbacks=[PoisonAt(epoch=2, batch=1), terminate, weights, checkpoint])
    assert terminate.stopped and (terminate.stopped_epoch, terminate.stopped_batch) == (2, 2)
    assert terminate.restored_epoch == 2 and model.epochs_done == 2
    for restored, kept in zip(model.get_weights(), weights.weights[1], strict=True):
        np.testing.assert_array_equal(restored, kept)  # the state at the end of epoch 2 (index 1)
    assert model.optimizer.iterations == 2 * 6
    saved = load_model(tmp_path / "ckpt.npz")  # the broken epoch was not saved over it
    assert saved.epochs_done == 2
    np.testing.assert_array_equal(saved.predict(x), model.predict(x))
    err = capsys.readouterr().err
    assert "invalid loss nan" in err and "Restored the last finite state (after 2 epochs)" in err
    assert "epoch 3 ended with loss nan; not saved" in err


def test_terminate_on_nan_without_restoring_keeps_the_nan_weights(data):
    x, y = data
    model = _model()
    terminate = TerminateOnNaN(restore_last_finite=False)
    model.fit(x, y, batch_size=20, epochs=2, verbose=0, callbacks=[PoisonAt(epoch=0, batch=0), terminate])
    assert terminate.stopped and terminate.restored_epoch is None
    assert np.isnan(model.layers[1].params["kernel"]).any()


# --- Ctrl-C -----------------------------------------------------------------------------------------


def _interrupt(model):
    raise KeyboardInterrupt


def RaiseAt(epoch, batch):
    """Raises KeyboardInterrupt (as Ctrl-C would) at batch ``batch`` of epoch ``epoch``."""
    return AtBatch(epoch, batch, _interrupt)


def test_keyboard_interrupt_returns_history_and_leaves_a_loadable_checkpoint(data, tmp_path, capsys):
    x, y = data
    model = _model()
    recorder = Recorder()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz")
    history = model.fit(x, y, batch_size=20, epochs=5, verbose=0,
                        callbacks=[RaiseAt(epoch=1, batch=2), checkpoint, recorder])
    assert isinstance(history, History) and history.epoch == [0]
    assert model.interrupted
    assert recorder.calls[-1] == ("train_end", {"interrupted": True})
    assert "Training interrupted during epoch 2" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01.npz", "ckpt-interrupted.npz"]
    saved = load_model(tmp_path / "ckpt-interrupted.npz")
    np.testing.assert_array_equal(saved.predict(x), model.predict(x))
    assert saved.epochs_done == 1
    assert saved.optimizer.iterations == model.optimizer.iterations == 6 + 3
    # Training can go on from the saved file.
    saved.fit(x, y, batch_size=20, epochs=2, initial_epoch=1, verbose=0)


def test_keyboard_interrupt_in_the_first_epoch(data, tmp_path):
    x, y = data
    model = _model()
    history = model.fit(x, y, batch_size=20, epochs=3, verbose=0, validation_split=0.2,
                        callbacks=[RaiseAt(0, 0), ModelCheckpoint(tmp_path / "{epoch}-{val_loss:.2f}.npz")])
    assert history.history == {} and history.epoch == []
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-interrupted.npz"]
    assert load_model(tmp_path / "checkpoint-interrupted.npz").epochs_done == 0


def test_sigint_stops_at_the_batch_boundary(data, tmp_path):
    """A real SIGINT (Ctrl-C) while a batch runs: that batch completes, the epoch ends there, the
    end-of-training hooks run, fit returns, and the previous SIGINT handler is back."""
    x, y = data

    class SendSigint(Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_train_batch_begin(self, batch, logs=None):
            if len(self.batches) == 4:
                signal.raise_signal(signal.SIGINT)

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append(batch)

    model = _model()
    sender = SendSigint()
    recorder = Recorder()
    before = signal.getsignal(signal.SIGINT)
    history = model.fit(x, y, batch_size=20, epochs=3, verbose=0,
                        callbacks=[sender, ModelCheckpoint(tmp_path / "ckpt.npz"), recorder])
    assert signal.getsignal(signal.SIGINT) is before
    assert sender.batches == [0, 1, 2, 3, 4]  # the fifth batch ran to its end, no other started
    assert model.optimizer.iterations == 5
    assert history.epoch == [] and model.interrupted
    assert recorder.calls[-1] == ("train_end", {"interrupted": True})
    np.testing.assert_array_equal(load_model(tmp_path / "ckpt-interrupted.npz").predict(x), model.predict(x))


def test_fit_restores_the_sigint_handler_after_an_error(data):
    x, y = data
    before = signal.getsignal(signal.SIGINT)

    class Fail(Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[Fail()])
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_stops_at_the_batch_boundary_like_ctrl_c(data, tmp_path):
    """SIGTERM (what a cluster scheduler sends) is handled as the first Ctrl-C: the checkpoint is saved."""
    x, y = data

    class SendSigterm(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                signal.raise_signal(signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    model = _model()
    model.fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[SendSigterm(), ModelCheckpoint(tmp_path / "c.npz")])
    assert model.interrupted and model.optimizer.iterations == 3
    assert signal.getsignal(signal.SIGTERM) == before
    np.testing.assert_array_equal(load_model(tmp_path / "c-interrupted.npz").predict(x), model.predict(x))


def test_terminate_on_nan_stops_when_weights_overflow_with_a_finite_loss(data, capsys):
    """Saturated units can keep the loss finite while a weight is infinite: caught at the epoch's end."""
    x, y = data
    model = _model()
    weights = Scripted("marker", [0.0] * 3)

    class Overflow(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.layers[3].params["bias"][0] = np.inf  # after the loss was computed

    terminate = TerminateOnNaN()
    model.fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[weights, Overflow(), terminate])
    assert terminate.stopped and terminate.stopped_batch is None and terminate.stopped_epoch == 1
    assert model.epochs_done == 1 and terminate.restored_epoch == 1
    for restored, kept in zip(model.get_weights(), weights.weights[0], strict=True):
        np.testing.assert_array_equal(restored, kept)
    assert "Epoch 2: weights are not finite" in capsys.readouterr().err
