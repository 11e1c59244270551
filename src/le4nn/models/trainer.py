"""What trains a model: ``compile``, one training step, ``fit``, ``evaluate`` and ``predict``.

:class:`Trainer` is the part of :class:`~le4nn.models.Model` that learns (Keras 3 splits its Model the
same way); it works on the model's graph (``self.graph``, ``self.layers``, ``self.dtype``).  A
compiled model has an optimizer, one loss per output and metrics.  One training step
(``train_on_batch``) is: forward with ``training=True``, loss, backward, optimizer step (handout
eq. 12–14) — with softmax + cross-entropy fused into (y − t)/B (eq. 12) whenever an output layer ends
in a softmax — and the metrics are computed from the same forward pass.  ``fit`` runs these steps in
the one training loop, :func:`le4nn.models.training.run_epochs`.
"""

from __future__ import annotations

import copy
import math
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from le4nn import losses as losses_module
from le4nn import metrics as metrics_module
from le4nn import optimizers as optimizers_module
from le4nn._threads import num_threads_now
from le4nn._typing import ArrayLike, Config, LossLike, ModelData, Scores
from le4nn.callbacks import Callback, CallbackList, History, ProgressBar, callback_sequence
from le4nn.models import data as data_utils
from le4nn.models.training import run_epochs
from le4nn.utils import get_rng

if TYPE_CHECKING:  # the graph side of the model (Model subclasses Trainer and sets these)
    from le4nn.layers import Layer
    from le4nn.models.graph import Graph


class Trainer:
    """``compile``/``fit``/``evaluate``/``predict`` and the steps under them, for :class:`~le4nn.models.Model`."""

    # What :class:`~le4nn.models.Model` provides, declared for the type checker.
    name: str
    epochs_done: int
    optimizer: optimizers_module.Optimizer | None
    history: History | None
    _ensure_built: Callable[[list[np.ndarray]], None]
    if TYPE_CHECKING:  # Model's read-only properties
        @property
        def graph(self) -> Graph: ...
        @property
        def layers(self) -> list[Layer]: ...
        @property
        def built(self) -> bool: ...
        @property
        def dtype(self) -> np.dtype: ...

    def _trainable(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The trainable parameters and their gradients, keyed "<layer>/<param>" (trainable layers only)."""
        params, grads = {}, {}
        for layer in self.layers:
            if layer.trainable:
                for name, value in layer.params.items():
                    params[f"{layer.name}/{name}"] = value
                    grads[f"{layer.name}/{name}"] = layer.grads[name]
        return params, grads

    # --- compile ----------------------------------------------------------------------------------

    def compile(self, optimizer: str | optimizers_module.Optimizer | Config = "rmsprop",
                loss: LossLike | Sequence[LossLike] | None = None,
                metrics: Sequence[str | metrics_module.Metric] | None = None,
                loss_weights: Sequence[float] | None = None) -> None:
        """Choose the optimizer, the loss (one, or one per output) and the metrics (names or objects)."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        self.optimizer = optimizers_module.get(optimizer)
        n_out = len(self.graph.output_slots) if self.built else 1  # an unbuilt Sequential has one output
        loss_list = list(loss) if isinstance(loss, (list, tuple)) else [loss] * n_out
        if len(loss_list) != n_out:
            raise ValueError(f"the model has {n_out} outputs, but {len(loss_list)} losses were given")
        self.loss = loss
        self._losses = [losses_module.get(item) for item in loss_list]
        self._loss_weights = [1.0] * n_out if loss_weights is None else [float(w) for w in loss_weights]
        if len(self._loss_weights) != n_out:
            raise ValueError(f"loss_weights needs {n_out} entries, got {len(self._loss_weights)}")
        names = [metrics] if isinstance(metrics, str) else list(metrics or [])
        self._metric_specs = names
        # One set of metric objects per Python thread (see _metrics): created here for this thread.
        self._metric_sets = {threading.get_ident(): [[metrics_module.get(m) for m in names] for _ in range(n_out)]}
        self._compiled = True

    def compile_config(self) -> dict | None:
        """The ``compile`` settings as a JSON-ready dict (Keras 3's ``get_compile_config``): the
        optimizer's config, one loss config per output, ``loss_weights`` and the metrics' names;
        None before ``compile``.  ``save`` stores it, ``load_model`` compiles with it."""
        if not self._compiled or self.optimizer is None:
            return None
        return {
            "optimizer": optimizers_module.serialize(self.optimizer),
            "loss": [losses_module.serialize(loss) for loss in self._losses],
            "loss_weights": self._loss_weights,
            "metrics": [m if isinstance(m, str) else m.name for m in self._metric_specs],
        }

    @property
    def _metrics(self) -> list[list]:
        """This thread's metric objects, one list per output: an ``evaluate`` in one thread counts its
        own batches and leaves alone the running metrics a ``fit`` in another thread reports."""
        sets = self._metric_sets
        mine = sets.get(threading.get_ident())
        if mine is None:
            compiled = next(iter(sets.values()))
            mine = [[copy.deepcopy(metric) for metric in group] for group in compiled]
            for group in mine:
                for metric in group:
                    metric.reset()
            sets[threading.get_ident()] = mine
        return mine

    def _require_compiled(self, what: str) -> None:
        if not self._compiled:
            raise RuntimeError(f"model {self.name!r} must be compiled before {what} (call model.compile(...))")

    def _fused(self, k: int) -> bool:
        """Whether output k fuses its softmax with its cross-entropy (eq. 12)."""
        loss = self._losses[k]
        node = self.graph.output_nodes[k]
        return (
            node is not None
            and node.layer.output_softmax
            and hasattr(loss, "softmax_fused")
            and not getattr(loss, "from_logits", False)
        )

    def _output_names(self) -> list[str]:
        nodes = self.graph.output_nodes
        return [node.layer.name if node is not None else f"output_{k}" for k, node in enumerate(nodes)]

    def _metric_key(self, k: int, name: str) -> str:
        return name if len(self._metrics) == 1 else f"{self._output_names()[k]}_{name}"

    # --- one step ---------------------------------------------------------------------------------

    def _prepare(self, x, y=None, targets_for: str | None = None):
        """Inputs (and targets) as lists of arrays; ``targets_for`` names the method that needs ``y``."""
        if targets_for is not None and y is None:
            raise ValueError(f"{targets_for} needs targets: call model.{targets_for}(x, y, ...)")
        xs = data_utils.as_array_list(x, "inputs", len(self.graph.input_slots) if self.built else 1)
        self._ensure_built(xs)
        ys = None if y is None else data_utils.as_array_list(y, "targets", len(self.graph.output_slots))
        return xs, ys

    def _losses_and_grads(self, outputs, ys, sample_weight, with_grads: bool, deferred=()):
        """Loss, ∂loss/∂outputs and which are fused.  ``deferred``: the fused outputs whose layer
        returned logits (``_defer_softmax``); their softmax from the loss replaces them in ``outputs``."""
        total, grads, fused = 0.0, [], []
        for k, (out, y) in enumerate(zip(outputs, ys, strict=True)):
            loss, weight = self._losses[k], self._loss_weights[k]
            is_fused = self._fused(k)
            if is_fused:
                node = self.graph.output_nodes[k]
                assert node is not None  # _fused(k): output k is a layer's output
                logits = node.layer.logits
                if with_grads and k in deferred:
                    value, probs, grad = cast(Any, loss).softmax_fused_with_gradient(y, logits, sample_weight)
                    outputs[k] = probs
                else:
                    value, probs = cast(Any, loss).softmax_fused(y, logits, sample_weight)
                    if k in deferred:
                        outputs[k] = out = probs
                    grad = cast(Any, loss).softmax_fused_gradient(y, out, sample_weight) if with_grads else None
            else:
                value = loss(y, out, sample_weight)
                grad = loss.gradient(y, out, sample_weight) if with_grads else None
            if with_grads and weight != 1.0:
                grad = grad * weight
            total += weight * value
            grads.append(grad)
            fused.append(is_fused)
        return total, grads, fused

    def _update_metrics(self, outputs, ys) -> None:
        for k, (out, y) in enumerate(zip(outputs, ys, strict=True)):
            for metric in self._metrics[k]:
                metric.update(y, out)

    def _reset_metrics(self) -> None:
        for group in self._metrics:
            for metric in group:
                metric.reset()

    def _metric_logs(self) -> dict[str, float]:
        return {
            self._metric_key(k, metric.name): metric.result()
            for k, group in enumerate(self._metrics)
            for metric in group
        }

    def _train_step(self, xs, ys, sample_weight: ArrayLike | None = None) -> float:
        graph = self.graph
        num_threads_now()  # the kernels on the cores other processes leave free (le4nn._threads)
        with graph.guard:  # one step at a time on these layers (threads)
            return self._guarded_train_step(graph, xs, ys, sample_weight)

    def _guarded_train_step(self, graph, xs, ys, sample_weight) -> float:
        dtype = self.dtype
        graph.set_scratch(True)  # layers reuse their arrays: this step consumes them all
        # Outputs whose softmax the loss computes anyway (fused cross-entropy) stay logits.
        deferred = [k for k, leaf in enumerate(graph.output_is_leaf) if leaf and self._fused(k)]
        for k in deferred:
            graph.output_nodes[k].layer._defer_softmax = True
        try:
            try:
                outputs = graph.forward([data_utils.to_model_dtype(x, dtype) for x in xs], training=True)
            finally:
                for k in deferred:
                    graph.output_nodes[k].layer._defer_softmax = False
            value, grads, fused = self._losses_and_grads(outputs, ys, sample_weight, with_grads=True,
                                                         deferred=deferred)
            value += sum(layer.regularization_loss() for layer in self.layers)
            graph.backward(grads, fused)
            params, param_grads = self._trainable()
            if not params:
                self._warn_all_frozen()
            assert self.optimizer is not None  # compiled
            self.optimizer.apply(params, param_grads)
            self._update_metrics(outputs, ys)
        finally:
            graph.set_scratch(False)
        return value

    def _warn_all_frozen(self) -> None:
        """Warn once per model when a training step finds every layer frozen (nothing is updated)."""
        if getattr(self, "_warned_frozen", False) or not any(layer.params for layer in self.layers):
            return
        self._warned_frozen = True
        warnings.warn(
            f"model {self.name!r} is training with every layer frozen (trainable = False), so no weight "
            f"changes; le4nn reads trainable at each step (not at compile time): set trainable = True "
            f"again before this model's own training steps",
            UserWarning,
            stacklevel=4,
        )

    def train_on_batch(self, x: ModelData, y: ModelData, sample_weight: ArrayLike | None = None,
                       class_weight: Mapping[int, float] | None = None, return_dict: bool = False) -> Scores:
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs, ys = self._prepare(x, y, targets_for="train_on_batch")
        data_utils.check_samples("train_on_batch", xs, ys, finite=False)
        if class_weight is not None:
            sample_weight = data_utils.class_weights_to_samples(class_weight, ys[0])
        with self.graph.guard:  # the metrics too: no other thread's step between
            self._reset_metrics()
            loss = self._train_step(xs, ys, sample_weight)
            logs = {"loss": loss, **self._metric_logs()}
        return self._result(logs, return_dict)

    def test_on_batch(self, x: ModelData, y: ModelData, sample_weight: ArrayLike | None = None,
                      return_dict: bool = False) -> Scores:
        """Loss (and metrics) of one batch in inference mode, without updating anything."""
        self._require_compiled("test_on_batch")
        xs, ys = self._prepare(x, y, targets_for="test_on_batch")
        data_utils.check_samples("test_on_batch", xs, ys, finite=False)
        with self.graph.guard:  # one step at a time on these layers (threads)
            self._reset_metrics()
            self.graph.set_scratch(True)
            try:
                outputs = self.graph.forward([data_utils.to_model_dtype(x, self.dtype) for x in xs],
                                             training=False)
                loss, _, _ = self._losses_and_grads(outputs, ys, sample_weight, with_grads=False)
                self._update_metrics(outputs, ys)
            finally:
                self.graph.set_scratch(False)
            loss += sum(layer.regularization_loss() for layer in self.layers)
            logs = {"loss": loss, **self._metric_logs()}
        return self._result(logs, return_dict)

    @staticmethod
    def _result(logs: dict[str, float], return_dict: bool) -> Scores:
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # --- fit --------------------------------------------------------------------------------------

    def fit(self, x: ModelData | None = None, y: ModelData | None = None, batch_size: int | None = None,
            epochs: int = 1, verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: tuple[Any, ...] | None = None, shuffle: bool = True,
            class_weight: Mapping[int, float] | None = None, sample_weight: ArrayLike | None = None,
            initial_epoch: int = 0, validation_batch_size: int | None = None,
            augment: str | Callable[..., Any] | None = None) -> History:
        """Train for ``epochs`` epochs (counting from ``initial_epoch``); returns a :class:`History`.

        Each epoch runs :meth:`train_on_batch`'s step (eq. 12–14) on shuffled mini-batches inside the
        one training loop, :func:`le4nn.models.training.run_epochs` (the callbacks' order is there).

        ``augment``: online data augmentation of each training mini-batch (not of validation data):
        a :mod:`le4nn.augment` transform or preset name (e.g. ``"digits"``), or a function
        ``f(batch) -> batch``; see :func:`le4nn.augment.fit_hook`.

        Ctrl-C stops at the end of the current batch: the callbacks' ``on_train_end`` still runs (so
        ModelCheckpoint saves the model) and the History so far is returned.  A second Ctrl-C aborts.
        """
        self._require_compiled("fit")
        if augment is not None:
            from le4nn.augment import fit_hook  # (le4nn.augment is only needed when asked for)

            augment = fit_hook(augment)
        batch_size = data_utils.check_batch_size(batch_size)
        epochs, initial_epoch = data_utils.check_epochs(epochs, initial_epoch)
        validation_split = data_utils.check_validation_split(validation_split)
        xs, ys = self._prepare(x, y, targets_for="fit")
        data = data_utils.fit_data(xs, ys, sample_weight, class_weight, validation_split, validation_data)
        steps = math.ceil(data.n / batch_size)
        verbose = 1 if data_utils.check_verbose("fit", verbose) == "auto" else int(verbose)
        self.history = History()
        callback_list = CallbackList(
            [self.history, *callback_sequence(callbacks), ProgressBar(verbose)],
            model=self,
            params={"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size},
        )
        fit_steps = _FitSteps(self, data, batch_size, shuffle, augment, validation_batch_size or batch_size)
        self.interrupted = run_epochs(self, fit_steps, callback_list, initial_epoch, epochs)
        return self.history

    # --- evaluate / predict -----------------------------------------------------------------------

    def evaluate(self, x: ModelData | None = None, y: ModelData | None = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: ArrayLike | None = None,
                 return_dict: bool = False) -> Scores:
        """Loss and metrics over the whole data in inference mode (batched)."""
        self._require_compiled("evaluate")
        data_utils.check_verbose("evaluate", verbose)
        batch_size = data_utils.check_batch_size(batch_size)
        xs, ys = self._prepare(x, y, targets_for="evaluate")
        n = data_utils.check_samples("evaluate", xs, ys)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        with self.graph.guard:  # the whole pass: the metrics add up over every batch (threads)
            self._reset_metrics()
            loss_sum = 0.0
            self.graph.set_scratch(True)
            try:
                for start, stop in data_utils.batch_slices(n, batch_size):
                    batch_x = [data_utils.to_model_dtype(a[start:stop], self.dtype) for a in xs]
                    batch_y = [a[start:stop] for a in ys]
                    outputs = self.graph.forward(batch_x, training=False)
                    loss, _, _ = self._losses_and_grads(
                        outputs, batch_y, None if weights is None else weights[start:stop], with_grads=False
                    )
                    loss_sum += loss * (stop - start)
                    self._update_metrics(outputs, batch_y)
            finally:
                self.graph.set_scratch(False)
            regularization = sum(layer.regularization_loss() for layer in self.layers)
            logs = {"loss": loss_sum / max(n, 1) + regularization, **self._metric_logs()}
        if verbose not in (0, "auto"):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), file=sys.stderr)
        return self._result(logs, return_dict)

    def predict(self, x: ModelData, batch_size: int | None = None,
                verbose: int | str = 0) -> np.ndarray | list[np.ndarray]:
        """Outputs for every sample, computed in batches in inference mode (Dropout off, BatchNorm
        with its moving statistics)."""
        batch_size = data_utils.check_batch_size(batch_size)
        data_utils.check_verbose("predict", verbose)
        xs, _ = self._prepare(x)
        n = data_utils.check_samples("predict", xs)
        results: list[np.ndarray] | None = None
        graph = self.graph
        for start, stop in data_utils.batch_slices(n, batch_size):
            batch = [data_utils.to_model_dtype(a[start:stop], self.dtype) for a in xs]
            with graph.guard:  # one batch at a time on these layers; other threads' steps between
                graph.set_scratch(True)  # the batch's outputs are copied into the results
                try:
                    outputs = graph.forward(batch, training=False)
                    if results is None:
                        results = [np.empty((n, *o.shape[1:]), dtype=o.dtype) for o in outputs]
                    for result, out in zip(results, outputs, strict=True):
                        result[start:stop] = out
                finally:
                    graph.set_scratch(False)
        if results is None:
            raise ValueError("predict got no samples")
        return results if len(results) > 1 else results[0]


class _FitSteps:
    """What :meth:`Trainer.fit` does in each epoch and batch of :func:`~le4nn.models.training.run_epochs`."""

    def __init__(self, model: Trainer, data: data_utils.FitData, batch_size: int, shuffle: bool, augment,
                 validation_batch_size: int) -> None:
        self.model = model
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.validation_batch_size = validation_batch_size

    def begin_epoch(self, epoch: int):
        self.model._reset_metrics()
        self.order = get_rng().permutation(self.data.n) if self.shuffle else None
        self.loss_sum = 0.0
        self.seen = 0
        return data_utils.batch_slices(self.data.n, self.batch_size)

    def train_batch(self, step: int, batch: tuple[int, int]) -> dict:
        """One :meth:`Trainer.train_on_batch` step on the samples ``batch`` = (start, stop) of this epoch's order."""
        start, stop = batch
        data = self.data
        index = self.order[start:stop] if self.order is not None else slice(start, stop)
        batch_weights = None if data.weights is None else data.weights[index]
        batch_x, batch_y = [a[index] for a in data.xs], [a[index] for a in data.ys]
        if self.augment is not None:
            batch_x, batch_y = self.augment(batch_x, batch_y)
        loss = self.model._train_step(batch_x, batch_y, batch_weights)
        self.loss_sum += loss * (stop - start)
        self.seen += stop - start
        return {"loss": loss, **self.model._metric_logs()}

    def end_epoch(self, epoch: int) -> dict:
        """The epoch's mean loss, its metrics, the validation loss and metrics, the learning rate."""
        model = self.model
        logs = {"loss": self.loss_sum / max(self.seen, 1), **model._metric_logs()}
        val = self.data.validation
        if val is not None:
            val_logs = model.evaluate(val[0], val[1], sample_weight=val[2] if len(val) == 3 else None,
                                      batch_size=self.validation_batch_size, verbose=0, return_dict=True)
            logs.update({f"val_{k}": v for k, v in cast(dict, val_logs).items()})  # (return_dict)
        assert model.optimizer is not None  # fit requires a compiled model
        logs["lr"] = float(model.optimizer.learning_rate)
        model.epochs_done = epoch + 1
        return logs

    def on_interrupt(self, epoch: int) -> None:
        print(f"\nTraining interrupted during epoch {epoch + 1}; stopping with the weights of the "
              "last completed batch.", file=sys.stderr)
