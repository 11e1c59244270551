"""``model.summary()`` in Keras 2's layout, ``model_to_dot`` and ``plot_model``."""

from __future__ import annotations

import os
import shutil

import pytest

from le4nn.layers import Add, BatchNormalization, Concatenate, Conv2D, Dense, Flatten, Input, MaxPooling2D
from le4nn.models import Model, Sequential, model_to_dot, plot_model


def _bn_model() -> Sequential:
    return Sequential([
        Conv2D(8, (3, 3), activation="relu", input_shape=(10, 10, 1), name="conv"),
        BatchNormalization(name="bn"),
        MaxPooling2D((2, 2), name="pool"),
        Flatten(name="flat"),
        Dense(10, activation="softmax", name="out"),
    ], name="bn_model")


def _branching() -> Model:
    inputs = Input(shape=(6,), name="x")
    a = Dense(4, name="left")(inputs)
    b = Dense(4, name="right")(inputs)
    merged = Concatenate(name="cat")([Add(name="sum")([a, b]), b])
    return Model(inputs=inputs, outputs=Dense(2, name="head")(merged), name="branchy")


def test_summary_lists_layers_shapes_params_and_totals(capsys):
    model = _bn_model()
    model.summary()
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == 'Model: "bn_model"'
    assert "Layer (type)" in lines[2] and "Output Shape" in lines[2] and "Param #" in lines[2]
    expected_rows = {
        "conv (Conv2D)": ("(None, 8, 8, 8)", "80"),
        "bn (BatchNormalization)": ("(None, 8, 8, 8)", "32"),
        "pool (MaxPooling2D)": ("(None, 4, 4, 8)", "0"),
        "flat (Flatten)": ("(None, 128)", "0"),
        "out (Dense)": ("(None, 10)", "1,290"),
    }
    for name, (shape, params) in expected_rows.items():
        row = next(line for line in lines if name in line)
        assert shape in row and row.split()[-1] == params, row
    # BatchNormalization: gamma and beta train, the moving mean and variance do not.
    assert "Total params: 1,402" in text
    assert "Trainable params: 1,386" in text
    assert "Non-trainable params: 16" in text
    assert model.count_params() == 1402


def test_summary_of_a_functional_model_shows_connections():
    lines = []
    _branching().summary(print_fn=lines.append)
    text = lines[0]
    assert "Connected to" in text
    cat_row = next(line for line in text.splitlines() if line.lstrip().startswith("cat (Concatenate)"))
    assert "sum, right" in cat_row
    assert "x (InputLayer)" in text and "(None, 6)" in text
    assert "Total params: 74" in text  # two Dense(4) on 6 inputs (28 each), Dense(2) on 8 (18)


def test_summary_of_an_unbuilt_model(capsys):
    Sequential([Dense(3), Dense(2)], name="later").summary()
    text = capsys.readouterr().out
    assert "(unbuilt)" in text and "not built yet" in text


def test_model_to_dot_has_a_node_per_layer_and_the_edges():
    dot = model_to_dot(_branching())
    assert dot.startswith("digraph model {") and dot.rstrip().endswith("}")
    for name in ("x", "left", "right", "sum", "cat", "head"):
        assert f"{{{name}|" in dot
    assert dot.count("->") == 7  # x→left, x→right, left→sum, right→sum, sum→cat, right→cat, cat→head
    assert "(None, 8)" in dot  # shapes shown, brackets escaped for the record label
    assert "(None, 8)" not in model_to_dot(_branching(), show_shapes=False)


def test_plot_model_draws_a_png_or_says_graphviz_is_missing(tmp_path):
    model = _bn_model()
    target = tmp_path / "model.png"
    if shutil.which("dot") is None:
        with pytest.raises(RuntimeError, match="Graphviz's 'dot' program.*model_to_dot"):
            plot_model(model, to_file=target)
        assert not target.exists()
    else:
        assert plot_model(model, to_file=target) == target
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_model_without_dot_on_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        plot_model(_bn_model(), to_file=tmp_path / "m.png")


def test_plot_model_feeds_the_dot_text_to_graphviz(monkeypatch, tmp_path):
    """With a stand-in ``dot`` on the PATH: plot_model passes -Tpng, -o <file> and the DOT text."""
    fake = tmp_path / "dot"
    fake.write_text(
        "#!/bin/sh\n"
        f'cat > "{tmp_path}/received.dot"\n'
        f'echo "$@" > "{tmp_path}/args.txt"\n'
        'while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then printf "fake" > "$2"; fi; shift; done\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    model = _branching()
    out = plot_model(model, to_file=tmp_path / "graph.png")
    assert out.read_text() == "fake"
    assert (tmp_path / "args.txt").read_text().split() == ["-Tpng", "-o", str(tmp_path / "graph.png")]
    assert (tmp_path / "received.dot").read_text() == model_to_dot(model)


def test_summary_text_follows_the_model_class_unless_told():
    """``summary_text(model)`` called directly gives what ``model.summary()`` prints: no "Connected to"
    column for a Sequential chain, one for a functional model; ``connections=`` overrides it."""
    from le4nn import layers
    from le4nn.models import Model, Sequential
    from le4nn.models.summary import summary_text

    chain = Sequential([layers.Dense(3, input_shape=(4,))])
    inputs = layers.Input((4,))
    functional = Model(inputs, layers.Dense(3)(inputs))
    printed = []
    chain.summary(print_fn=printed.append)
    assert summary_text(chain) == printed[0]
    assert "Connected to" not in summary_text(chain)
    assert "Connected to" in summary_text(functional)
    assert "Connected to" in summary_text(chain, connections=True)
    assert "Connected to" not in summary_text(functional, connections=False)
