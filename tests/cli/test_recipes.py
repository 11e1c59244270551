"""``le4nn-train --recipe``, ``--augment``, ``--schedule``, ``--warmup``, ``--label-smoothing``, and the
corrupted MNIST test set (short runs on the bundled sample)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math

import numpy as np
import pytest

from le4nn import schedules
from le4nn.cli import recipes
from le4nn.cli.train import parse_args


def test_recipe_fills_only_what_the_command_line_leaves_open():
    args = parse_args(["--recipe", "mnist"])
    recipe = recipes.RECIPES["mnist"]
    assert (args.dataset, args.model, args.augment, args.epochs) == ("mnist", "cnn", recipe.augment, recipe.epochs)
    assert (args.optimizer, args.lr, args.schedule, args.warmup) == ("adam", recipe.learning_rate, "cosine",
                                                                     recipe.warmup)
    assert args.label_smoothing == recipe.label_smoothing and args.corrupted_test
    args = parse_args(["--recipe", "mnist", "--epochs", "1", "--dataset", "sample", "--augment", "none",
                       "--optimizer", "sgd"])
    assert (args.epochs, args.dataset, args.augment, args.optimizer, args.lr) == (1, "sample", "none", "sgd", None)


def test_defaults_without_a_recipe_are_unchanged():
    args = parse_args([])
    assert (args.dataset, args.model, args.batch_size, args.validation_split) == ("auto", "cnn", 100, 0.1)
    assert (args.augment, args.schedule, args.warmup, args.label_smoothing) == ("none", "constant", 0.0, 0.0)
    assert args.epochs is None and not args.corrupted_test


@pytest.mark.parametrize(
    "spec, values",
    [
        ("constant", {0: 0.1, 5: 0.1}),
        ("cosine", {0: 0.1, 5: 0.05, 10: 0.0}),
        ("cosine:0.1", {0: 0.1, 10: 0.01}),
        ("step:4", {0: 0.1, 3.9: 0.1, 4: 0.01, 8: 0.001}),
        ("step:2:0.5", {0: 0.1, 2: 0.05, 4: 0.025}),
        ("exp:0.5", {0: 0.1, 1: 0.05, 2: 0.025}),
    ],
)
def test_schedule_specs(spec, values):
    schedule = recipes.parse_schedule(spec, 0.1, epochs=10)
    for t, expected in values.items():
        assert math.isclose(schedule(t), expected, abs_tol=1e-12), (spec, t)


def test_schedule_spec_with_warmup_and_errors():
    schedule = recipes.parse_schedule("cosine", 0.1, epochs=11, warmup=1)
    assert isinstance(schedule, schedules.Warmup)
    assert schedule(0) == 0 and math.isclose(schedule(0.5), 0.05) and math.isclose(schedule(6), 0.05)
    for bad in ("cosin", "step", "step:a", "exp:1:2", "constant:3"):
        with pytest.raises(ValueError):
            recipes.parse_schedule(bad, 0.1, 10)


def test_corrupted_set_is_fixed_and_in_range():
    from le4nn.datasets import sample

    _, (x, _) = sample.load_data()
    x = x[:50, :, :, None].astype(np.float32) / 255
    first, second = recipes.corrupt_digits(x), recipes.corrupt_digits(x)
    np.testing.assert_array_equal(first, second)
    assert first.shape == x.shape and first.dtype == np.float32 and 0 <= first.min() and first.max() <= 1
    assert not np.array_equal(first, x)
    assert not np.array_equal(recipes.corrupt_digits(x, seed=1), first)


def test_recipe_smoke_run_writes_model_plots_and_corrupted_accuracy(cli, tmp_path):
    result = cli("train", "--recipe", "mnist", "--dataset", "sample", "--subset", "500", "--epochs", "1",
                 "--output", "run")
    assert result.returncode == 0, result.stderr
    assert "recipe mnist" in result.stdout and "corrupted test set" in result.stdout
    assert "test accuracy" in result.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0 <= results["corrupted_test_accuracy"] <= 1 and results["epochs"] == 1
    written = ["model.npz", "history.csv"]
    if importlib.util.find_spec("matplotlib") is not None:  # plots only with the plot extra
        written += ["history.png", "misclassified.png", "augmented.png", "corrupted.png"]
    for name in written:
        assert (tmp_path / "run" / name).exists(), name
    evaluated = cli("recipes", "corrupted", str(tmp_path / "run" / "model.npz"), "--dataset", "sample")
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"corrupted test accuracy {results['corrupted_test_accuracy']:.4f}" in evaluated.stdout


def test_schedule_and_options_without_a_recipe(cli, tmp_path):
    result = cli("train", "--model", "lecture", "--subset", "400", "--epochs", "2", "--augment", "digits",
                 "--schedule", "step:1:0.5", "--lr", "0.004", "--label-smoothing", "0.1", "--output", "run")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["lr"]) for r in rows] == [0.004, 0.002]
    assert "label smoothing 0.1" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--recipe", "imagenet"], "invalid choice"),
        (["--augment", "everything"], "--augment must be one of"),
        (["--schedule", "wiggly", "--model", "mlp", "--epochs", "1", "--subset", "100"], "unknown schedule"),
        (["--label-smoothing", "1.5"], "--label-smoothing: must be in"),
    ],
)
def test_bad_recipe_options_give_one_line_errors(cli, args, message):
    result = cli("train", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_contest_recipe_fills_its_choices():
    args = parse_args(["--recipe", "contest"])
    recipe = recipes.RECIPES["contest"]
    assert (args.model, args.augment, args.weight_ema, args.judge) == ("cnn-wide", "contest", 0.999, True)
    assert args.epochs == recipe.epochs and args.corrupted_test and args.dataset == "mnist"
    assert (args.members, args.tta) == (recipe.members, True) and recipe.members > 1
    assert parse_args(["--recipe", "contest", "--weight-ema", "0"]).weight_ema == 0
    assert parse_args(["--recipe", "contest", "--members", "1"]).members == 1
    plain = parse_args([])
    assert plain.weight_ema == 0 and not plain.judge and plain.members == 1 and not plain.tta


def test_contest_smoke_run_judges_every_set_and_saves_the_average(cli, tmp_path):
    # 2 members: the recipe's 3 would only take longer; the native backend also in the NumPy test pass (the
    # CLI is under test here, and judging ~37000 images twice on the NumPy twins takes minutes)
    result = cli("train", "--recipe", "contest", "--dataset", "sample", "--subset", "300", "--epochs", "1",
                 "--members", "2", "--backend", "native", "--output", "run")
    assert result.returncode == 0, result.stderr
    assert "recipe contest" in result.stdout and "judging sets" in result.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    judged = {**results["judging"], **results.get("judging_skipped", {})}
    assert set(judged) == set(recipes.judging.SET_NAMES)
    assert results["judging"]["mnist"] == results["test_accuracy"]
    assert results["judging"]["corrupted"] == results["corrupted_test_accuracy"]
    assert all(0 <= value <= 1 for value in results["judging"].values())
    from le4nn.models import load_model

    assert results["members"] == 2 and set(results["judging_tta"]) == set(results["judging"])
    for k in range(1, results["members"] + 1):  # each member is its weights' moving average
        averaged = load_model(tmp_path / "run" / f"member{k}.npz")
        trained = load_model(tmp_path / "run" / f"checkpoint-member{k}.npz")
        assert any(not np.array_equal(a, t) for a, t in zip(averaged.get_weights(), trained.get_weights(),
                                                            strict=True))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--weight-ema", "1"], "--weight-ema: must be in"),
        (["--weight-ema", "nan"], "--weight-ema"),
        (["--model", "dcgan", "--weight-ema", "0.9"], "--weight-ema, --judge, --tta and --members go with classifiers"),
        (["--model", "dcgan", "--judge"], "--weight-ema, --judge, --tta and --members go with classifiers"),
    ],
)
def test_bad_averaging_options_give_one_line_errors(cli, args, message):
    result = cli("train", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
