"""``le4nn-predict``: classify MNIST test images by index (handout tasks 1 and 4), or whole files (contest).

MODEL is a ``.npz`` file saved by le4nn-train, or an ``.onnx`` model (e.g. exported from PyTorch, read by
:func:`le4nn.models.load_onnx`; its images are arranged in the model's input layout, (N, 1, 28, 28) for
an NCHW model).

- ``le4nn-predict MODEL``: reads integers i from standard input (with a prompt on a terminal) and prints
  the predicted digit of MNIST test image i; ``--show`` also saves the image as a PNG (10× enlarged,
  which ``--input`` reads back).
- ``le4nn-predict --random-init --seed S``: the same with the handout's 3-layer network and its random
  initial weights (task 1); the same seed gives the same answers.
- ``le4nn-predict MODEL --input FILE... --output predict.txt``: FILE is a contest dump (a pickled array
  N×784 or N×28×28), an idx file, an ``.npy`` file, or PNG images, read by :mod:`le4nn.datasets.inputs`
  (sizes checked before decoding; pixels by the one rule of :mod:`le4nn.datasets.pixels`); writes one
  predicted class per line in input order.  ``--labels FILE`` also prints the accuracy and the confusion
  matrix (labels must lie in 0..K-1, K the model's number of classes).
- ``le4nn-predict GENERATOR --generate N [--digit D] [--seed S] --output FILE.png|FILE.npy``: draws N images
  with a generator saved by ``le4nn-train --model dcgan|cdcgan``: a grid PNG, or the raw images as a uint8
  array N×H×W in an ``.npy`` file.  ``--digit`` chooses the class of a conditional generator (without it,
  image i shows class i mod 10: one column per class in the grid); the same seed gives the same images.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from le4nn._files import write_bytes, write_text
from le4nn._typing import PathLike
from le4nn.cli.common import (
    ArgumentParser,
    CLIError,
    int_range,
    output_file,
    run,
    seed,
    to_model_input,
)

#: The most images ``--generate`` draws into a grid PNG, and into an ``.npy`` array.
MAX_GENERATE_PNG = 10_000
MAX_GENERATE_NPY = 100_000
#: The test sets ``le4nn-predict`` indexes.
TEST_SETS = ("auto", "mnist", "fashion-mnist", "kmnist", "sample")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="le4nn-predict", description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a model file saved by le4nn-train (model.npz), or an ONNX model "
                        "(model.onnx, e.g. exported from PyTorch; needs pip install \"le4nn[onnx]\")")
    parser.add_argument("--random-init", action="store_true",
                        help="use the handout's 3-layer network with random initial weights instead of a model")
    parser.add_argument("--seed", type=seed, default=0, help="seed of --random-init and --generate (default 0)")
    parser.add_argument("--input", nargs="+", metavar="FILE",
                        help="classify these: a contest dump, an idx file, an .npy file or PNG images")
    parser.add_argument("--output", type=output_file, metavar="FILE", help="write the predictions here, one per line "
                        "(default: standard output); with --generate: a .png grid or an .npy array "
                        "(default generated.png)")
    parser.add_argument("--labels", metavar="FILE",
                        help="true labels for --input (idx, .npy or one integer per line): print accuracy "
                        "and the confusion matrix")
    parser.add_argument("--show", action="store_true",
                        help="with indices: save each image, 10x enlarged, to le4nn-image-<i>-predicted-<digit>.png")
    parser.add_argument("--dataset", default="auto", choices=TEST_SETS,
                        help="test images to index: mnist, fashion-mnist, kmnist, sample or auto (default: "
                        "MNIST if found locally, else the bundled sample's 1000 test images)")
    parser.add_argument("--generate", type=int_range(1, MAX_GENERATE_NPY), metavar="N",
                        help="draw N images with a generator (le4nn-train --model dcgan|cdcgan) instead of "
                        "classifying")
    parser.add_argument("--digit", type=int, metavar="D",
                        help="with --generate and a conditional generator: the class (digit) to draw")
    args = parser.parse_args(argv)
    if args.random_init == (args.model is not None):
        parser.error("give a MODEL file or --random-init (not both)")
    if args.generate is not None:
        if args.random_init:
            parser.error("--generate needs a generator file, not --random-init")
        if args.input or args.labels or args.show:
            parser.error("--generate does not go with --input, --labels or --show")
        if args.output is None:
            args.output = Path("generated.png")
        if args.output.suffix.lower() not in (".png", ".npy"):
            parser.error(f"argument --output: with --generate it must end in .png (a grid) or .npy (the raw "
                         f"images), got {str(args.output)!r}")
        if args.output.suffix.lower() == ".png" and args.generate > MAX_GENERATE_PNG:
            parser.error(f"argument --generate: a grid PNG holds at most {MAX_GENERATE_PNG} images, got "
                         f"{args.generate} (write an .npy for up to {MAX_GENERATE_NPY})")
        return args
    if args.digit is not None:
        parser.error("--digit goes with --generate")
    if (args.labels or args.output) and not args.input:
        parser.error("--labels and --output go with --input")
    return args


def load_classifier(args):
    from le4nn.cli.presets import build_preset
    from le4nn.models import load_model
    from le4nn.utils import set_random_seed

    if args.random_init:
        set_random_seed(args.seed)
        return build_preset("mlp", (28, 28, 1), 10)
    if str(args.model).lower().endswith(".onnx"):
        return load_onnx_classifier(args.model)
    model = load_model(args.model, compile=False)
    return model


def load_onnx_classifier(path: PathLike):
    """An ``.onnx`` model through :func:`le4nn.models.load_onnx` (a missing onnx package is a CLIError).
    A PyTorch (NCHW) model takes (N, 1, 28, 28) images: :func:`check_fits` arranges the images in the
    layout of the model's input shape."""
    from le4nn.models import OnnxNotInstalledError, load_onnx

    try:
        return load_onnx(path)
    except OnnxNotInstalledError as exc:
        raise CLIError(str(exc)) from None


def check_one_input_and_output(model, path: PathLike) -> None:
    if isinstance(model.input_shape, list) or isinstance(model.output_shape, list):
        raise CLIError(f"{path}: the model has several inputs or outputs; le4nn-predict classifies with "
                       "a model of one image input and one class output")


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected, strict=True))


def to_model_layout(x: np.ndarray, expected: tuple) -> np.ndarray | None:
    """Images (N, H, W, C) in the layout of a model taking ``expected``: (H, W, C) as they are, (C, H, W)
    (channels first), (H, W) (one channel) or (H·W·C,) (flat, as the handout's 3-layer network); None
    when none fits."""
    n, h, w, c = x.shape
    layouts = [((h, w, c), lambda: x), ((c, h, w), lambda: x.transpose(0, 3, 1, 2)),
               ((h * w * c,), lambda: x.reshape(n, h * w * c))]
    if c == 1:
        layouts.append(((h, w), lambda: x[..., 0]))
    for shape, arrange in layouts:
        if _fits(shape, expected):
            return np.ascontiguousarray(arrange())
    return None


def check_fits(model, images: np.ndarray, source: str) -> np.ndarray:
    """``images`` as the model's input, or a CLIError naming ``source`` when their shape does not fit."""
    x = to_model_input(images)
    expected = tuple(model.input_shape[1:]) if model.input_shape else None
    if expected is None:
        return x
    arranged = to_model_layout(x, expected)
    if arranged is None:
        raise CLIError(f"{source}: images of shape {x.shape[1:]} do not fit the model, which takes {expected}")
    return arranged


def predict_classes(model, images: np.ndarray, source: str = "the images") -> np.ndarray:
    return classes_of(model, check_fits(model, images, source))


def classes_of(model, x: np.ndarray) -> np.ndarray:
    """The predicted class of each of ``x``, already in the model's input layout."""
    return np.argmax(model.predict(x, batch_size=1000), axis=1)


# --- reading input files ------------------------------------------------------------------------


def model_image_shape(model) -> tuple[int, int] | None:
    """(H, W) of the images the model takes, when its input is (H, W), (H, W, C) or (C, H, W) images."""
    shape = model.input_shape
    if shape is None or len(shape) not in (3, 4):
        return None
    if len(shape) == 4 and shape[3] not in (1, 3):
        return tuple(shape[2:4]) if shape[1] in (1, 3) else None  # channels first
    return tuple(shape[1:3])


def model_classes(model) -> int:
    """The number of classes the model predicts (the size of its output)."""
    return int(model.output_shape[-1])


def classify_files(model, args) -> int:
    from le4nn.datasets import DatasetError
    from le4nn.datasets.inputs import read_images, read_labels

    images = [check_fits(model, read_images(p, model_image_shape(model)), p) for p in args.input]
    shapes = {im.shape[1:] for im in images}  # (N, H, W) and (N, H, W, 1) files go together
    if len(shapes) > 1:
        raise CLIError(f"the input images have different sizes: {sorted(shapes)}")
    classes = model_classes(model)
    # The labels are checked before anything is written: a bad --labels leaves --output as it was.
    labels = None
    if args.labels:
        try:
            labels = read_labels(args.labels, sum(len(im) for im in images), classes)
        except DatasetError as exc:
            raise CLIError(f"--labels {exc}") from None
    predictions = classes_of(model, np.concatenate(images))
    text = "".join(f"{p}\n" for p in predictions)
    if args.output:
        write_text(args.output, text)
        print(f"wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if labels is not None:
        print_confusion(labels, predictions, classes)
    return 0


def print_confusion(labels: np.ndarray, predictions: np.ndarray, classes: int) -> None:
    """Accuracy and the confusion matrix (rows: true, columns: predicted) on stderr."""
    from le4nn.plot import confusion_matrix

    matrix = confusion_matrix(labels, predictions, classes)
    print(f"accuracy {np.mean(labels == predictions):.4f} ({np.sum(labels == predictions)}/{len(labels)})",
          file=sys.stderr)
    print("confusion matrix (rows: true, columns: predicted):", file=sys.stderr)
    print("     " + "".join(f"{c:>6}" for c in range(classes)), file=sys.stderr)
    for c, row in enumerate(matrix):
        print(f"{c:>5}" + "".join(f"{n:>6}" for n in row), file=sys.stderr)


# --- interactive indices --------------------------------------------------------------------------


def load_test_images(dataset: str):
    from le4nn import datasets

    if dataset == "auto":
        try:
            return datasets.load("mnist", download=False)[1], "MNIST test set"
        except datasets.DatasetNotFoundError:
            return datasets.load("sample")[1], "bundled sample's test set (full MNIST not found locally)"
    return datasets.load(dataset)[1], f"{dataset} test set"


def save_image(image: np.ndarray, index: int, prediction: int) -> str:
    """The test image alone, 10× enlarged (each pixel a 10×10 square), as the model sees it, so that
    ``le4nn-predict MODEL --input`` reads it back (a PNG of another size than the model's input is
    prepared the MNIST way); the prediction is printed, and kept in the file name."""
    from le4nn.plot import image_grid, save_png

    path = f"le4nn-image-{index}-predicted-{prediction}.png"
    save_png(image_grid(image[None], columns=1, padding=0, scale=10), path)
    return path


def parse_index(text: str, count: int, source: str) -> int:
    """The test-image index on a line of standard input; CLIError when it is not one."""
    try:
        index = int(text)
    except ValueError:
        raise CLIError(f"not an integer: {text!r}") from None
    if not 0 <= index < count:
        raise CLIError(f"index {index} is out of range: the {source} has images 0-{count - 1}")
    return index


def answer_indices(model, args) -> int:
    """Answer each index read from standard input.  A bad line gets one line on stderr and the rest are
    still answered; piped (not on a terminal), the exit status is then 2."""
    (images, labels), source = load_test_images(args.dataset)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Classifying images of the {source} (0-{len(images) - 1}); an empty line or Ctrl-D ends.",
              file=sys.stderr)
    bad_lines = 0
    for number, line in enumerate(_input_lines(interactive), start=1):
        text = line.strip()
        if not text:
            continue
        try:
            index = parse_index(text, len(images), source)
        except CLIError as exc:
            bad_lines += 1
            where = "" if interactive else f"line {number}: "
            print(f"le4nn-predict: error: {where}{exc}", file=sys.stderr)
            continue
        prediction = int(predict_classes(model, images[index : index + 1])[0])
        print(prediction, flush=True)
        if args.show:
            print(f"(image saved to {save_image(images[index], index, prediction)})", file=sys.stderr)
    return 2 if bad_lines and not interactive else 0


def _input_lines(interactive: bool):
    """The lines of standard input (on a terminal: with a prompt, until an empty line or Ctrl-D)."""
    while True:
        if interactive:
            print("index> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            return
        yield line


# --- generating images ----------------------------------------------------------------------------


def generator_spec_or_none(model):
    from le4nn.gan import generator_spec

    try:
        return generator_spec(model)
    except ValueError:
        return None


def generate_images(model, args) -> int:
    from le4nn import gan
    from le4nn.plot import image_grid, save_png

    spec = generator_spec_or_none(model)
    if spec is None:
        raise CLIError(f"{args.model} is not a generator (it does not map a noise vector to images); train one "
                       "with le4nn-train --model dcgan or cdcgan")
    n = args.generate
    columns = None
    if spec.clustered:
        if args.digit is not None:
            raise CLIError(f"{args.model} is conditioned on {spec.num_classes} k-means clusters, not on digits: it "
                           "cannot draw a chosen digit (--digit needs le4nn-train --model cdcgan)")
        labels = None
        what = f"random clusters of {spec.num_classes}"
    elif spec.conditional:
        if args.digit is not None and not 0 <= args.digit < spec.num_classes:
            raise CLIError(f"--digit must be in 0..{spec.num_classes - 1} (the generator has {spec.num_classes} "
                           f"classes), got {args.digit}")
        if args.digit is not None:
            labels = np.full(n, args.digit)
            what = f"digit {args.digit}"
        else:
            labels = np.arange(n) % spec.num_classes
            columns = spec.num_classes
            what = f"image i of class i mod {spec.num_classes} (no --digit)"
    else:
        if args.digit is not None:
            raise CLIError(f"{args.model} is an unconditional generator: it cannot draw a chosen digit "
                           "(--digit needs a conditional generator, le4nn-train --model cdcgan)")
        labels = None
        what = "unconditional"
    images = gan.generate(model, n, labels=labels, seed=args.seed)
    output = Path(args.output)
    if output.suffix.lower() == ".npy":
        buffer = io.BytesIO()  # np.save to a real file writes with C's fwrite: a full disk has no errno
        np.save(buffer, images, allow_pickle=False)
        write_bytes(output, buffer.getvalue())
    else:
        save_png(image_grid(images, columns=columns, padding=2, scale=2), output)
    print(f"wrote {n} generated images ({what}, seed {args.seed}) of shape {images.shape[1:]} to {output}",
          file=sys.stderr)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    model = load_classifier(args)
    if args.generate is not None:
        return generate_images(model, args)
    if not args.random_init and generator_spec_or_none(model) is not None:
        raise CLIError(f"{args.model} is a generator: draw images with --generate N [--digit D] --output FILE.png")
    check_one_input_and_output(model, args.model)
    if args.input:
        return classify_files(model, args)
    return answer_indices(model, args)


def entry_point() -> None:
    raise SystemExit(run(main, "le4nn-predict"))


if __name__ == "__main__":
    entry_point()
