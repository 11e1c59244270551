"""``le4nn-train``: train a model on MNIST (or another data set) and save it with its history and plots.

With no arguments it trains the default CNN on the full MNIST when its files are found locally
(``$LE4NN_DATA``, the cache, ...; see ``le4nn.datasets``) and otherwise on the small MNIST sample
bundled with le4nn, saying which, and writes into ``le4nn-output/cnn/``: each model (recipe, GAN) gets
a folder of its own by default, so the course's commands do not overwrite each other
(``le4nn.cli.outputs``).  The handout's task 3 is
``le4nn-train --model mlp --epochs 10 --batch-size 100 --lr 0.01 --optimizer sgd``.

``--recipe mnist|fashion-mnist|cifar10`` picks a whole training recipe (data, model, augmentation,
optimizer, schedule, epochs; see ``le4nn.cli.recipes``); options given explicitly override it.
``--augment PRESET`` (``le4nn.augment``), ``--schedule``, ``--warmup`` and ``--label-smoothing`` work
with or without a recipe.  ``--members N`` trains N models one after another (seeds seed, seed + 1, ...)
and saves them as one model averaging their outputs (``le4nn.cli.ensemble``); ``--tta`` adds the
judging sets' test-time-augmented accuracies to ``--judge``.

Exit status: 0 when the run finished; 2 for a bad option, file, data set or environment variable (one
line on stderr naming it; also for a write that failed, e.g. a full disk: the previous files stay
whole, every output is written atomically); 1 when training diverged (a loss or weight became NaN or
infinite: training stops, the model gets back its last finite state, which the checkpoint holds);
130 when interrupted by Ctrl-C or SIGTERM (the model is saved and the resume command printed).

``--model dcgan`` / ``--model cdcgan`` train a generative adversarial network instead (``le4nn.cli.gan``):
sample grids per epoch, the generator, the losses; ``le4nn-predict GENERATOR --generate N`` draws with it.
``--model resnet`` (digits) and ``--model resnet20`` (He et al.'s CIFAR ResNet-20) train the residual
networks of ``le4nn.applications`` for the data set's own image shape.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import le4nn
from le4nn import augment as augment_module
from le4nn import losses, optimizers
from le4nn._files import write_text
from le4nn._threads import MAX_THREADS
from le4nn.callbacks import CSVLogger, ModelCheckpoint, TerminateOnNaN, WeightAverage
from le4nn.cli import ensemble, judging, outputs, recipes
from le4nn.cli.common import (
    EXIT_INTERRUPTED,
    ArgumentParser,
    CLIError,
    TrainingDiverged,
    fraction,
    int_range,
    non_negative_float,
    output_folder,
    positive_float,
    positive_int,
    run,
    seed,
    to_model_input,
)
from le4nn.cli.gan import GAN_MODELS, check_gan_options, train_gan
from le4nn.cli.presets import PRESETS, build_preset, load_model_config
from le4nn.models import ModelFileError, load_model
from le4nn.models.data import validation_cut
from le4nn.models.saving import non_finite_weights
from le4nn.schedules import ScheduleCallback
from le4nn.utils import set_random_seed

#: Bound of --hidden (units of the mlp preset); --threads is bounded by le4nn's MAX_THREADS.
MAX_HIDDEN = 65_536
DATASETS = ("auto", "mnist", "fashion-mnist", "kmnist", "cifar10", "sample")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="le4nn-train",
        description="Train a le4nn model and save it, its training history and plots.",
        epilog="Example (handout task 3): le4nn-train --model mlp --epochs 10 --batch-size 100 "
        "--lr 0.01 --optimizer sgd",
    )
    parser.add_argument("--recipe", choices=tuple(recipes.RECIPES),
                        help="a complete training recipe (data, model, augmentation, optimizer, schedule, "
                        "epochs); the other options override its choices")
    parser.add_argument("--dataset", metavar="NAME|PATH",
                        help=f"one of {', '.join(DATASETS)} or a folder of MNIST-format idx files or "
                        "CIFAR-10 batches (default: auto = MNIST if found locally, else the bundled sample)")
    parser.add_argument("--model", metavar="PRESET|JSON",
                        help=f"a preset ({', '.join(PRESETS)}; default cnn), a JSON model config file, or a "
                        f"generative model: {', '.join(GAN_MODELS)} (a DCGAN, a digit-conditional DCGAN)")
    parser.add_argument("--hidden", type=int_range(1, MAX_HIDDEN), default=100,
                        help="hidden units of the mlp preset (default 100)")
    parser.add_argument("--epochs", type=positive_int, help="epochs to train (default 3, or 10 on the bundled sample; "
                        "GANs: 10, or 40 on the bundled sample)")
    parser.add_argument("--batch-size", type=positive_int, help="mini-batch size (default 100; GANs 64)")
    parser.add_argument("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw "
                        "(default: the preset's)")
    parser.add_argument("--lr", type=positive_float,
                        help="learning rate (default: the preset's or the optimizer's; GANs: 2e-4 for both networks)")
    parser.add_argument("--widths", metavar="G,D",
                        help="GANs: the generator's channels at 1/4 resolution and the discriminator's first "
                        "convolution's filters (default 128,64)")
    parser.add_argument("--clusters", type=int_range(0), metavar="K",
                        help="--model dcgan: condition both networks on K k-means clusters of the training images "
                        "instead of nothing (a self-conditioned DCGAN; no labels are used; default 0: plain DCGAN)")
    parser.add_argument("--ema-decay", type=fraction, metavar="D",
                        help="GANs: sample and save the generator's weights averaged over the steps with this "
                        "decay, e.g. 0.999 (default 0: the trained weights themselves)")
    parser.add_argument("--weight-decay", type=non_negative_float, help="decoupled weight decay")
    parser.add_argument("--schedule", metavar="SPEC",
                        help="learning-rate schedule over the run: constant (default), cosine[:ALPHA], "
                        "step:EVERY[:FACTOR], exp:RATE (in epochs, applied per batch)")
    parser.add_argument("--warmup", type=non_negative_float, metavar="EPOCHS",
                        help="linear learning-rate warm-up over the first EPOCHS epochs (default 0)")
    parser.add_argument("--label-smoothing", type=fraction, metavar="LS",
                        help="label smoothing of the cross-entropy (default 0)")
    parser.add_argument("--augment", metavar="PRESET[,PRESET...]",
                        help=f"online augmentation of the training batches: {', '.join(augment_module.PRESETS)} "
                        "(default none); with --members, a comma-separated list is taken in turn by the members "
                        "(member k gets the k-th, the list repeating)")
    parser.add_argument("--corrupted-test", action="store_true",
                        help="also report accuracy on the corrupted MNIST test set (noise, stroke width, "
                        "affine; fixed seed)")
    parser.add_argument("--judge", action="store_true",
                        help="also report accuracy on every judging set (MNIST test, corrupted, corrupted-hard, "
                        "font digits, scikit-learn digits; python -m le4nn.cli.recipes judge)")
    parser.add_argument("--tta", action="store_true",
                        help="with --judge: also judge every set with test-time augmentation (the outputs averaged "
                        "over the image and its 1-pixel shifts)")
    parser.add_argument("--members", type=int_range(1, ensemble.MAX_MEMBERS), metavar="N",
                        help="classifiers: train N models one after another (seeds seed, seed+1, ...) and save them "
                        "as one ensemble averaging their softmax outputs (default 1: one model)")
    parser.add_argument("--weight-ema", type=fraction, metavar="D",
                        help="classifiers: average the weights over the steps with this decay (e.g. 0.999) and "
                        "evaluate and save the average as model.npz (default 0: the trained weights)")
    parser.add_argument("--validation-split", type=fraction,
                        help="fraction of the training data held out for validation (default 0.1; 0 for none)")
    parser.add_argument("--subset", type=positive_int, metavar="N", help="train on the first N training images only")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int_range(1, MAX_THREADS),
                        help="threads for the kernels and BLAS (default: all cores)")
    parser.add_argument("--backend", choices=("native", "numpy"), help="kernel backend (default native)")
    parser.add_argument("--output", type=output_folder, metavar="DIR",
                        help="where to write model.npz, history.csv and plots (default: a folder of its own for "
                        "what is trained, le4nn-output/<model or recipe-NAME>[-<data set>]; with --resume the "
                        "checkpoint's folder; see le4nn.cli.outputs)")
    parser.add_argument("--resume", metavar="CHECKPOINT", help="continue training from a saved checkpoint")
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    args = parser.parse_args(argv)
    outputs.fill_default_output(args, parser.error)  # from the options as given, before a recipe fills in
    return check_options(args, parser)


def check_options(args: argparse.Namespace, parser: ArgumentParser) -> argparse.Namespace:
    """Refuse the option combinations that cannot run (``parser.error``) and fill in the recipe's choices."""
    if args.augment is not None:
        for name in args.augment.split(","):
            if name not in augment_module.PRESETS:
                parser.error(f"--augment must be one of {', '.join(augment_module.PRESETS)} (or a comma-separated "
                             f"list of them with --members), got {name!r}")
    if args.model in GAN_MODELS:
        if args.weight_ema is not None or args.judge or args.members is not None or args.tta:
            parser.error("--weight-ema, --judge, --tta and --members go with classifiers (GANs average with "
                         "--ema-decay)")
        check_gan_options(args, parser.error)
        if args.dataset is None:
            args.dataset = "auto"
        return args
    for option, value in (("--widths", args.widths), ("--ema-decay", args.ema_decay), ("--clusters", args.clusters)):
        if value is not None:
            parser.error(f"{option} goes with --model dcgan or cdcgan")
    apply_recipe(args)
    if args.members > 1 and args.resume:
        parser.error("--resume continues one model; an ensemble (--members > 1) cannot be resumed")
    if "," in args.augment and args.members == 1:
        parser.error("a list of --augment presets goes with --members N > 1 (one preset per member, in turn)")
    if args.tta and not args.judge:
        parser.error("--tta goes with --judge (or a recipe that judges)")
    return args


def apply_recipe(args: argparse.Namespace) -> None:
    """Fill the options not given on the command line from the recipe, then from the defaults."""
    recipe = recipes.get_recipe(args.recipe) if args.recipe else None
    defaults = {"dataset": "auto", "model": "cnn", "batch_size": 100, "validation_split": 0.1, "weight_ema": 0.0,
                "schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0, "augment": "none", "members": 1}
    from_recipe = {}
    if recipe is not None:
        from_recipe = {"dataset": recipe.dataset, "model": recipe.model, "batch_size": recipe.batch_size,
                       "validation_split": recipe.validation_split, "schedule": recipe.schedule,
                       "warmup": recipe.warmup, "label_smoothing": recipe.label_smoothing,
                       "augment": recipe.augment, "epochs": recipe.epochs, "optimizer": recipe.optimizer,
                       "weight_decay": recipe.weight_decay, "weight_ema": recipe.weight_ema,
                       "members": recipe.members}
        if args.optimizer is None or args.optimizer == recipe.optimizer:
            from_recipe["lr"] = recipe.learning_rate
        args.corrupted_test = args.corrupted_test or recipe.corrupted_test
        args.judge = args.judge or recipe.judge
        args.tta = args.tta or recipe.tta
    for name in set(defaults) | set(from_recipe):
        if getattr(args, name, None) is None:
            setattr(args, name, from_recipe.get(name, defaults.get(name)))


def load_training_data(dataset: str):
    """((x_train, y_train), (x_test, y_test), description of the source)."""
    from le4nn import datasets

    if dataset == "auto":  # the rule of mnist.load_data(), without downloading
        data, source, note = datasets.mnist.load_full_or_sample(download=False)
        return (*data, source if note is None else f"{source} ({note})")
    if dataset in DATASETS:
        return (*datasets.load(dataset), f"{dataset} ({datasets.find(dataset) if dataset != 'sample' else 'bundled'})")
    path = Path(dataset)
    if not path.exists():
        raise CLIError(f"--dataset {dataset!r} is neither a known data set ({', '.join(DATASETS)}) nor a path")
    is_cifar = path.is_file() or any(path.glob("data_batch_*")) or any(path.glob("*/data_batch_*"))
    loader = datasets.cifar10 if is_cifar else datasets.mnist
    return (*loader.load_data(path=path), f"{'CIFAR-10' if is_cifar else 'MNIST-format'} data from {path}")


def make_optimizer(args, preset_name: str | None):
    preset = PRESETS.get(preset_name) if preset_name else None
    name = args.optimizer or (preset.optimizer if preset else "adam")
    try:
        cls = type(optimizers.get(name))
    except ValueError as exc:
        raise CLIError(f"--optimizer: {exc}") from None
    config = {}
    if args.lr is not None:
        config["learning_rate"] = args.lr
    elif preset is not None and name == preset.optimizer:
        config["learning_rate"] = preset.learning_rate
    if args.weight_decay is not None:
        config["weight_decay"] = args.weight_decay
    try:
        return cls(**config)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"bad optimizer settings: {exc}") from None


def build_model(args, input_shape, num_classes):
    if args.model in PRESETS:
        return build_preset(args.model, input_shape, num_classes, hidden=args.hidden), args.model
    path = Path(args.model)
    if not path.is_file():
        raise CLIError(f"--model {args.model!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON file")
    try:
        return load_model_config(path), None
    except ValueError as exc:
        raise CLIError(f"--model: {exc}") from None


def save_plots(model, history, x_test, y_test, output: Path, say) -> None:
    try:
        import matplotlib  # noqa: F401

        from le4nn import plot
    except ImportError:
        say('(plots skipped: matplotlib is not installed; pip install "le4nn[plot]")')
        return
    predictions = np.argmax(model.predict(x_test, batch_size=1000), axis=1)
    plot.plot_history(history, path=output / "history.png")
    plot.plot_confusion_matrix(y_test, predictions, path=output / "confusion.png")
    plot.plot_misclassified(x_test, y_test, predictions, path=output / "misclassified.png")
    say(f"plots: {output / 'history.png'}, {output / 'confusion.png'}, {output / 'misclassified.png'}")


def prepare_data(args):
    """The training and test inputs and labels, checked for sizes that can train and test."""
    (x_train, y_train), (x_test, y_test), source = load_training_data(args.dataset)
    if args.subset:
        x_train, y_train = x_train[: args.subset], y_train[: args.subset]
    if len(x_train) == 0 or len(x_test) == 0:
        part = "training" if len(x_train) == 0 else "test"
        raise CLIError(f"--dataset {args.dataset}: {source} has no {part} images")
    check_validation_split(args, len(x_train))
    x_train, x_test = to_model_input(x_train), to_model_input(x_test)
    y_train, y_test = np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1)
    return x_train, y_train, x_test, y_test, source


def check_validation_split(args, count: int) -> None:
    """Refuse a ``--validation-split`` (or ``--subset``) that leaves no training or no validation image."""
    split = args.validation_split
    kept = validation_cut(count, split) if split else count
    if kept >= 1 and (not split or kept < count):
        return
    of = f"--subset {args.subset}" if args.subset else f"the {count} training images"
    missing = "training" if kept < 1 else "validation"
    raise CLIError(f"--validation-split {split:g} leaves no {missing} images of {of}")


def check_model_fits(model, x_train, num_classes: int, what: str) -> None:
    """Refuse a model (from ``what``: an option and its value) whose input or output does not fit the data."""
    try:
        probabilities = model.predict(x_train[:1], batch_size=1)
    except (ValueError, TypeError, IndexError) as exc:
        raise CLIError(f"{what} does not take the images of shape {x_train.shape[1:]}: {exc}") from None
    shape = getattr(probabilities, "shape", None)
    if shape != (1, num_classes):
        got = shape[1:] if shape is not None else "several outputs"
        raise CLIError(f"{what} gives outputs of shape {got}, but the data have {num_classes} classes")


def start_model(args, x_train, num_classes: int, epochs: int):
    """(model, initial epoch) for a fresh run or ``--resume``; the model is compiled and fits the data."""
    if args.resume:
        try:
            model = load_model(args.resume)
        except (FileNotFoundError, ModelFileError) as exc:
            raise CLIError(f"--resume: {exc}") from None
        initial_epoch = model.epochs_done
        if initial_epoch >= epochs:
            raise CLIError(f"{args.resume} has already trained {initial_epoch} epochs; pass --epochs > {initial_epoch}")
        check_model_fits(model, x_train, num_classes, f"--resume {args.resume}")
        return model, initial_epoch
    model, preset_name = build_model(args, x_train.shape[1:], num_classes)
    check_model_fits(model, x_train, num_classes, f"--model {args.model}")
    loss = (losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing) if args.label_smoothing
            else "sparse_categorical_crossentropy")
    model.compile(optimizer=make_optimizer(args, preset_name), loss=loss, metrics=["accuracy"])
    return model, 0


def make_schedule(args, model, epochs: int):
    """The ``--schedule``/``--warmup`` callback's schedule, or None for a constant learning rate."""
    if args.schedule == "constant" and not args.warmup:
        return None
    # The schedule starts from the initial learning rate: --lr (or the recipe's), else the optimizer's.
    # A resumed optimizer holds the already-decayed rate, so resuming without --lr warns.
    base_lr = args.lr if args.lr is not None else float(model.optimizer.learning_rate)
    if args.resume and args.lr is None:
        print(f"le4nn-train: note: the schedule starts from the checkpoint's learning rate {base_lr:g}; "
              "pass --lr with the run's initial rate to continue the original schedule", file=sys.stderr)
    try:
        return recipes.parse_schedule(args.schedule, base_lr, epochs, args.warmup)
    except ValueError as exc:
        raise CLIError(f"--schedule: {exc}") from None


def report_divergence(terminate: TerminateOnNaN, checkpoint: ModelCheckpoint, model) -> None:
    """Raise :class:`TrainingDiverged` when training produced a non-finite loss or weight."""
    bad_weights = non_finite_weights(model)
    if not terminate.stopped and not bad_weights:
        return
    if terminate.stopped and terminate.stopped_batch is not None:
        where = (f"the loss became non-finite in epoch {(terminate.stopped_epoch or 0) + 1}, "
                 f"batch {terminate.stopped_batch + 1}")
    elif terminate.stopped:
        where = f"the weights became non-finite in epoch {(terminate.stopped_epoch or 0) + 1}"
    else:
        where = f"the weights became non-finite ({', '.join(bad_weights[:3])})"
    kept = (f"the last finite state (after {model.epochs_done} epochs) is in {checkpoint.last_saved}"
            if checkpoint.last_saved else "no epoch ended with finite values, so no model was saved")
    raise TrainingDiverged(f"training diverged: {where} (try a smaller --lr or --weight-decay); {kept}")


def main(argv=None) -> int:
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.backend:
        le4nn.set_backend(args.backend)
    if args.threads:
        le4nn.set_num_threads(args.threads)
    set_random_seed(args.seed)
    if args.model in GAN_MODELS:
        return train_gan(args, load_training_data)

    x_train, y_train, x_test, y_test, source = prepare_data(args)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    epochs = args.epochs or (10 if len(x_train) <= 10000 else 3)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    say(f"data: {source}: {len(x_train)} training, {len(x_test)} test images of shape {x_train.shape[1:]}")
    if args.recipe:
        say(f"recipe {args.recipe}: {recipes.get_recipe(args.recipe).description}")
    if args.members > 1:
        return ensemble.train_ensemble(args, (x_train, y_train, x_test, y_test), num_classes, epochs, say,
                                       fit_member, finish)
    model, history, pipeline, seconds, checkpoint = fit_member(args, x_train, y_train, num_classes, epochs, say)
    if model.interrupted:
        report_interruption(checkpoint.last_saved, argv)
        return EXIT_INTERRUPTED
    return finish(args, model, history, (x_train, x_test, y_test), pipeline, seconds, epochs, say)


def fit_member(args, x_train, y_train, num_classes: int, epochs: int, say, member: int = 0):
    """Build (or resume) and train one model; (model, history, augmentation pipeline, seconds, checkpoint
    callback).  ``member`` k > 0 (an ensemble's) writes history-memberK.csv and checkpoint-memberK.npz
    instead of history.csv and checkpoint.npz.  A diverged run raises :class:`TrainingDiverged`."""
    output = Path(args.output)
    model, initial_epoch = start_model(args, x_train, num_classes, epochs)
    say(f"model: {args.model if not args.resume else args.resume} ({model.count_params():,} parameters); "
        f"optimizer: {model.optimizer!r}")
    augment = ensemble.member_augment(args.augment, member)
    pipeline = augment_module.Timed(augment) if augment != "none" else None
    schedule = make_schedule(args, model, epochs)
    if pipeline is not None or schedule is not None or args.label_smoothing:
        say(f"augmentation: {augment}; learning-rate schedule: {args.schedule}"
            f"{f' with {args.warmup:g} warm-up epochs' if args.warmup else ''}; "
            f"label smoothing {args.label_smoothing:g}")
    say(f"training: {epochs} epochs from epoch {initial_epoch + 1}, batch {args.batch_size}, validation split "
        f"{args.validation_split}, seed {args.seed + max(member - 1, 0)}, backend {le4nn.get_backend()}, "
        f"threads {le4nn.get_num_threads()}; output: {output}/")
    tag = f"-member{member}" if member else ""
    terminate, checkpoint = TerminateOnNaN(), ModelCheckpoint(output / f"checkpoint{tag}.npz")
    callbacks = [terminate, CSVLogger(output / f"history{tag}.csv", append=bool(args.resume)), checkpoint]
    if schedule is not None:
        callbacks.append(ScheduleCallback(schedule, unit="epoch", per_batch=True))
    if args.weight_ema:  # after the checkpoint, which keeps the trained weights for --resume
        callbacks.append(WeightAverage("ema", decay=args.weight_ema))
        say(f"weights: the exponential moving average (decay {args.weight_ema:g} per batch) becomes the "
            f"final model; checkpoint{tag}.npz keeps the trained weights")
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported once, below
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs,
                            initial_epoch=initial_epoch, validation_split=args.validation_split,
                            callbacks=callbacks, verbose=0 if args.quiet else 1, augment=pipeline)
    seconds = time.perf_counter() - start
    report_divergence(terminate, checkpoint, model)
    return model, history, pipeline, seconds, checkpoint


def report_interruption(saved, argv) -> None:
    """The stderr note of an interrupted run (Ctrl-C, SIGTERM): where the model is, how to resume."""
    rest = [a for a in (sys.argv[1:] if argv is None else argv) if a]
    if "--resume" in rest:
        del rest[rest.index("--resume"):rest.index("--resume") + 2]
    print(f"Interrupted; the model is saved in {saved}. Resume with:\n  le4nn-train "
          f"{shlex.join([*rest, '--resume', str(saved)])}", file=sys.stderr)


def finish(args, model, history, data, pipeline, seconds: float, epochs: int, say, extra: dict | None = None) -> int:
    """Evaluate, save the model, the plots and results.json (with ``extra``), print the test result."""
    x_train, x_test, y_test = data
    output = Path(args.output)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    model_path = output / "model.npz"
    model.save(model_path)
    say(f"trained in {seconds:.1f} s; model saved to {model_path}, history to {output / 'history.csv'}")
    save_plots(model, history, x_test, y_test, output, say)
    if pipeline is not None:
        save_augmentation_plot(x_train, pipeline, output, args.seed, say, args.augment)
    results = {"test_loss": test_loss, "test_accuracy": test_accuracy, "train_seconds": seconds, "epochs": epochs,
               **(extra or {})}
    if pipeline is not None:
        results["augment_seconds"] = pipeline.seconds
        say(f"augmentation took {pipeline.seconds:.1f} s of the {seconds:.1f} s of training "
            f"({100 * pipeline.seconds / max(seconds, 1e-9):.1f}%)")
    if args.corrupted_test:
        accuracy, corrupted, _ = recipes.evaluate_corrupted(model, x_test, y_test)
        results["corrupted_test_accuracy"] = accuracy
        try:
            recipes.save_corrupted_grid(model, x_test, corrupted, y_test, output / "corrupted.png")
        except ImportError:
            pass
        say(f"corrupted test set (noise, stroke width, affine; seed {recipes.CORRUPTION_SEED}): "
            f"accuracy {accuracy:.4f}")
    if args.judge:
        report_judging(model, x_test, y_test, results, say, args.tta)
    write_text(output / "results.json", json.dumps(results, indent=2) + "\n")
    print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f} ({len(x_test)} images)")
    return 0


def report_judging(model, x_test, y_test, results: dict, say, tta: bool = False) -> None:
    """Accuracies on every judging set (``le4nn.cli.judging``) into ``results["judging"]`` (skipped sets
    with their reason in ``results["judging_skipped"]``; with ``tta`` also the test-time-augmented ones
    in ``results["judging_tta"]``), and the tables on stdout."""
    accuracies, counts, notes = judging.judge(model, x_test, y_test)
    results["judging"] = accuracies
    results["judging_images"] = counts
    if notes:
        results["judging_skipped"] = notes
    say("judging sets (never used in training):\n" + judging.format_table(accuracies, counts, notes))
    if tta:
        results["judging_tta"], _, _ = judging.judge(model, x_test, y_test, tta=True)
        say(judging.format_table(results["judging_tta"], counts, notes, tta=True))


def save_augmentation_plot(x_train, pipeline, output: Path, seed: int, say, args_augment=None) -> None:
    """``augmented.png``: a few training images and augmented versions of them (its own generator,
    so the plot does not disturb the training's random stream)."""
    try:
        from le4nn import plot

        plot.plot_augmented(x_train[:10], pipeline.transform, repeats=3, rng=seed, path=output / "augmented.png",
                            title=f"augmentation preset {args_augment!r}" if args_augment else None)
    except ImportError:
        return
    say(f"augmentation examples: {output / 'augmented.png'}")


def entry_point() -> None:
    raise SystemExit(run(main, "le4nn-train"))


if __name__ == "__main__":
    entry_point()
