"""The README's examples run as written on a fresh machine with no network (issue 20).

- Every ```python block of README.md and docs/keras-differences.md runs in a subprocess with
  ``LE4NN_OFFLINE=1`` and empty temporary ``HOME`` and ``LE4NN_DATA``, so only the bundled MNIST sample
  is found.
- Every command of README.md's ```bash blocks runs in the order written, in one temporary folder, offline,
  shortened (``--epochs 1 --subset N``, ``--per-class 10``): each must succeed, so each writes where the next
  one reads.  Commands that install, test or benchmark le4nn itself are listed in :data:`NOT_COURSE`; any
  other command this test does not know fails it, so no README command escapes.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import le4nn

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS_WITH_CODE = (README, ROOT / "docs" / "keras-differences.md")
#: Commands of the README that build, install, test or benchmark le4nn (not the course's): not run here.
NOT_COURSE = re.compile(r"^(\S+=\S+ )*(pip install|python -m pytest|python tools/|python benchmarks/|bash \.ci/run"
                        r"|python -m le4nn$|mkdocs build)")
#: Optional packages an example may import: it is skipped where one is not installed.
OPTIONAL_MODULES = ("onnxruntime", "onnx", "torch")
#: Training images per shortened run: classifiers, GANs (two batches of 64).
SUBSET, GAN_SUBSET = 300, 128


def code_blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced block of ``language`` in a Markdown file."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if current is None and line.strip() == f"```{language}":
            current, start = [], number
        elif current is not None and line.strip() == "```":
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _python_blocks():
    return [pytest.param(path, code, id=f"{path.name}:{line}") for path in DOCS_WITH_CODE
            for line, code in code_blocks(path, "python")]


def test_the_documents_have_examples():
    assert len(code_blocks(README, "python")) >= 4 and len(code_blocks(README, "bash")) >= 4
    assert code_blocks(ROOT / "docs" / "keras-differences.md", "python")


@pytest.mark.parametrize(("path", "code"), _python_blocks())
def test_python_block_runs_offline_on_the_bundled_sample(path, code, tmp_path):
    run_python_block(path, code, tmp_path)


def run_python_block(path: Path, code: str, tmp_path: Path) -> None:
    """Run one example in a fresh interpreter in ``tmp_path``, offline, with only the bundled MNIST sample
    (skipped when it imports an optional package that is not installed); fail with its stderr."""
    for module in OPTIONAL_MODULES:
        if re.search(rf"^\s*(import|from) .*\b{module}\b", code, re.M):
            pytest.importorskip(module, reason=f"this example of {path.name} needs {module} (an optional extra)")
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "LE4NN_DATA": str(home / "data"), "LE4NN_OFFLINE": "1",
           "MPLBACKEND": "Agg", "PYTHONPATH": str(Path(le4nn.__file__).parents[1])}
    env.pop("LE4NN_CACHE", None)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{path.name}: the example failed:\n{code}\n{result.stderr[-3000:]}"
    if "load_data()" in code:  # no full MNIST here: the sample, said so
        assert "SampleDataWarning" in result.stderr and "bundled with le4nn" in result.stderr


def readme_commands() -> list[list[str]]:
    """The README's shell commands in order (``a && b`` gives two), as argument lists, comments removed."""
    commands = []
    for _, block in code_blocks(README, "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                end = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:end])
                words = words[end + 1:]
    return [command for command in commands if command and not NOT_COURSE.match(shlex.join(command))]


def _shortened(command: list[str]):
    """A function running one README command, made short for the test, in this process; it returns the
    command's exit status."""
    from le4nn.cli import export, gan, predict, train
    from le4nn.cli.common import run

    program, args = command[0], command[1:]
    if any(arg.endswith(".onnx") for arg in args) and not _onnx_installed():
        return lambda: 0  # le4nn[onnx] is an optional extra: its commands are run where it is installed
    if program == "le4nn-export":
        return lambda: run(export.main, program, args)
    if program == "le4nn-train":
        subset = GAN_SUBSET if "gan" in " ".join(args) else SUBSET
        return lambda: run(train.main, program, [*args, "--epochs", "1", "--subset", str(subset)])
    if program == "le4nn-predict":
        return lambda: run(predict.main, program, args)
    if command[:4] == ["python", "-m", "le4nn.cli.gan", "judge"]:
        return lambda: gan.judge_main([*command[3:], "--per-class", "10"])
    raise AssertionError(f"README.md has a command this test does not know how to run: {shlex.join(command)}")


def _onnx_installed() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch):
    """A temporary working folder with no data but the bundled sample, offline; as the course's extra files,
    a contest dump ``le4MNIST_X.dump`` (the course hands it out) and a tiny Fashion-MNIST under
    ``LE4NN_DATA`` (standing in for the download of the README's Fashion-MNIST command)."""
    from le4nn.datasets import idx_dataset, locate
    from le4nn.datasets.idx import save_idx

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LE4NN_OFFLINE", "1")
    monkeypatch.setenv("LE4NN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LE4NN_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [])
    rng = np.random.default_rng(0)
    fashion = tmp_path / "data" / "fashion-mnist"
    fashion.mkdir(parents=True)
    for stem, count in zip(idx_dataset.STEMS, (400, 400, 100, 100), strict=True):
        array = (rng.integers(0, 256, (count, 28, 28)) if "images" in stem else np.arange(count) % 10)
        save_idx(fashion / f"{stem}.gz", array.astype(np.uint8))
    (tmp_path / "le4MNIST_X.dump").write_bytes(pickle.dumps(rng.integers(0, 256, (50, 784), dtype=np.uint8)))
    return tmp_path


def test_readme_commands_run_in_order_offline(fresh_machine, monkeypatch, capsys):
    from le4nn.models import load_model

    commands = readme_commands()
    assert [c[0] for c in commands].count("le4nn-train") >= 5
    for command in commands:
        monkeypatch.setattr(sys, "stdin", io.StringIO("0\n7\n"))  # task 1 and 4: two test-image indices
        status = _shortened(command)()
        output = capsys.readouterr()
        assert status == 0, f"{shlex.join(command)} failed ({status}):\n{output.err[-2000:]}"
    out = fresh_machine / "le4nn-output"
    assert sorted(p.name for p in out.iterdir()) == ["cdcgan", "cnn", "dcgan", "dcgan-clusters30",
                                                     "lecture-fashion-mnist", "mlp"]
    for name in ("model.npz", "checkpoint.npz", "history.csv", "results.json", "history.png", "confusion.png",
                 "misclassified.png"):
        assert (out / "cnn" / name).is_file(), name  # the Quick start's list of outputs
    # task 3's MLP did not replace the main job's CNN, which task 4 and the contest command classify with
    assert any(type(layer).__name__ == "Conv2D" for layer in load_model(out / "cnn" / "model.npz").layers)
    assert not any(type(layer).__name__ == "Conv2D" for layer in load_model(out / "mlp" / "model.npz").layers)
    assert len((fresh_machine / "predict.txt").read_text().split()) == 50
    if _onnx_installed():  # the contest from the exported ONNX file answers as from the .npz model
        assert (fresh_machine / "predict-onnx.txt").read_text() == (fresh_machine / "predict.txt").read_text()
    assert (fresh_machine / "sevens.png").is_file()
    assert np.load(fresh_machine / "threes.npy").shape == (1000, 28, 28)
    for gan_folder in ("cdcgan", "dcgan", "dcgan-clusters30"):
        assert (out / gan_folder / "generator.npz").is_file() and (out / gan_folder / "samples.png").is_file()
