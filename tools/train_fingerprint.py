"""Fingerprints of fixed-seed training runs: one SHA-256 line per (model, backend, threads).

Run it on two trees to show that a change altered no bit of any result (issue 16's restructuring)::

    PYTHONPATH=src python tools/train_fingerprint.py > after.txt
    PYTHONPATH=/path/to/old/src python tools/train_fingerprint.py > before.txt
    diff before.txt after.txt

Each run trains for a few batches on the bundled MNIST sample (offline) and hashes the weights, the
optimizer's slots, the history and the predictions of the trained model.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np

import le4nn
from le4nn import layers
from le4nn.datasets import sample
from le4nn.models import Model, Sequential


def _digits(n: int = 256):
    (x, y), _ = sample.load_data()
    x = x[:n].astype("float32")[..., None] / 255
    return x, le4nn.utils.to_categorical(y[:n], 10)


def _conv_net(data_format: str, input_shape) -> Sequential:
    return Sequential([
        layers.Conv2D(6, 3, padding="same", activation="relu", data_format=data_format, input_shape=input_shape),
        layers.MaxPooling2D(2, data_format=data_format),
        layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu", data_format=data_format),
        layers.BatchNormalization(axis=1 if data_format == "channels_first" else -1),
        layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="sigmoid", data_format=data_format),
        layers.AveragePooling2D(2, data_format=data_format),
        layers.Flatten(),
        layers.Dropout(0.2, mode="inverted"),
        layers.Dense(10, activation="softmax"),
    ])


def _functional() -> Model:
    inputs = layers.Input((28, 28, 1))
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = layers.Conv2D(4, 5, padding="same", activation="tanh")(inputs)
    merged = layers.Concatenate()([layers.Add()([a, b]), a])
    pooled = layers.GlobalAveragePooling2D()(merged)
    flat = layers.Dense(16, activation="relu")(layers.Flatten()(layers.MaxPooling2D(4)(merged)))
    out = layers.Dense(10, activation="softmax")(layers.Concatenate()([pooled, flat]))
    return Model(inputs, out)


def _models():
    from le4nn.cli.presets import build_preset

    yield "mlp", lambda: build_preset("mlp", (28, 28, 1), 10), "sgd", "channels_last"
    yield "lecture", lambda: build_preset("lecture", (28, 28, 1), 10), "adam", "channels_last"
    yield "cnn", lambda: build_preset("cnn", (28, 28, 1), 10), "adam", "channels_last"
    yield "conv-last", lambda: _conv_net("channels_last", (28, 28, 1)), "rmsprop", "channels_last"
    yield "conv-first", lambda: _conv_net("channels_first", (1, 28, 28)), "adadelta", "channels_first"
    yield "functional", _functional, "adam", "channels_last"


def _digest(model, history, predictions) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    h.update(json.dumps(history, sort_keys=True).encode())
    h.update(np.ascontiguousarray(predictions).tobytes())
    return h.hexdigest()


def _train(build, optimizer, data_format, x, y) -> str:
    le4nn.utils.set_random_seed(1234)
    model = build()
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0).history
    return _digest(model, history, model.predict(x[:64], verbose=0))


def _gan(x) -> str:
    from le4nn import gan

    le4nn.utils.set_random_seed(99)
    generator, discriminator = gan.build_dcgan(latent_dim=8)
    trainer = gan.GANTrainer(generator, discriminator)
    history = trainer.fit(x[:128] * 2 - 1, epochs=1, batch_size=32, verbose=0)
    history = {k: v for k, v in getattr(history, "history", history).items() if k != "seconds"}  # wall time
    model_hash = _digest(generator, history, gan.generate(generator, 8, seed=3))
    return hashlib.sha256((model_hash + _digest(discriminator, {}, np.zeros(1))).encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--backends", default="native,numpy")
    args = parser.parse_args()
    x, y = _digits()
    for backend in args.backends.split(","):
        le4nn.set_backend(backend)
        for threads in (int(t) for t in args.threads.split(",")):
            le4nn.set_num_threads(threads)
            for name, build, optimizer, data_format in _models():
                print(f"{name:<11} {backend:<6} threads={threads} {_train(build, optimizer, data_format, x, y)}",
                      flush=True)
            print(f"{'dcgan':<11} {backend:<6} threads={threads} {_gan(x)}", flush=True)


if __name__ == "__main__":
    main()
