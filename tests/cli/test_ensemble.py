"""``le4nn-train --members N`` and :func:`le4nn.cli.ensemble.build_ensemble`: members trained one after
another saved as one model whose output is the mean of theirs; judging and hostile values."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from le4nn import layers
from le4nn.cli import ensemble
from le4nn.cli import train as train_cli
from le4nn.models import Model, Sequential, load_model

TRAIN_FAST = ("--dataset", "sample", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--quiet")


def _residual_member(seed: int) -> Model:
    """A small functional model with a branch and an Add (as a ResNet's blocks)."""
    inputs = layers.Input(shape=(6, 6, 1))
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    y = layers.Conv2D(3, 3, padding="same")(layers.BatchNormalization()(x))
    x = layers.ReLU()(layers.Add()([x, y]))
    out = layers.Dense(4, activation="softmax")(layers.Flatten()(x))
    model = Model(inputs=inputs, outputs=out)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.5 + (w if w.ndim == 1 else 0)
                       for w in model.get_weights()])  # BatchNorm statistics and biases away from defaults
    return model


def _sequential_member(seed: int) -> Sequential:
    model = Sequential([layers.Flatten(input_shape=(6, 6, 1)), layers.Dense(5, activation="relu"),
                        layers.Dense(4, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("factory", [_residual_member, _sequential_member], ids=["functional", "sequential"])
@pytest.mark.parametrize("count", [2, 3])
def test_build_ensemble_averages_copies_of_the_members(factory, count, rng):
    members = [factory(seed) for seed in range(count)]
    model = ensemble.build_ensemble(members)
    x = rng.standard_normal((7, 6, 6, 1)).astype(np.float32)
    expected = np.mean([member.predict(x) for member in members], axis=0)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-7)
    assert isinstance(model.layers[-1], layers.Average) and len({layer.name for layer in model.layers}) == len(
        model.layers)
    copies = [layer for layer in model.layers if layer.name.startswith("m1_")]
    for copy_weights, weights in zip([w for layer in copies for w in layer.get_weights()],
                                     members[0].get_weights(), strict=True):
        np.testing.assert_array_equal(copy_weights, weights)  # BatchNorm statistics included
    members[0].layers[-1].params["kernel"][...] = 0  # copied, not shared
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-7)


def test_build_ensemble_refuses_mismatched_members():
    with pytest.raises(ValueError, match="at least 2 members"):
        ensemble.build_ensemble([_sequential_member(0)])
    other = Sequential([layers.Flatten(input_shape=(6, 6, 1)), layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="same shapes"):
        ensemble.build_ensemble([_sequential_member(0), other])


def test_two_members_on_the_sample_make_one_model(cli, tmp_path):
    result = cli("train", "--model", "lecture", "--dataset", "sample", "--subset", "300", "--epochs", "2",
                 "--members", "2", "--weight-ema", "0.9", "--judge", "--tta", "--augment", "digits,none",
                 "--backend", "native", "--output", "run")  # native also in the NumPy pass: judging 5 sets
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    assert "member 2 of 2: seed 1" in result.stdout and "test-time augmentation" in result.stdout
    assert result.stdout.count("augmentation: digits;") == 1  # member 2 trains without augmentation
    model = load_model(run / "model.npz")
    members = [load_model(run / f"member{k}.npz") for k in (1, 2)]
    from le4nn import datasets
    from le4nn.cli.common import to_model_input

    _, (x_test, y_test) = datasets.load("sample")
    x = to_model_input(x_test)
    outputs = [member.predict(x, batch_size=1000) for member in members]
    assert not np.array_equal(outputs[0], outputs[1])  # seeds 0 and 1
    np.testing.assert_allclose(model.predict(x, batch_size=1000), (outputs[0] + outputs[1]) / 2, rtol=1e-5,
                               atol=1e-7)
    results = json.loads((run / "results.json").read_text())
    accuracies = [float(np.mean(np.argmax(o, axis=1) == y_test)) for o in outputs]
    assert results["members"] == 2 and results["member_seeds"] == [0, 1]
    assert results["member_augment"] == ["digits", "none"]
    np.testing.assert_allclose(results["member_test_accuracy"], accuracies)
    assert results["test_accuracy"] == pytest.approx(float(np.mean(np.argmax(model.predict(x), axis=1) == y_test)))
    assert set(results["judging_tta"]) == set(results["judging"])
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["member"], r["epoch"]) for r in rows] == [("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")]
    for k in (1, 2):
        assert (run / f"checkpoint-member{k}.npz").exists() and (run / f"history-member{k}.csv").exists()
    judged = cli("recipes", "judge", str(run / "model.npz"), "--dataset", "sample", "--tta", "--sets",
                 "mnist,corrupted")
    assert judged.returncode == 0, judged.stderr
    assert f"{100 * results['judging_tta']['mnist']:.2f}%" in judged.stdout
    predicted = cli("predict", str(run / "model.npz"), input="0\n1\n2\n")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.split() == [str(c) for c in np.argmax(model.predict(x[:3]), axis=1)]


@pytest.mark.parametrize("value", ["0", "-1", "x", "1e9", "1000000000", "2.5", ""])
def test_hostile_members_values(run_main, value):
    status, _, stderr = run_main(train_cli, *TRAIN_FAST, "--members", value, prog="le4nn-train")
    assert status == 2 and len(stderr) == 1 and "--members" in stderr[0], stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--members", "2", "--resume", "checkpoint.npz"], "an ensemble (--members > 1) cannot be resumed"),
        (["--model", "dcgan", "--members", "2"], "--members go with classifiers"),
        (["--tta"], "--tta goes with --judge"),
        (["--augment", "contest,digits"], "a list of --augment presets goes with --members N > 1"),
        (["--members", "3", "--augment", "contest,bogus"], "got 'bogus'"),
        (["--members", "2", "--augment", "contest,"], "got ''"),
    ],
)
def test_members_and_tta_refuse_what_they_cannot_do(run_main, args, message):
    status, _, stderr = run_main(train_cli, *args, prog="le4nn-train")
    assert status == 2 and len(stderr) == 1 and message in stderr[0], stderr


def test_one_member_is_a_plain_run(run_main, tmp_path):
    status, _, stderr = run_main(train_cli, *TRAIN_FAST, "--subset", "200", "--members", "1", "--output", "one",
                                 prog="le4nn-train")
    assert status == 0, stderr
    assert (tmp_path / "one" / "checkpoint.npz").exists() and not (tmp_path / "one" / "member1.npz").exists()
    assert "members" not in json.loads((tmp_path / "one" / "results.json").read_text())
