"""The functional :class:`Model`: compile, fit, evaluate, predict, weights, summary, save.

A model is a :class:`~le4nn.models.graph.Graph` of layers plus, once compiled, an optimizer, one loss
per output and metrics.  One training step (``train_on_batch``) is: forward with ``training=True``,
loss, backward, optimizer step — with softmax + cross-entropy fused into (y − t)/B (handout eq. 12)
whenever an output layer ends in a softmax — and the metrics are computed from the same forward pass.

Threads: a model may be used from several threads; its calls run one step at a time (a training
step, a ``predict`` or ``evaluate`` batch, an eager call), each inside the graph's guard
(:class:`le4nn._threads.StepGuard`), which holds the locks of the model's layers, so the answers are
those of the calls made one after the other.
"""

from __future__ import annotations

import copy
import math
import signal
import sys
import threading
import warnings

import numpy as np

from le4nn import losses as losses_module
from le4nn import metrics as metrics_module
from le4nn import optimizers as optimizers_module
from le4nn._threads import num_threads_now
from le4nn.callbacks import CallbackList, History, ProgressBar, callback_sequence
from le4nn.layers import Layer, SymbolicTensor
from le4nn.layers.symbolic import is_symbolic
from le4nn.models import data as data_utils
from le4nn.models.graph import Graph
from le4nn.utils import get_rng


class Model:
    """A model from symbolic inputs to outputs, as ``keras.Model(inputs=..., outputs=...)``.

    >>> inputs = Input(shape=(28, 28, 1))
    >>> x = Flatten()(inputs)
    >>> outputs = Dense(10, activation="softmax")(x)
    >>> model = Model(inputs=inputs, outputs=outputs)
    """

    def __init__(self, inputs=None, outputs=None, name: str | None = None):
        self.name = name or self._default_name()
        self.optimizer = None
        self.stop_training = False
        self.history: History | None = None
        self._compiled = False
        self._graph: Graph | None = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model needs both inputs= and outputs=")
            self._multi_in = isinstance(inputs, (list, tuple))
            self._multi_out = isinstance(outputs, (list, tuple))
            self.inputs = list(inputs) if self._multi_in else [inputs]
            self.outputs = list(outputs) if self._multi_out else [outputs]
            for t in self.inputs + self.outputs:
                if not isinstance(t, SymbolicTensor):
                    raise TypeError(f"Model inputs and outputs must be symbolic tensors, got {t!r}")
            self._graph = Graph.from_tensors(self.inputs, self.outputs)

    @classmethod
    def _default_name(cls) -> str:
        from le4nn.layers.naming import to_snake_case, unique_name

        return unique_name(to_snake_case("Functional" if cls is Model else cls.__name__))

    # --- structure --------------------------------------------------------------------------------

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            raise ValueError(f"model {self.name!r} is not built yet: give it an input shape or call it on data")
        return self._graph

    @property
    def built(self) -> bool:
        return self._graph is not None

    @property
    def layers(self) -> list[Layer]:
        return self.graph.layers

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"model {self.name!r} has no layer named {name!r}")

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype

    @property
    def input_shape(self):
        """The input's shape (None for the batch size); a list of shapes for several inputs (as Keras)."""
        if not self.built:
            return None
        shapes = [tuple(t.shape) for t in self.inputs]
        return shapes if self._multi_in else shapes[0]

    @property
    def output_shape(self):
        """The output's shape (None for the batch size); a list of shapes for several outputs (as Keras)."""
        if not self.built:
            return None
        shapes = [tuple(t.shape) for t in self.outputs]
        return shapes if self._multi_out else shapes[0]

    def _ensure_built(self, xs: list[np.ndarray]) -> None:
        """Sequential models without an input shape build on their first data; functional ones are built."""

    # --- weights ----------------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        try:
            weights = list(weights)
        except TypeError:
            raise TypeError(f"model {self.name!r}: set_weights takes a list of arrays (as get_weights gives), "
                            f"got {type(weights).__name__}") from None
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"model {self.name!r} has {expected} weight arrays, got {len(weights)}")
        position = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[position : position + count])
            position += count

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    @property
    def trainable(self) -> bool:
        """Whether every layer of the model is trainable.

        Setting it sets ``trainable`` on every layer (Keras's ``model.trainable = False``); a layer
        is frozen for every model that holds it (e.g. a GAN's discriminator inside the combined
        model).  ``trainable`` is read at each training step, not captured at ``compile`` time
        (as Keras 2 does): a model updates exactly the layers that are trainable when it takes a
        step, so a discriminator frozen for the combined model must be made trainable again before
        its own ``train_on_batch``.  A frozen layer's weights are neither updated nor regularized, and
        a frozen BatchNormalization runs in inference mode (as in Keras).
        """
        return all(layer.trainable for layer in self._layers_if_built())

    @trainable.setter
    def trainable(self, value) -> None:
        for layer in self._layers_if_built():
            layer.trainable = bool(value)

    def _layers_if_built(self) -> list[Layer]:
        try:
            return self.layers
        except ValueError:  # a model without a graph yet has no layers to freeze
            return []

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

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None):
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
                logits = self.graph.output_nodes[k].layer.logits
                if with_grads and k in deferred:
                    value, probs, grad = loss.softmax_fused_with_gradient(y, logits, sample_weight)
                    outputs[k] = probs
                else:
                    value, probs = loss.softmax_fused(y, logits, sample_weight)
                    if k in deferred:
                        outputs[k] = out = probs
                    grad = loss.softmax_fused_gradient(y, out, sample_weight) if with_grads else None
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

    def _train_step(self, xs, ys, sample_weight=None) -> float:
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

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
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

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
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
    def _result(logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # --- fit --------------------------------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, validation_batch_size=None, augment=None):
        """Train for ``epochs`` epochs (counting from ``initial_epoch``); returns a :class:`History`.

        ``augment``: online data augmentation of each training mini-batch (not of validation data):
        a :mod:`le4nn.augment` transform or preset name (e.g. ``"digits"``), or a function
        ``f(batch) -> batch``; see :func:`le4nn.augment.fit_hook`.

        Ctrl-C stops at the end of the current batch: the callbacks' ``on_train_end`` still runs (so
        ModelCheckpoint saves the model) and the History so far is returned.  A second Ctrl-C aborts.
        """
        self._require_compiled("fit")
        if augment is not None:
            from le4nn.augment import fit_hook

            augment = fit_hook(augment)
        batch_size = data_utils.check_batch_size(batch_size)
        epochs, initial_epoch = data_utils.check_epochs(epochs, initial_epoch)
        validation_split = data_utils.check_validation_split(validation_split)
        xs, ys = self._prepare(x, y, targets_for="fit")
        n = data_utils.check_samples("fit", xs, ys)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        val = None
        if validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = tuple(validation_data)
        elif validation_split:
            xs, ys, val_x, val_y = data_utils.split_validation(xs, ys, validation_split)
            if weights is not None:
                weights = weights[: len(xs[0])]
            val = (val_x if len(val_x) > 1 else val_x[0], val_y if len(val_y) > 1 else val_y[0])
            n = len(xs[0])
        if class_weight is not None:
            class_samples = data_utils.class_weights_to_samples(class_weight, ys[0])
            weights = class_samples if weights is None else weights * class_samples
        if weights is not None and len(weights) != n:
            raise ValueError(f"sample_weight has {len(weights)} entries for {n} samples")

        steps = math.ceil(n / batch_size)
        if data_utils.check_verbose("fit", verbose) == "auto":
            verbose = 1
        self.history = History()
        callback_list = CallbackList(
            [self.history, *callback_sequence(callbacks), ProgressBar(verbose)],
            model=self,
            params={"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size},
        )
        self.stop_training = False
        interrupted = False
        epoch = initial_epoch
        with _GracefulInterrupt() as interrupt:
            try:
                callback_list.on_train_begin()
                for epoch in range(initial_epoch, epochs):
                    callback_list.on_epoch_begin(epoch)
                    self._reset_metrics()
                    order = get_rng().permutation(n) if shuffle else None
                    loss_sum = 0.0
                    seen = 0
                    for step, (start, stop) in enumerate(data_utils.batch_slices(n, batch_size)):
                        callback_list.on_train_batch_begin(step)
                        index = order[start:stop] if order is not None else slice(start, stop)
                        batch_weights = None if weights is None else weights[index]
                        batch_x, batch_y = [a[index] for a in xs], [a[index] for a in ys]
                        if augment is not None:
                            batch_x, batch_y = augment(batch_x, batch_y)
                        loss = self._train_step(batch_x, batch_y, batch_weights)
                        loss_sum += loss * (stop - start)
                        seen += stop - start
                        callback_list.on_train_batch_end(step, {"loss": loss, **self._metric_logs()})
                        if interrupt.requested:
                            raise KeyboardInterrupt
                        if self.stop_training:
                            break
                    logs = {"loss": loss_sum / max(seen, 1), **self._metric_logs()}
                    if val is not None:
                        val_logs = self.evaluate(*val[:2], sample_weight=val[2] if len(val) == 3 else None,
                                                 batch_size=validation_batch_size or batch_size, verbose=0,
                                                 return_dict=True)
                        logs.update({f"val_{k}": v for k, v in val_logs.items()})
                    logs["lr"] = float(self.optimizer.learning_rate)
                    self._epochs_done = epoch + 1
                    callback_list.on_epoch_end(epoch, logs)
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    if self.stop_training:
                        break
            except TrainingAborted:
                raise  # a second Ctrl-C: the state may be mid-step, so nothing is saved
            except KeyboardInterrupt:
                interrupted = True
                print(f"\nTraining interrupted during epoch {epoch + 1}; stopping with the weights of the "
                      "last completed batch.", file=sys.stderr)
            callback_list.on_train_end({"interrupted": interrupted})
        self.interrupted = interrupted
        return self.history

    # --- evaluate / predict -----------------------------------------------------------------------

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 return_dict=False):
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

    def predict(self, x, batch_size=None, verbose=0):
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

    def __call__(self, x, training=False):
        """Run the model on arrays (eager).  A model cannot be called on symbolic tensors (used as a
        layer of another model); build the bigger model from the same layer objects instead, e.g.
        ``Sequential([*generator.layers, *discriminator.layers])``."""
        if is_symbolic(x):
            raise TypeError(
                f"model {self.name!r} cannot be called on symbolic tensors (a model used as a layer is not "
                f"supported); build the combined model from the same layer objects instead, e.g. "
                f"Sequential([*first.layers, *second.layers])"
            )
        xs, _ = self._prepare(x)
        batch = [data_utils.to_model_dtype(a, self.dtype) for a in xs]
        with self.graph.guard:  # one call at a time on these layers (threads)
            outputs = self.graph.forward(batch, training=training)
        return outputs if len(outputs) > 1 else outputs[0]

    # --- summary, config, saving ------------------------------------------------------------------

    def summary(self, line_length: int = 98, print_fn=print) -> None:
        from le4nn.models.summary import summary_text

        print_fn(summary_text(self, line_length))

    def get_config(self) -> dict:
        from le4nn.models.saving import model_config

        return model_config(self)

    def save(self, filepath) -> None:
        """Architecture, weights and optimizer state in one ``.npz`` file (written atomically)."""
        from le4nn.models.saving import save_model

        save_model(self, filepath)

    def save_weights(self, filepath) -> None:
        from le4nn.models.saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        from le4nn.models.saving import load_weights

        load_weights(self, filepath)


class TrainingAborted(KeyboardInterrupt):
    """A second Ctrl-C during ``fit``: training stops at once, wherever it is, and nothing is saved."""


class _GracefulInterrupt:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM (what cluster schedulers and ``kill`` send)
    only sets ``requested`` (fit stops at the batch boundary, callbacks save the model); a second one
    raises :class:`TrainingAborted` at once.  Outside the main thread it does nothing."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))

    def __enter__(self):
        self.requested = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                try:
                    self._previous[signum] = signal.signal(signum, self._handle)
                except ValueError:  # not allowed here (e.g. embedded interpreters)
                    pass
        return self

    def _handle(self, signum, frame):
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if self.requested:
            raise TrainingAborted(f"training aborted by a second {name}")
        self.requested = True
        print(f"\n{name}: stopping after this batch (send again to abort at once)", file=sys.stderr)

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        return False
