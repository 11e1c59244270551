"""Models used from several threads (issue 15): calls on one model run one step at a time, so two
threads get bitwise the answers each would get alone, training in one thread while another predicts
neither crashes nor mixes their values, and models that share layers (a GAN's generator inside the
combined model) lock them in one global order, so they never deadlock.

Runs under the backend chosen by ``LE4NN_BACKEND`` (run the file with both)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import le4nn
from le4nn.cli.presets import build_preset
from le4nn.gan import combined_model
from le4nn.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, Reshape
from le4nn.models import Model, Sequential

JOIN_TIMEOUT = 120  # seconds; a thread still alive after it means a deadlock


def run_in_threads(*targets) -> None:
    """Start one thread per target (all released at once), join them and re-raise the first error."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrap(target):
        def run():
            try:
                barrier.wait()
                target()
            except BaseException as exc:  # reported in the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running: deadlock?"
    if errors:
        raise errors[0]


def mlp() -> Sequential:
    le4nn.utils.set_random_seed(0)
    model = build_preset("mlp", (28, 28, 1), 10)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def cnn() -> Sequential:
    """im2col + GEMM chunks, Winograd (16 channels in), Conv2D + MaxPooling2D fused: every
    per-layer buffer the conv path keeps."""
    le4nn.utils.set_random_seed(0)
    model = Sequential([
        Conv2D(8, 3, padding="same", activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D(2),
        Conv2D(16, 3, padding="same", activation="relu"),
        Conv2D(16, 3, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data(images):
    """300 images (28×28×1) with one-hot labels over 10 classes."""
    return images[0], images[1]


@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
def test_two_threads_predicting_get_the_answers_of_one_thread(build, data):
    x, _ = data
    model = build()
    alone = model.predict(x, batch_size=100)
    answers: dict[int, list[np.ndarray]] = {0: [], 1: []}

    def predict(k):
        def run():
            for _ in range(8):
                answers[k].append(model.predict(x, batch_size=100))
        return run

    run_in_threads(predict(0), predict(1))
    for k in (0, 1):
        for answer in answers[k]:
            np.testing.assert_array_equal(answer, alone)


@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
def test_training_while_another_thread_predicts(build, data):
    """fit changes the weights between batches, so the predictions change too; they must stay
    those of some model (finite probabilities of the right shape), with no crash (was: ``matmul
    ... size 50 is different from 100`` from the other thread's cached batch)."""
    x, y = data
    model = build()
    training = threading.Event()
    training.set()
    predictions = []

    def train():
        try:
            model.fit(x, y, batch_size=50, epochs=2, verbose=0)
        finally:
            training.clear()

    def predict():
        while training.is_set() or not predictions:
            predictions.append(model.predict(x[:150], batch_size=100))

    run_in_threads(train, predict)
    assert predictions
    for probs in predictions:
        assert probs.shape == (150, 10)
        assert np.isfinite(probs).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_two_threads_evaluating_get_the_loss_and_metrics_of_one_thread(data):
    x, y = data
    model = mlp()
    alone = model.evaluate(x, y, batch_size=100, verbose=0)
    results = []

    def evaluate():
        for _ in range(5):
            results.append(model.evaluate(x, y, batch_size=100, verbose=0))

    run_in_threads(evaluate, evaluate)
    for result in results:
        np.testing.assert_array_equal(result, alone)


def test_evaluating_in_another_thread_leaves_fits_history_as_alone(data):
    """Each thread has its own metric objects: an evaluate running beside a fit does not reset the
    accuracy fit reports (the weights and the shuffling are those of a fit alone)."""
    x, y = data
    alone = mlp().fit(x, y, batch_size=50, epochs=3, verbose=0).history
    model = mlp()
    training = threading.Event()
    training.set()
    history = {}
    evaluated = []

    def train():
        try:
            history.update(model.fit(x, y, batch_size=50, epochs=3, verbose=0).history)
        finally:
            training.clear()

    def evaluate():
        while training.is_set() or not evaluated:
            evaluated.append(model.evaluate(x[:100], y[:100], batch_size=50, verbose=0))

    run_in_threads(train, evaluate)
    assert evaluated and history == alone


def test_a_sequential_without_input_shape_built_by_two_threads_at_once(data):
    """The first calls build the model on their data: one thread builds, the other finds it built (both
    get the answers of the one model)."""
    x, _ = data
    le4nn.utils.set_random_seed(0)
    model = Sequential([Flatten(), Dense(16, activation="relu"), Dense(10, activation="softmax")])
    answers = []
    run_in_threads(*[lambda: answers.append(model.predict(x, batch_size=100)) for _ in range(4)])
    assert len(model.layers) == 3 and len(answers) == 4
    for answer in answers:
        np.testing.assert_array_equal(answer, model.predict(x, batch_size=100))


def generator_and_discriminator():
    """A GAN's models as ``le4nn.gan`` builds them: the combined model holds the same layer
    objects as the generator and the discriminator."""
    le4nn.utils.set_random_seed(0)
    noise = Input(shape=(8,))
    pixels = Dense(28 * 28, activation="tanh")(Dense(32, activation="relu")(noise))
    generator = Model(noise, Reshape((28, 28, 1))(pixels), name="generator")
    image = Input(shape=(28, 28, 1))
    hidden = Dense(16, activation="relu")(Flatten()(image))
    discriminator = Model(image, Dense(1, activation="sigmoid")(hidden), name="discriminator")
    for model in (generator, discriminator):
        model.compile(optimizer="adam", loss="binary_crossentropy")
    combined = combined_model(generator, discriminator)
    combined.compile(optimizer="adam", loss="binary_crossentropy")
    return generator, discriminator, combined


def test_models_sharing_layers_predict_in_threads_as_alone():
    generator, discriminator, combined = generator_and_discriminator()
    noise = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    images_alone = generator.predict(noise, batch_size=100)
    scores_alone = combined.predict(noise, batch_size=100)
    answers = []

    def images():
        answers.extend(("g", generator.predict(noise, batch_size=100)) for _ in range(10))

    def scores():
        answers.extend(("c", combined.predict(noise, batch_size=100)) for _ in range(10))

    run_in_threads(images, scores)
    assert len(answers) == 20
    for kind, answer in answers:
        np.testing.assert_array_equal(answer, images_alone if kind == "g" else scores_alone)


def test_models_sharing_layers_train_in_threads_without_deadlock():
    """The combined model and the discriminator train at once (the generator's and discriminator's
    steps lock overlapping layer sets), while a third thread samples the generator."""
    generator, discriminator, combined = generator_and_discriminator()
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((64, 8)).astype(np.float32)
    real = rng.random((64, 28, 28, 1), dtype=np.float32) * 2 - 1
    samples = []

    def train_combined():
        for _ in range(10):
            combined.train_on_batch(noise, np.ones((64, 1), np.float32))

    def train_discriminator():
        for _ in range(10):
            discriminator.train_on_batch(real, np.ones((64, 1), np.float32))

    def sample():
        for _ in range(10):
            samples.append(generator.predict(noise, batch_size=32))

    run_in_threads(train_combined, train_discriminator, sample)
    for images in samples:
        assert images.shape == (64, 28, 28, 1) and np.isfinite(images).all()


def test_models_holding_shared_layers_in_opposite_orders_do_not_deadlock():
    """Layer locks are taken in the layers' creation order, not the graph's order."""
    first, second = Dense(6, input_shape=(6,)), Dense(6)
    forward, backward = Sequential([first, second]), Sequential([second, first])
    x = np.random.default_rng(2).standard_normal((40, 6)).astype(np.float32)
    forward.predict(x)
    backward.predict(x)

    def run(model):
        return lambda: [model.predict(x, batch_size=10) for _ in range(200)]

    run_in_threads(run(forward), run(backward))


def test_layer_called_from_two_threads_answers_as_alone(data):
    """``layer(x)`` outside a model holds the layer's lock too (the conv path's scratch columns)."""
    x, _ = data
    layer = Conv2D(16, 5, padding="same", activation="relu")
    alone = layer(x[:64])
    answers = []

    def call():
        answers.extend(layer(x[:64]) for _ in range(10))

    run_in_threads(call, call)
    for answer in answers:
        np.testing.assert_array_equal(answer, alone)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copied_models_have_their_own_locks(how, data):
    """Locks are not copied (they cannot be): a copy gets fresh ones and runs beside the original."""
    import copy
    import pickle

    x, _ = data
    model = cnn()
    twin = copy.deepcopy(model) if how == "deepcopy" else pickle.loads(pickle.dumps(model))
    assert not {id(layer._lock) for layer in model.layers} & {id(layer._lock) for layer in twin.layers}
    alone = model.predict(x, batch_size=100)
    answers = []
    run_in_threads(lambda: answers.append(model.predict(x, batch_size=100)),
                   lambda: answers.append(twin.predict(x, batch_size=100)))
    for answer in answers:
        np.testing.assert_array_equal(answer, alone)
