"""The GAN trainer: alternating discriminator and generator steps (see :mod:`le4nn.gan`), run in the one
training loop :func:`le4nn.models.training.run_epochs`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.random import Generator

from le4nn import metrics as metrics_module
from le4nn._typing import Array, FloatArray, Logs, PathLike
from le4nn.callbacks import Callback, CallbackList, CSVLogger, History, ProgressBar
from le4nn.gan.sampling import labels_one_hot, scale_images
from le4nn.gan.spec import combined_model, generator_spec, model_inputs
from le4nn.layers import BatchNormalization
from le4nn.losses import BinaryCrossentropy
from le4nn.models import Model
from le4nn.models.training import run_epochs
from le4nn.optimizers import Adam, Optimizer
from le4nn.utils import get_rng, to_categorical

#: A decay for the generator's weight average (:class:`GANTrainer` ``ema_decay``, off by default): about
#: 1000 steps, one MNIST epoch.
EMA_DECAY = 0.999


class _DiscriminatorAccuracy(metrics_module.Metric):
    """The discriminator's accuracy on the real (target > 0.5) or on the generated samples of a batch:
    logit > 0 means "real"."""

    def __init__(self, real: bool) -> None:
        self.real = real
        super().__init__("real_accuracy" if real else "fake_accuracy")

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        is_real = y_true.reshape(-1) > 0.5
        chosen = is_real if self.real else ~is_real
        return ((y_pred.reshape(-1)[chosen] > 0) == self.real).astype(np.float64)


class _EpochFunction(Callback):
    """A plain function ``f(epoch, logs)`` as a per-epoch callback."""

    def __init__(self, function: Callable[..., np.ndarray]) -> None:
        super().__init__()
        self.function = function

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.function(epoch, logs)


class GANTrainer:
    """Alternating discriminator / generator steps (see :mod:`le4nn.gan`).

    ``g_learning_rate``/``d_learning_rate``/``beta_1``: the two Adam optimizers (or pass ``g_optimizer``/
    ``d_optimizer``); ``real_label``: the discriminator's target for real images (0.9: one-sided label
    smoothing; 1 for none).  The discriminator is compiled here; the generator is trained through
    :attr:`combined` (generator → frozen discriminator).

    ``ema_decay``: the generator's weights are also averaged over the steps, θ̄ ← d·θ̄ + (1 − d)·θ after
    every generator step (an exponential moving average, as in Karras et al. 2018 and Yazıcı et al.
    2019: the training weights keep oscillating in the two-player game, their average draws cleaner
    images).  The sample grids and the saved ``generator.npz`` use the averaged weights (with its
    BatchNormalization statistics measured anew on them, :meth:`averaged_weights`); the training
    weights go on learning unchanged.  ``None`` or 0 (the default) turns it off: on the MNIST DCGAN with
    decay 0.999 the judge (:func:`~le4nn.gan.judging.judge`) rated the averaged generator no better than the trained one
    (mean top-class confidence within 0.01 of it over the first 4 epochs).
    """

    #: files :meth:`fit` writes into ``output_dir``
    GENERATOR_FILE = "generator.npz"
    SAMPLES_FILE = "samples.png"
    EPOCH_SAMPLES = "samples_epoch_{epoch:03d}.png"
    LOSSES_CSV = "gan_losses.csv"
    LOSSES_PLOT = "gan_losses.png"

    def __init__(self, generator: Model, discriminator: Model, g_learning_rate: float = 2e-4,
                 d_learning_rate: float = 2e-4,
                 beta_1: float = 0.5, real_label: float = 0.9, g_optimizer: Optimizer | None = None,
                 d_optimizer: Optimizer | None = None,
                 ema_decay: float | None = None) -> None:
        if not 0.5 < real_label <= 1:
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label}")
        if ema_decay is not None and not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0 or None: no averaging), got {ema_decay}")
        self.ema_decay = float(ema_decay) if ema_decay else None
        self._average: list[tuple[np.ndarray, np.ndarray]] | None = None  # (training weight, its average)
        self.generator = generator
        self.discriminator = discriminator
        self.spec = generator_spec(generator)
        self.real_label = float(real_label)
        self.combined = combined_model(generator, discriminator)
        loss = BinaryCrossentropy(from_logits=True)
        discriminator.compile(optimizer=d_optimizer or Adam(d_learning_rate, beta_1=beta_1), loss=loss,
                              metrics=[_DiscriminatorAccuracy(True), _DiscriminatorAccuracy(False)])
        self.combined.compile(optimizer=g_optimizer or Adam(g_learning_rate, beta_1=beta_1), loss=loss)
        self.stop_training = False
        self.interrupted = False
        self.history: dict[str, list[float]] = {}
        self.batch_losses: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
        self.epochs_done = 0
        self.output_dir: Path | None = None
        self._fixed: tuple[tuple[int, int], Any] | None = None  # ((seed, columns), the inputs)

    # --- one step ---------------------------------------------------------------------------------

    def _noise_and_labels(self, n: int, rng: Generator | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        rng = get_rng() if rng is None else rng
        noise = rng.standard_normal((n, self.spec.latent_dim), dtype=np.float32)
        one_hot = None
        if self.spec.conditional:
            one_hot = to_categorical(rng.integers(0, self.spec.num_classes, n), self.spec.num_classes)
        return noise, one_hot

    def train_step(self, real_images: np.ndarray, real_labels: np.ndarray | None = None) -> dict[str, float]:
        """One discriminator step (:meth:`discriminator_step`) and one generator step
        (:meth:`generator_step`) on a batch of the same size.  Returns ``d_loss``, ``g_loss``,
        ``d_acc_real``, ``d_acc_fake``."""
        logs = self.discriminator_step(real_images, real_labels)
        logs["g_loss"] = self.generator_step(len(real_images))
        return logs

    def discriminator_step(self, real_images: np.ndarray, real_labels: np.ndarray | None = None) -> dict:
        """The discriminator (trainable) learns on the real batch (targets ``real_label``) and as many
        generated images (targets 0) in one batch; the generator runs in training mode (batch statistics,
        as in its own step) but its weights do not change.

        ``real_images``: float32 (B, H, W, C) in [-1, 1]; ``real_labels`` (conditional GANs): one-hot
        (B, K) or class indices (B,).  Returns ``d_loss``, ``d_acc_real``, ``d_acc_fake``."""
        real = np.asarray(real_images, dtype=np.float32)
        batch = len(real)
        spec = self.spec
        real_one_hot = None
        if spec.conditional:
            if real_labels is None:
                raise ValueError("a conditional GAN needs the labels of the real images")
            assert spec.num_classes is not None  # (conditional)
            real_one_hot = labels_one_hot(real_labels, spec.num_classes, batch)
        noise, fake_one_hot = self._noise_and_labels(batch)
        fake = self.generator(spec.inputs(noise, fake_one_hot), training=True)
        images = np.concatenate([real, fake])
        targets = np.concatenate([np.full((batch, 1), self.real_label, np.float32),
                                  np.zeros((batch, 1), np.float32)])
        one_hot = None if real_one_hot is None else np.concatenate([real_one_hot, fake_one_hot])
        self.discriminator.trainable = True
        logs = cast(dict, self.discriminator.train_on_batch(self._d_inputs(images, one_hot), targets, return_dict=True))
        return {"d_loss": float(logs["loss"]), "d_acc_real": float(logs["real_accuracy"]),
                "d_acc_fake": float(logs["fake_accuracy"])}

    def generator_step(self, batch_size: int) -> float:
        """The generator learns through :attr:`combined` on ``batch_size`` fresh noise vectors (and random
        labels) with targets 1 ("real"), the discriminator frozen; returns the loss."""
        noise, one_hot = self._noise_and_labels(batch_size)
        self.discriminator.trainable = False
        try:
            loss = self.combined.train_on_batch(self.spec.inputs(noise, one_hot),
                                                np.ones((batch_size, 1), np.float32))
        finally:
            self.discriminator.trainable = True
        self._update_average()
        return float(cast(float, loss))  # (one output, no metrics: the loss alone)

    # --- the averaged generator -------------------------------------------------------------------

    def _update_average(self) -> None:
        """θ̄ ← θ̄ + (1 − d)(θ − θ̄) for every trainable generator weight (started at θ on the first step)."""
        if self.ema_decay is None:
            return
        if self._average is None:
            self._average = [(value, value.copy()) for layer in self.generator.layers
                             for value in layer.params.values()]
            return
        rate = np.float32(1.0 - self.ema_decay)
        for value, average in self._average:
            average += rate * (value - average)

    @contextmanager
    def averaged_weights(self, calibration_samples: int = 2048) -> Iterator[Model]:
        """Within the block the generator holds its averaged weights (nothing changes without averaging or
        before the first step).  Its BatchNormalization moving statistics are measured anew on them: one
        training-mode pass over ``calibration_samples`` fresh noise vectors (their exact batch mean and
        variance, not the statistics the training weights left behind).  Everything is restored after."""
        if self._average is None:
            yield self.generator
            return
        saved = [value.copy() for value, _ in self._average]
        norms = [layer for layer in self.generator.layers if isinstance(layer, BatchNormalization)]
        saved_state = [{k: v.copy() for k, v in layer.state.items()} for layer in norms]
        saved_momentum = [layer.momentum for layer in norms]
        try:
            for value, average in self._average:
                value[...] = average
            if norms:
                noise, one_hot = self._noise_and_labels(calibration_samples, np.random.default_rng(0))
                for layer in norms:
                    layer.momentum = 0.0  # the moving statistics become this pass's exact statistics
                self.generator(self.spec.inputs(noise, one_hot), training=True)
            yield self.generator  # (the momenta are restored below, as everything else)
        finally:
            for (value, _), copy in zip(self._average, saved, strict=True):
                value[...] = copy
            for layer, state, momentum in zip(norms, saved_state, saved_momentum, strict=True):
                layer.momentum = momentum
                for key, copy in state.items():
                    layer.state[key][...] = copy

    def _d_inputs(self, images: FloatArray, one_hot: np.ndarray | None) -> np.ndarray | list[Any]:
        """The discriminator's inputs in its order (image and label told apart by rank)."""
        if not self.spec.conditional:
            return images
        ranks = [len(shape) for _, shape in model_inputs(self.discriminator)]
        return [images, one_hot] if ranks[0] == 4 else [one_hot, images]

    # --- samples ----------------------------------------------------------------------------------

    def fixed_inputs(self, seed: int = 0, columns: int = 10) -> np.ndarray | list[np.ndarray]:
        """The fixed noise (and labels) of the sample grids: for a conditional generator one row per class
        (0, 1, ...) with the same ``columns`` noise vectors in every row; otherwise ``columns``² images."""
        if self._fixed is None or self._fixed[0] != (seed, columns):
            rng = np.random.default_rng(seed)  # its own generator: the grids do not disturb training
            spec = self.spec
            if spec.conditional:
                assert spec.num_classes is not None
                noise = np.tile(rng.standard_normal((columns, spec.latent_dim), dtype=np.float32),
                                (spec.num_classes, 1))
                labels = np.repeat(np.arange(spec.num_classes), columns)
                inputs = spec.inputs(noise, to_categorical(labels, spec.num_classes))
            else:
                inputs = rng.standard_normal((columns * columns, spec.latent_dim), dtype=np.float32)
            self._fixed = ((seed, columns), inputs)
        return self._fixed[1]

    def sample_grid(self, path: PathLike | None = None, seed: int = 0, columns: int = 10, scale: int = 2) -> np.ndarray:
        """The generator's images for the fixed inputs (:meth:`fixed_inputs`) tiled into one uint8 picture
        (written as a PNG to ``path`` if given; no matplotlib needed)."""
        from le4nn.plot import image_grid, save_png

        with self.averaged_weights():
            images = cast(np.ndarray, self.generator.predict(self.fixed_inputs(seed, columns), batch_size=500))
        grid = image_grid(images, columns=columns, padding=2, scale=scale, value_range=(-1, 1))
        if path is not None:
            save_png(grid, path)
        return grid

    # --- fit --------------------------------------------------------------------------------------

    def fit(self, x: np.ndarray, y: np.ndarray | None = None, epochs: int = 1, batch_size: int = 128,
            output_dir: PathLike | None = None, callbacks: Sequence[Callback] | None = None,
            verbose: int = 1, sample_seed: int = 0, initial_epoch: int = 0) -> dict[str, list[float]]:
        """Train for ``epochs`` epochs (each: the shuffled data in ``len(x) // batch_size`` full batches).

        ``x``: uint8 images (scaled to [-1, 1] here) or floats already in [-1, 1]; ``y``: class labels
        (conditional GANs).  ``callbacks``: :class:`le4nn.callbacks.Callback` objects (their
        ``self.model`` is this trainer; ``on_epoch_end`` gets the epoch's logs) or functions
        ``f(epoch, logs)`` called after each epoch.  ``verbose``: 1 a tqdm bar per epoch with both losses
        and D's accuracies (one line per epoch when not on a terminal), 0 silent.

        With ``output_dir``, after every epoch: ``samples_epoch_NNN.png`` and ``samples.png`` (the grid of
        the fixed noise; for a conditional GAN row k shows class k), ``generator.npz`` (``model.save``,
        atomic) and a row of ``gan_losses.csv``; at the end ``gan_losses.png`` (when matplotlib is there).

        Ctrl-C stops after the current batch (the partial epoch is not saved, the last saved generator
        stays); a second Ctrl-C aborts at once.  Returns the per-epoch history (d_loss, g_loss,
        d_acc_real, d_acc_fake, seconds).
        """
        images = scale_images(x)
        if images.shape[1:] != self.spec.image_shape:
            raise ValueError(f"the generator makes images of shape {self.spec.image_shape}, the data are "
                             f"{images.shape[1:]}")
        labels = None
        if self.spec.conditional:
            if y is None:
                raise ValueError("a conditional GAN needs the labels y of the training images")
            assert self.spec.num_classes is not None  # (conditional)
            labels = labels_one_hot(y, self.spec.num_classes, len(images))
        n = len(images)
        if n == 0:
            raise ValueError("no training images")
        batch_size = min(int(batch_size), n)
        output = None
        if output_dir is not None:
            output = self.output_dir = Path(output_dir)
            output.mkdir(parents=True, exist_ok=True)
        user_callbacks = [c if isinstance(c, Callback) else _EpochFunction(c) for c in (callbacks or [])]
        history = History()
        internal: list[Callback] = [history]
        if output is not None:
            internal.append(CSVLogger(output / self.LOSSES_CSV, append=initial_epoch > 0))
        callback_list = CallbackList(
            [*internal, *user_callbacks, ProgressBar(verbose)], model=self,
            params={"epochs": epochs, "steps": n // batch_size, "verbose": verbose, "batch_size": batch_size},
        )
        self.interrupted = False
        steps = _GANEpochs(self, images, labels, batch_size, output, sample_seed, initial_epoch)
        self.interrupted = run_epochs(self, steps, callback_list, initial_epoch, epochs)
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        if output is not None:
            self.save_loss_plot(output / self.LOSSES_PLOT)
        return self.history

    def _save_epoch(self, output: Path, epoch: int, sample_seed: int) -> None:
        grid = self.sample_grid(output / self.EPOCH_SAMPLES.format(epoch=epoch + 1), seed=sample_seed)
        from le4nn.plot import save_png

        save_png(grid, output / self.SAMPLES_FILE)
        self.generator.epochs_done = epoch + 1
        with self.averaged_weights():
            self.generator.save(output / self.GENERATOR_FILE)

    def save_loss_plot(self, path: PathLike) -> Path | None:
        """The loss plot (:func:`le4nn.plot.plot_gan_history`); None when matplotlib is missing or there is
        no completed epoch."""
        if not self.history.get("d_loss"):
            return None
        try:
            from le4nn import plot

            plot.plot_gan_history(self.history, self.batch_losses, path=path,
                                  title=f"{self.spec.conditional and 'conditional ' or ''}DCGAN training")
        except ImportError:
            return None
        return Path(path)


class _GANEpochs:
    """What :meth:`GANTrainer.fit` does in each epoch and batch of :func:`~le4nn.models.training.run_epochs`:
    ``len(images) // batch_size`` full batches of the shuffled images, one :meth:`GANTrainer.train_step` each."""

    def __init__(self, trainer: GANTrainer, images: np.ndarray, labels: np.ndarray | None, batch_size: int,
                 output: Path | None, sample_seed: int, initial_epoch: int) -> None:
        self.trainer = trainer
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.steps = len(images) // batch_size
        self.output = output
        self.sample_seed = sample_seed
        self.initial_epoch = initial_epoch

    def begin_epoch(self, epoch: int) -> range:
        self.start = time.perf_counter()
        self.order = get_rng().permutation(len(self.images))
        self.sums = dict.fromkeys(("d_loss", "g_loss", "d_acc_real", "d_acc_fake"), 0.0)
        return range(self.steps)

    def train_batch(self, step: int, batch: int) -> dict:
        """One step on batch ``step`` of this epoch's order; the logs are the epoch's running means."""
        index = np.sort(self.order[step * self.batch_size : (step + 1) * self.batch_size])
        logs = self.trainer.train_step(self.images[index], None if self.labels is None else self.labels[index])
        sums = self.sums
        for key, value in logs.items():
            sums[key] += value
        self.trainer.batch_losses["d_loss"].append(logs["d_loss"])
        self.trainer.batch_losses["g_loss"].append(logs["g_loss"])
        return {k: v / (step + 1) for k, v in sums.items()}

    def end_epoch(self, epoch: int) -> dict:
        """The epoch's mean losses and accuracies and its seconds; with an output folder its files."""
        epoch_logs = {k: v / max(self.steps, 1) for k, v in self.sums.items()}
        epoch_logs["seconds"] = time.perf_counter() - self.start
        self.trainer.epochs_done = epoch + 1
        if self.output is not None:
            self.trainer._save_epoch(self.output, epoch, self.sample_seed)
        return epoch_logs

    def on_interrupt(self, epoch: int) -> None:
        trainer, output = self.trainer, self.output
        trainer.interrupted = True
        saved = (f"; the generator of epoch {trainer.epochs_done} is in {output / trainer.GENERATOR_FILE}"
                 if output is not None and trainer.epochs_done > self.initial_epoch else "")
        print(f"\nTraining interrupted during epoch {epoch + 1}{saved}.", file=sys.stderr)
