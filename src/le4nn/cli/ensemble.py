"""Ensembles for ``le4nn-train --members N``: N models of one recipe trained one after another, saved as
one model that averages their softmax outputs.

Member k (k = 1..N) is a fresh model of the run's architecture trained with seed ``seed + k − 1`` (its
own initial weights, shuffling and augmentation stream, its own weight average when ``--weight-ema`` is
on), for the run's epochs with the same schedule, and with the k-th preset of ``--augment``'s
comma-separated list (taken in turn: ``contest,digits`` alternates a strong and a mild augmentation).
:func:`build_ensemble` then puts copies of the trained members side by side in ONE functional
:class:`~le4nn.models.Model`: one input feeding every member's layers (fresh layers named ``m1_conv2d``,
``m2_conv2d``, ...; the weights and BatchNorm statistics copied in layer by layer), the members' outputs
averaged by a :class:`~le4nn.layers.Average` layer, so model.npz, ``le4nn-predict``, the judging (``--tta``
too) and ``evaluate`` take it as any other model.  Averaging probabilities, not logits, is what Keras's
``Average()`` over softmax outputs and the usual "deep ensemble" do.

Files: model.npz (the ensemble), member1.npz … (each member as trained, its weight average when one
is kept), checkpoint-member1.npz … and history-member1.csv … (the trained weights and the epochs of each
member as they train), history.csv (all members' epochs, with a ``member`` column), results.json with
each member's own test accuracy next to the ensemble's (reported, never used to choose anything).
An ensemble cannot be resumed: ``--resume`` goes with one model (``--members 1``).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from le4nn import layers, optimizers
from le4nn._files import write_text
from le4nn.cli.common import EXIT_INTERRUPTED
from le4nn.models import Model
from le4nn.utils import set_random_seed

#: Bound of --members (each member is a whole training run).
MAX_MEMBERS = 16


def member_augment(augment: str, member: int) -> str:
    """The augmentation preset of ensemble member ``member`` (1, 2, ...; 0: a single model) from
    ``--augment``'s comma-separated list, taken in turn."""
    names = augment.split(",")
    return names[(max(member, 1) - 1) % len(names)]


def build_ensemble(members: list, name: str = "ensemble") -> Model:
    """One functional model whose output is the mean of the ``members``' outputs (handout: the models'
    softmax outputs y_k averaged, ȳ = (1/N) Σ_k y_k); the members' weights are copied, not shared.

    Every member must take one input of the same shape and give one output of the same shape.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    first = members[0]
    shapes = {(tuple(m.input_shape), tuple(m.output_shape)) for m in members}
    if len(shapes) > 1 or any(len(m.graph.input_slots) != 1 or len(m.graph.output_slots) != 1 for m in members):
        raise ValueError("the members of an ensemble must each have one input and one output of the same shapes")
    inputs = layers.Input(shape=first.input_shape[1:], dtype=first.dtype, name="input")
    outputs = [_copy_member(member, inputs, f"m{k + 1}_") for k, member in enumerate(members)]
    mean = layers.Average(dtype=first.dtype, name="average")(outputs)
    return Model(inputs=inputs, outputs=mean, name=name)


def _copy_member(member, inputs, prefix: str):
    """Fresh copies of ``member``'s layers (named ``prefix`` + name) called on ``inputs`` along the
    member's graph, with the member's weights; the copy's output tensor."""
    graph = member.graph
    tensors = {graph.input_slots[0]: inputs}
    for node in graph.nodes:
        if isinstance(node.layer, layers.InputLayer):
            tensors[node.output] = inputs
            continue
        config = {**node.layer.get_config(), "name": prefix + node.layer.name}
        layer = layers.deserialize({"class_name": type(node.layer).__name__, "config": config})
        read = [tensors[slot] for slot in node.inputs]
        tensors[node.output] = layer(read if layer._multi_input else read[0])
        layer.set_weights([w.copy() for w in node.layer.get_weights()])
    return tensors[graph.output_slots[0]]


def train_ensemble(args, data, num_classes: int, epochs: int, say, fit_member, finish) -> int:
    """Train ``args.members`` members with ``fit_member`` (le4nn-train's one-model training), save each
    and the ensemble, and ``finish`` (evaluate, save, judge) with the ensemble; the exit status."""
    x_train, y_train, x_test, y_test = data
    output = Path(args.output)
    members, histories, seconds, accuracies = [], [], [], []
    for k in range(1, args.members + 1):
        set_random_seed(args.seed + k - 1)
        say(f"member {k} of {args.members}: seed {args.seed + k - 1}")
        model, history, pipeline, took, checkpoint = fit_member(args, x_train, y_train, num_classes, epochs, say,
                                                                member=k)
        if model.interrupted:
            done = ", ".join(f"member{j}.npz" for j in range(1, k)) or "none"
            print(f"Interrupted while training member {k} of {args.members}; its trained weights are in "
                  f"{checkpoint.last_saved}, the finished members in {output}/ ({done}). An ensemble cannot "
                  "be resumed: run le4nn-train again.", file=sys.stderr)
            return EXIT_INTERRUPTED
        model.save(output / f"member{k}.npz")
        accuracy = float(model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])
        say(f"member {k}: trained in {took:.1f} s, test accuracy {accuracy:.4f} (reported, never used to choose)")
        members.append(model)
        histories.append(history)
        seconds.append(took)
        accuracies.append(accuracy)
        write_histories(output, args.members)
    ensemble = build_ensemble(members)
    ensemble.compile(optimizer=optimizers.deserialize(optimizers.serialize(members[0].optimizer)),
                     loss=members[0].loss, metrics=["accuracy"])
    say(f"ensemble: the mean of the {args.members} members' outputs, {ensemble.count_params():,} parameters")
    extra = {"members": args.members, "member_test_accuracy": accuracies, "member_train_seconds": seconds,
             "member_seeds": [args.seed + k for k in range(args.members)],
             "member_augment": [member_augment(args.augment, k) for k in range(1, args.members + 1)]}
    return finish(args, ensemble, histories[0], (x_train, x_test, y_test), pipeline, sum(seconds), epochs, say,
                  extra=extra)


def write_histories(output: Path, count: int) -> None:
    """history.csv: the rows of every history-memberK.csv written so far, after a ``member`` column."""
    header, rows = None, []
    for k in range(1, count + 1):
        path = output / f"history-member{k}.csv"
        if not path.exists():
            break
        with open(path, newline="") as f:
            table = list(csv.reader(f))
        if not table:
            continue
        if header is None:
            header = ["member", *table[0]]
        columns = {name: i for i, name in enumerate(table[0])}
        for row in table[1:]:
            rows.append([str(k), *(row[columns[name]] if name in columns else "" for name in header[1:])])
    if header is None:
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(output / "history.csv", text.getvalue())
