"""``le4nn.plot``: each function returns a matplotlib Figure and saves a PNG when given a path."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'le4nn[plot]')")

from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from le4nn import plot  # noqa: E402
from le4nn.callbacks import History  # noqa: E402
from le4nn.layers import Conv2D, Dense, Flatten  # noqa: E402
from le4nn.models import Sequential  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG


def test_plot_history_draws_loss_and_accuracy_train_and_validation(tmp_path):
    history = History()
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.7, 0.6), (0.5, 0.8)]):
        history.on_epoch_end(epoch, {"loss": loss, "accuracy": acc, "val_loss": loss + 0.1,
                                     "val_accuracy": acc - 0.1, "lr": 0.01})
    fig = plot.plot_history(history, path=tmp_path / "history.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "history.png")
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]  # lr is not plotted
    for ax, key in zip(axes, ["loss", "accuracy"], strict=True):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["training", "validation"]
        assert list(lines[0].get_ydata()) == history.history[key]
        assert list(lines[1].get_ydata()) == history.history[f"val_{key}"]
        assert list(lines[0].get_xdata()) == [1, 2, 3]


def test_plot_history_takes_a_plain_dict_without_validation():
    fig = plot.plot_history({"loss": [2.0, 1.0]})
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 1


def test_plot_images_marks_the_misclassified_ones(tmp_path, rng):
    images = rng.random((12, 28, 28, 1))
    labels = np.arange(12) % 10
    predictions = labels.copy()
    predictions[[2, 7]] = 0
    fig = plot.plot_images(images, labels, predictions, columns=5, path=tmp_path / "grid.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "grid.png")
    axes = fig.axes
    assert len(axes) == 15  # 3 rows of 5, the last three empty
    red = to_rgba("red")
    for index in range(12):
        title = axes[index].title
        wrong = index in (2, 7)
        assert title.get_text() == f"{labels[index]} →{predictions[index]}"
        assert (to_rgba(title.get_color()) == red) == wrong
        assert (to_rgba(axes[index].spines["left"].get_edgecolor()) == red) == wrong
    assert not axes[14].axison


def test_plot_images_with_class_names_and_channels_first_colour(rng):
    images = rng.random((3, 3, 8, 8))  # NCHW colour images
    fig = plot.plot_images(images, labels=[0, 1, 2], class_names=["cat", "dog", "ship"], columns=3)
    assert [ax.title.get_text() for ax in fig.axes] == ["cat", "dog", "ship"]
    assert fig.axes[0].get_images()[0].get_array().shape == (8, 8, 3)


def test_plot_misclassified(tmp_path, rng):
    images = rng.random((20, 28, 28))
    labels = np.zeros(20, int)
    predictions = labels.copy()
    predictions[[3, 5, 11]] = 1
    fig = plot.plot_misclassified(images, labels, predictions, path=tmp_path / "wrong.png")
    assert _is_png(tmp_path / "wrong.png")
    assert sum(1 for ax in fig.axes if ax.get_images()) == 3
    assert fig._suptitle.get_text() == "3 misclassified of 20"
    assert isinstance(plot.plot_misclassified(images, labels, labels), Figure)  # none wrong


def test_plot_filters_from_a_kernel_a_layer_or_a_model(tmp_path, rng):
    kernel = rng.standard_normal((3, 3, 1, 9))
    fig = plot.plot_filters(kernel, path=tmp_path / "filters.png", columns=4)
    assert _is_png(tmp_path / "filters.png")
    assert sum(1 for ax in fig.axes if ax.get_images()) == 9 and len(fig.axes) == 12
    model = Sequential([Conv2D(6, (3, 3), input_shape=(8, 8, 3)), Flatten(), Dense(2)])
    from_model = plot.plot_filters(model)
    assert sum(1 for ax in from_model.axes if ax.get_images()) == 6
    assert from_model.axes[0].get_images()[0].get_array().shape == (3, 3, 3)  # three channels: colour
    assert isinstance(plot.plot_filters(model.layers[0]), Figure)
    with pytest.raises(ValueError, match="no convolution layer"):
        plot.plot_filters(Sequential([Dense(2, input_shape=(3,))]))
    with pytest.raises(ValueError, match=r"\(kh, kw, in, out\)"):
        plot.plot_filters(np.zeros((3, 3)))


def test_confusion_matrix_counts_and_figure(tmp_path):
    labels = [0, 0, 1, 1, 2, 2, 2]
    predictions = [0, 1, 1, 1, 2, 0, 2]
    matrix = plot.confusion_matrix(labels, predictions)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert plot.confusion_matrix([0], [0], num_classes=4).shape == (4, 4)
    fig = plot.plot_confusion_matrix(labels, predictions, path=tmp_path / "cm.png")
    assert _is_png(tmp_path / "cm.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), matrix)
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(c) for c in matrix.ravel())
    assert ax.get_title() == "accuracy 71.43%"
    named = plot.plot_confusion_matrix(labels, predictions, class_names=["a", "b", "c", "d"])
    assert named.axes[0].get_images()[0].get_array().shape == (4, 4)
