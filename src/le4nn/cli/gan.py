"""``le4nn-train --model dcgan|cdcgan``: train a (conditional) DCGAN (:mod:`le4nn.gan`) and save its generator.

Writes into ``--output``: ``samples_epoch_NNN.png`` / ``samples.png`` after every epoch (a grid from a fixed
noise; for the cDCGAN row k shows digit k), ``generator.npz`` after every epoch, ``gan_losses.csv`` and at the
end ``gan_losses.png`` (needs matplotlib).  ``le4nn-predict OUTPUT/generator.npz --generate N [--digit D]``
then draws new images.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import le4nn
from le4nn.cli.common import (
    EXIT_INTERRUPTED,
    ArgumentParser,
    CLIError,
    TrainingDiverged,
    int_range,
    run,
    seed,
)
from le4nn.models.saving import non_finite_weights

GAN_MODELS = {
    "dcgan": "DCGAN: noise -> Dense-BN-ConvT(stride 2)-BN-ConvT(tanh) vs Conv(stride 2)x2-Dense(1) with dropout",
    "cdcgan": "conditional DCGAN: the same with the one-hot label given to the generator and, as an extra image "
              "channel, to the discriminator",
}
#: Defaults of the GAN presets (the command line overrides them).
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 2e-4
DEFAULT_EPOCHS = 10
DEFAULT_EPOCHS_SMALL_DATA = 40  # the bundled 6000-image sample: about as many steps as 4 MNIST epochs
#: The most images ``python -m le4nn.cli.gan judge`` draws.
MAX_JUDGED = 1_000_000
#: Options of le4nn-train that mean nothing for a GAN (refused with a clear error).
NOT_FOR_GANS = ("recipe", "resume", "optimizer", "weight_decay", "schedule", "warmup", "label_smoothing",
                "augment", "validation_split", "corrupted_test")


def check_gan_options(args, error) -> None:
    """Refuse classifier-only options with ``--model dcgan|cdcgan`` (``error``: ``parser.error``)."""
    given = [f"--{name.replace('_', '-')}" for name in NOT_FOR_GANS if getattr(args, name, None) not in (None, False)]
    if given:
        error(f"{', '.join(given)}: not used by --model {args.model}")
    if args.widths is not None:
        parse_widths(args.widths, error)
    if args.clusters is not None:
        if args.model != "dcgan":
            error(f"--clusters goes with --model dcgan (the cDCGAN is conditioned on the labels), not {args.model}")
        if args.clusters < 0 or args.clusters == 1:
            error(f"--clusters must be 0 (none) or at least 2, got {args.clusters}")
    if args.ema_decay is not None and not 0 <= args.ema_decay < 1:
        error(f"--ema-decay must be in [0, 1) (0: no averaging), got {args.ema_decay}")


def parse_widths(text: str, error=None) -> tuple[int, int]:
    """``"128,64"`` → (generator width, discriminator width)."""
    try:
        g, d = (int(part) for part in text.split(","))
        if g < 2 or d < 1:
            raise ValueError
    except ValueError:
        message = f"--widths must be two positive integers G,D (generator >= 2), got {text!r}"
        if error is None:
            raise CLIError(message) from None
        error(message)
    return g, d


def train_gan(args, load_training_data) -> int:
    from le4nn import gan

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    (x_train, y_train), _, source = load_training_data(args.dataset)
    if args.subset:
        x_train, y_train = x_train[: args.subset], y_train[: args.subset]
    if len(x_train) < 2:
        raise CLIError(f"--dataset {args.dataset}: a GAN needs at least 2 training images, got {len(x_train)}"
                       + (f" (--subset {args.subset})" if args.subset else ""))
    images = gan.scale_images(x_train)
    labels = np.asarray(y_train).reshape(-1)
    clusters = args.clusters or 0
    if clusters > len(images):
        raise CLIError(f"--clusters {clusters} is more than the {len(images)} training images")
    conditional = args.model == "cdcgan" or clusters > 0
    num_classes = int(labels.max()) + 1 if args.model == "cdcgan" else (clusters or None)
    image_shape = images.shape[1:]
    if image_shape[0] % 4 or image_shape[1] % 4:
        raise CLIError(f"the DCGAN needs image sizes divisible by 4, the data have {image_shape}")
    g_width, d_width = parse_widths(args.widths) if args.widths else (gan.GENERATOR_WIDTH, gan.DISCRIMINATOR_WIDTH)
    epochs = args.epochs or (DEFAULT_EPOCHS_SMALL_DATA if len(images) <= 10000 else DEFAULT_EPOCHS)
    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    lr = args.lr if args.lr is not None else DEFAULT_LEARNING_RATE

    say(f"data: {source}: {len(images)} training images of shape {image_shape}, scaled to [-1, 1]")
    if clusters:
        start = time.perf_counter()
        cluster_ids = gan.cluster_labels(images, clusters, seed=args.seed)
        agree = sum(np.bincount(labels[cluster_ids == c]).max() for c in np.unique(cluster_ids)) / len(labels)
        say(f"clusters: {clusters} k-means clusters of the pixels in {time.perf_counter() - start:.1f} s, sizes "
            f"{np.bincount(cluster_ids, minlength=clusters).min()}-{np.bincount(cluster_ids).max()}; the majority "
            f"digit of each cluster covers {agree:.1%} of the images (the labels are used for nothing else)")
        labels = cluster_ids
    generator = gan.build_generator(num_classes=num_classes, width=g_width, image_shape=image_shape,
                                    label_name="cluster" if clusters else "label")
    discriminator = gan.build_discriminator(num_classes=num_classes, width=d_width, image_shape=image_shape,
                                            label_mode="plane" if clusters else "channels")
    ema_decay = args.ema_decay or None
    trainer = gan.GANTrainer(generator, discriminator, g_learning_rate=lr, d_learning_rate=lr, ema_decay=ema_decay)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    described = GAN_MODELS[args.model] + (f", both networks conditioned on {clusters} clusters (the discriminator "
                                           "through one learned map per cluster)" if clusters else "")
    say(f"model: {args.model} ({described}); generator {generator.count_params():,} parameters "
        f"(width {g_width}), discriminator {discriminator.count_params():,} (width {d_width})")
    say(f"training: {epochs} epochs of {len(images) // min(batch_size, len(images))} batches of {batch_size}, "
        f"Adam lr {lr:g} (G and D) beta_1 0.5, real label 0.9, "
        f"{f'generator weights averaged (decay {ema_decay:g})' if ema_decay else 'no weight average'}, "
        f"seed {args.seed}, backend {le4nn.get_backend()}, "
        f"threads {le4nn.get_num_threads()}; output: {output}/")
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported once, below
        trainer.fit(images, labels if conditional else None, epochs=epochs, batch_size=batch_size,
                    output_dir=output, verbose=0 if args.quiet else 1, sample_seed=args.seed)
    seconds = time.perf_counter() - start
    generator_path = output / trainer.GENERATOR_FILE
    if trainer.interrupted:
        if trainer.epochs_done:
            print(f"Interrupted; the generator of epoch {trainer.epochs_done} is saved in {generator_path}",
                  file=sys.stderr)
        else:
            print("Interrupted before the first epoch ended; no generator was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    bad = non_finite_weights(trainer.generator)
    if bad:
        raise TrainingDiverged(f"training diverged: the generator's weights are not finite ({', '.join(bad[:3])}); "
                               f"try a smaller --lr (the files in {output}/ are of the diverged run)")
    say(f"trained {epochs} epochs in {seconds:.1f} s")
    plot = output / trainer.LOSSES_PLOT
    rows = "; row k shows digit k" if args.model == "cdcgan" else ("; row k shows cluster k" if clusters else "")
    print(f"samples: {output / trainer.SAMPLES_FILE} (one per epoch: {output}/samples_epoch_NNN.png{rows})")
    skipped = ' (plot skipped: matplotlib is not installed; pip install "le4nn[plot]")'
    print(f"losses: {output / trainer.LOSSES_CSV}" + (f", {plot}" if plot.exists() else skipped))
    digit = " --digit 7" if args.model == "cdcgan" else ""
    print(f"generator: {generator_path}\n  draw with: le4nn-predict {generator_path} --generate 64{digit} "
          f"--output generated.png")
    return 0


def judge_main(argv=None) -> int:
    """``python -m le4nn.cli.gan judge GENERATOR.npz CLASSIFIER.npz``: the quality of a generator as a
    classifier sees it (:func:`le4nn.gan.judge`), printed as a Markdown table; a bad argument or file is
    one line on stderr and status 2."""
    return run(_judge, "python -m le4nn.cli.gan", argv)


def _judge(argv=None) -> int:
    from le4nn import gan
    from le4nn.models import load_model

    parser = ArgumentParser(prog="python -m le4nn.cli.gan",
                                     description="Judge a generator with a classifier (issue 8's quality measure).")
    sub = parser.add_subparsers(dest="command", required=True)
    judged = sub.add_parser("judge", help="classify generated images with a trained classifier")
    judged.add_argument("generator", help="a generator saved by le4nn-train --model dcgan|cdcgan")
    judged.add_argument("classifier", help="a classifier saved by le4nn-train (e.g. --recipe mnist)")
    judged.add_argument("--per-class", type=int_range(1, MAX_JUDGED // 10), default=1000,
                        help="images per class (conditional; 1000)")
    judged.add_argument("--samples", type=int_range(1, MAX_JUDGED), default=10000,
                        help="images (unconditional; 10000)")
    judged.add_argument("--seed", type=seed, default=0)
    args = parser.parse_args(argv)
    generator, classifier = load_model(args.generator), load_model(args.classifier)
    try:
        report = gan.judge(generator, classifier, per_class=args.per_class, samples=args.samples, seed=args.seed)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"cannot judge {args.generator} with {args.classifier}: {exc}") from None
    if report["conditional"]:
        print(f"{args.per_class} images per digit, classified by {args.classifier}\n")
        print("| digit asked for | classified as that digit | mean top-class confidence |")
        print("|---|---|---|")
        for digit, (share, conf) in enumerate(zip(report["per_class"], report["confidence"], strict=True)):
            print(f"| {digit} | {share:.1%} | {conf:.3f} |")
        print(f"| all | {report['accuracy']:.1%} (lowest {min(report['per_class']):.1%}) | "
              f"{np.mean(report['confidence']):.3f} |")
    else:
        print(f"{args.samples} images, classified by {args.classifier}\n")
        print("| class | share of the images |")
        print("|---|---|")
        for digit, share in enumerate(report["shares"]):
            print(f"| {digit} | {share:.1%} |")
        print(f"\nshares from {min(report['shares']):.1%} to {max(report['shares']):.1%}; "
              f"mean top-class confidence {report['confidence']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(judge_main())
