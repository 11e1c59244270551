"""``le4nn-train``'s default output folder: one per thing trained, so the course's commands do not overwrite
each other (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from le4nn.cli.train import parse_args

ROOT = Path("le4nn-output")


@pytest.mark.parametrize(("argv", "folder"), [
    ([], "cnn"),
    (["--model", "mlp", "--epochs", "10", "--batch-size", "100", "--lr", "0.01", "--optimizer", "sgd"], "mlp"),
    (["--model", "lecture", "--dataset", "fashion-mnist"], "lecture-fashion-mnist"),
    (["--dataset", "sample"], "cnn"),
    (["--dataset", "mnist", "--model", "resnet"], "resnet"),
    (["--recipe", "mnist"], "recipe-mnist"),
    (["--recipe", "cifar10", "--model", "resnet20"], "recipe-cifar10-resnet20"),
    (["--members", "3"], "cnn-members3"),
    (["--model", "cdcgan"], "cdcgan"),
    (["--model", "dcgan"], "dcgan"),
    (["--model", "dcgan", "--clusters", "30"], "dcgan-clusters30"),
])
def test_each_command_has_a_folder_of_its_own(argv, folder):
    assert parse_args(argv).output == ROOT / folder


def test_paths_give_their_last_name(tmp_path):
    config = tmp_path / "configs" / "My Net.json"
    config.parent.mkdir()
    config.write_text("{}")
    data = tmp_path / "cifar-10-partial"
    assert parse_args(["--model", str(config), "--dataset", f"{data}/"]).output == ROOT / "My Net-cifar-10-partial"
    assert parse_args(["--model", "../.json"]).output == ROOT / "model"


def test_an_explicit_output_and_resume_are_kept(tmp_path):
    assert parse_args(["--model", "mlp", "--output", "mine"]).output == Path("mine")
    checkpoint = tmp_path / "runs" / "mlp" / "checkpoint.npz"
    assert parse_args(["--model", "mlp", "--resume", str(checkpoint)]).output == checkpoint.parent


def test_a_file_in_the_way_of_the_default_folder_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "le4nn-output").write_text("not a folder")
    with pytest.raises(SystemExit) as info:
        parse_args(["--model", "mlp"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "the default output folder 'le4nn-output/mlp' lies under 'le4nn-output', which is a file" in err
    assert "give --output DIR" in err
