"""Where ``le4nn-train`` writes when ``--output`` is not given: a folder of its own for each thing trained.

``le4nn-output/<name>/``, the name built from what the command line asked for: the recipe
(``recipe-mnist``), else the model (``cnn``, ``mlp``, ``lecture``, ``resnet20``, a JSON config's file
stem, the GAN ``cdcgan`` / ``dcgan``), then the data set when it is not MNIST (``lecture-fashion-mnist``),
``clustersK`` for a self-conditioned DCGAN and ``membersN`` for an ensemble.  So the handout's task 3
(``--model mlp``) no longer replaces the main job's CNN that task 4 classifies with, nor one GAN another;
running the same command again replaces its own previous results, as a rerun should.  ``--resume``
without ``--output`` continues in the checkpoint's folder.

Why a folder per model rather than refusing to overwrite (``--overwrite``): the course's commands then
work in any order with no extra option, each result stays where its command says, and ``le4nn-predict``
takes the model file by its path (``le4nn-predict le4nn-output/cnn/model.npz``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from le4nn.cli.common import output_folder

#: The folder that holds each command's own folder.
OUTPUT_ROOT = Path("le4nn-output")
#: The model ``le4nn-train`` trains when ``--model`` is not given (and no recipe chooses one).
DEFAULT_MODEL = "cnn"
#: Data sets that count as MNIST (``auto``: MNIST, or its bundled sample when MNIST is not here).
MNIST_DATASETS = ("auto", "mnist", "sample")


def default_output(args: argparse.Namespace) -> Path:
    """``le4nn-output/<name>`` for the options as given on the command line (before a recipe fills in
    the rest): see the module docstring."""
    if getattr(args, "resume", None):
        return Path(args.resume).parent
    parts = [f"recipe-{args.recipe}"] if getattr(args, "recipe", None) else []
    if args.model is not None:
        parts.append(_file_name_part(args.model))
    if not parts:
        parts.append(DEFAULT_MODEL)
    dataset = getattr(args, "dataset", None)
    if dataset is not None and dataset not in MNIST_DATASETS:
        parts.append(_file_name_part(dataset))
    if getattr(args, "clusters", None):
        parts.append(f"clusters{args.clusters}")
    if (getattr(args, "members", None) or 1) > 1:
        parts.append(f"members{args.members}")
    return OUTPUT_ROOT / "-".join(parts)


def _file_name_part(path_text: str) -> str:
    """A path's last name (without ``.json``), as part of a folder name; ``model``/``data`` if none is left."""
    name = Path(path_text.rstrip("/\\")).name
    if name.lower().endswith(".json"):
        name = name[: -len(".json")]
    name = name.lstrip(".")
    return name or "model"


def fill_default_output(args: argparse.Namespace, error) -> None:
    """Set ``args.output`` to :func:`default_output` when ``--output`` was not given, checked as ``--output``
    is (no file in the way); ``error`` is ``parser.error``."""
    if args.output is not None:
        return
    path = default_output(args)
    try:
        args.output = output_folder(str(path))
    except argparse.ArgumentTypeError as exc:
        error(f"the default output folder {exc}; give --output DIR")
