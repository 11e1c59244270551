"""``le4nn.cli.judging`` and ``python -m le4nn.cli.recipes judge``: the corrupted sets are fixed, the
test-time augmentation averages the shifted outputs, the judge's table and JSON agree with the model,
and hostile arguments give one line on stderr and exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from le4nn.cli import judging, recipes
from le4nn.cli.common import to_model_input
from le4nn.cli.presets import build_preset
from le4nn.datasets import sample
from le4nn.models import load_model

PROG = "python -m le4nn.cli.recipes"


def sample_test(count=60):
    _, (x, y) = sample.load_data()
    return to_model_input(x[:count]), np.asarray(y[:count]).reshape(-1)


def test_corrupted_hard_is_fixed_harder_and_versioned():
    x, _ = sample_test()
    first, second = judging.corrupt_digits_hard(x), judging.corrupt_digits_hard(x)
    np.testing.assert_array_equal(first, second)
    assert first.shape == x.shape and first.dtype == np.float32 and 0 <= first.min() and first.max() <= 1
    assert not np.array_equal(judging.corrupt_digits_hard(x, seed=1), first)
    # chunking does not change the set: one generator runs through the chunks in order
    np.testing.assert_array_equal(judging.corrupt_digits_hard(x, batch_size=7),
                                  judging.corrupt_digits_hard(x, batch_size=7))
    old = judging.corrupt_digits(x)
    assert np.mean(np.abs(first - x)) > np.mean(np.abs(old - x))  # further from the clean digits
    assert isinstance(judging.HARD_VERSION, int) and judging.HARD_SEED != judging.CORRUPTION_SEED


def test_the_corrupted_set_is_still_reachable_from_recipes():
    assert recipes.corrupt_digits is judging.corrupt_digits and recipes.CORRUPTION_SEED == judging.CORRUPTION_SEED


@pytest.mark.parametrize("dr, dc", [(0, 0), (1, 0), (-1, 0), (0, 2), (-2, -1)])
def test_shifted_moves_and_fills_with_black(dr, dc):
    x = np.random.default_rng(0).random((3, 6, 5, 1)).astype(np.float32)
    out = judging.shifted(x, dr, dc)
    for r in range(6):
        for c in range(5):
            source = (r - dr, c - dc)
            inside = 0 <= source[0] < 6 and 0 <= source[1] < 5
            np.testing.assert_array_equal(out[:, r, c], x[:, source[0], source[1]] if inside else 0)


def test_tta_predicts_from_the_mean_of_the_shifted_outputs():
    x, _ = sample_test(40)
    model = build_preset("lecture", (28, 28, 1), 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    outputs = [model.predict(judging.shifted(x, dr, dc)) for dr, dc in judging.TTA_SHIFTS]
    np.testing.assert_array_equal(judging.predict_classes(model, x, tta=True), np.argmax(np.mean(outputs, 0), 1))
    np.testing.assert_array_equal(judging.predict_classes(model, x), np.argmax(outputs[0], 1))


def test_missing_sets_are_noted_not_fatal(monkeypatch):
    from le4nn.datasets import digit_sets

    monkeypatch.setattr(digit_sets, "sklearn_available", lambda: False)
    digit_sets.sklearn_digits.cache_clear()
    x, y = sample_test(10)
    sets, notes = judging.judging_sets(x, y, names=("mnist", "sklearn"))
    assert list(sets) == ["mnist"] and "le4nn[eval]" in notes["sklearn"]
    table = judging.format_table({"mnist": 0.9}, {"mnist": 10}, notes)
    assert "mnist" in table and "90.00%" in table and "sklearn          skipped:" in table


def test_judge_command_table_and_json_agree_with_the_model(cli, trained_model, tmp_path):
    result = cli("recipes", "judge", str(trained_model), "--dataset", "sample", "--sets", "mnist,corrupted-hard",
                 "--json", "judge.json")
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "judge.json").read_text())
    assert set(written["accuracy"]) == {"mnist", "corrupted-hard"} and written["tta"] is False
    _, (x, y) = sample.load_data()
    x, y = to_model_input(x), np.asarray(y).reshape(-1)
    model = load_model(trained_model)
    assert written["accuracy"]["mnist"] == judging.accuracy(model, x, y)
    assert written["accuracy"]["corrupted-hard"] == judging.accuracy(model, judging.corrupt_digits_hard(x), y)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["set", "images", "accuracy", "errors"]
    assert lines[1].split()[:3] == ["mnist", "1000", f"{100 * written['accuracy']['mnist']:.2f}%"]
    tta = cli("recipes", "judge", str(trained_model), "--dataset", "sample", "--sets", "mnist", "--tta")
    assert tta.returncode == 0 and "test-time augmentation" in tta.stdout


def broken_model(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 this is not a model")
    return "broken.npz"


def cifar_model(tmp_path):
    model = build_preset("lecture", (32, 32, 3), 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "cifar.npz")
    return "cifar.npz"


@pytest.mark.parametrize("make_args, name", [
    (lambda tmp: ["judge", "missing.npz", "--dataset", "sample"], "missing.npz"),
    (lambda tmp: ["judge", broken_model(tmp), "--dataset", "sample"], "broken.npz"),
    (lambda tmp: ["judge", cifar_model(tmp), "--dataset", "sample"], "cifar.npz"),
    (lambda tmp: ["judge", "m.npz", "--sets", "mnist,handwriting"], "--sets"),
    (lambda tmp: ["judge", "m.npz", "--sets", ","], "--sets"),
    (lambda tmp: ["judge", "m.npz", "--dataset", "imagenet"], "--dataset"),
    (lambda tmp: ["judge", "m.npz", "--tta=yes"], "--tta"),
    (lambda tmp: ["judge"], "model"),
    (lambda tmp: ["grade", "m.npz"], "grade"),
])
def test_hostile_judge_arguments_are_one_line(run_main, tmp_path, make_args, name):
    status, _, stderr = run_main(recipes, *make_args(tmp_path), prog=PROG)
    assert status == 2, stderr
    assert len(stderr) == 1 and stderr[0].startswith(PROG) and "error" in stderr[0], stderr
    assert name in stderr[0]
