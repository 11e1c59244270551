"""The CIFAR-10 recipe in le4nn and the same training in PyTorch, side by side (docs/results.md).

    LE4NN_DATA=/work/shared/data PYTHONPATH=src python docs/cifar_torch_comparison.py --seeds 0 1 2

For each seed it runs, each in a fresh subprocess (alternating which framework goes first):

- le4nn: ``python -m le4nn.cli.train --recipe cifar10 --seed S`` (the recipe as users run it);
- PyTorch: this script with ``--torch-run``, which trains the same network the same way:
  * architecture: built layer by layer from le4nn's ``cnn`` preset (Conv 3×3 same + ReLU, MaxPool 2,
    BatchNorm, ..., Dense, Dropout, Dense), with le4nn's initial weights for that seed copied in
    (kernels transposed to PyTorch's layouts; activations flattened in le4nn's NHWC order);
  * BatchNorm with the same conventions where PyTorch allows (momentum 1 − 0.99, ε 1e-3; PyTorch's running
    variance averages the unbiased batch variance, le4nn's the biased one);
  * the same data (``le4nn.datasets.load("cifar10")`` / 255), batch size, epochs, no validation split;
  * the same optimizer (``torch.optim.Adam``, which computes le4nn's Adam formula), the same learning
    rate per batch (the recipe's ``parse_schedule``: warm-up + cosine), the same label smoothing;
  * the same augmentation, written with torch ops: zero-pad 4, random 32×32 crop, horizontal flip with
    probability 0.5, drawn per image per batch.

It prints a markdown table of test accuracies (1000 test images) and training times, and writes
``comparison.json`` into ``--output``.  Both use 2 threads (``torch.set_num_threads``, le4nn's default).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def torch_run(seed: int, epochs: int | None, threads: int) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    from le4nn import datasets
    from le4nn.cli import recipes
    from le4nn.cli.common import to_model_input
    from le4nn.cli.presets import build_preset
    from le4nn.utils import set_random_seed

    torch.set_num_threads(threads)
    recipe = recipes.get_recipe("cifar10")
    if recipe.augment != "cifar" or recipe.validation_split:
        raise SystemExit("this script mirrors the 'cifar' augmentation without a validation split; update it")
    epochs = epochs or recipe.epochs
    (x_train, y_train), (x_test, y_test) = datasets.load(recipe.dataset)
    x_train, x_test = to_model_input(x_train), to_model_input(x_test)
    y_train, y_test = np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1)

    # The le4nn model of this seed, to copy its architecture and initial weights.
    set_random_seed(seed)
    reference = build_preset(recipe.model, x_train.shape[1:], 10)

    class NHWCFlatten(nn.Module):  # le4nn flattens (H, W, C); keep its Dense kernel rows as they are
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    modules: list[nn.Module] = []
    with torch.no_grad():
        for layer in reference.layers:
            kind = type(layer).__name__
            if kind == "Conv2D":
                kh, kw, cin, cout = layer.params["kernel"].shape
                if layer.padding != "same" or tuple(layer.strides) != (1, 1):
                    raise SystemExit(f"unsupported conv settings in {layer.name}")
                conv = nn.Conv2d(cin, cout, (kh, kw), padding=(kh // 2, kw // 2))
                conv.weight.copy_(torch.from_numpy(layer.params["kernel"].transpose(3, 2, 0, 1).copy()))
                conv.bias.copy_(torch.from_numpy(layer.params["bias"]))
                modules.append(conv)
            elif kind == "Dense":
                cin, cout = layer.params["kernel"].shape
                dense = nn.Linear(cin, cout)
                dense.weight.copy_(torch.from_numpy(layer.params["kernel"].T.copy()))
                dense.bias.copy_(torch.from_numpy(layer.params["bias"]))
                modules.append(dense)
            elif kind == "MaxPooling2D":
                modules.append(nn.MaxPool2d(tuple(layer.pool_size)))
            elif kind == "BatchNormalization":
                features = layer.params["gamma"].shape[0]
                flat = any(isinstance(m, NHWCFlatten) for m in modules)  # after Flatten/Dense: per feature
                cls = nn.BatchNorm1d if flat else nn.BatchNorm2d
                bn = cls(features, eps=layer.epsilon, momentum=1 - layer.momentum)
                modules.append(bn)
            elif kind == "Flatten":
                modules.append(NHWCFlatten())
            elif kind == "Dropout":
                if layer.mode != "inverted":
                    raise SystemExit("the comparison needs inverted dropout (PyTorch's)")
                modules.append(nn.Dropout(layer.rate))
            else:
                raise SystemExit(f"unsupported layer {kind}")
            activation = getattr(getattr(layer, "activation", None), "name", None)
            if activation == "relu":
                modules.append(nn.ReLU())
            elif activation not in (None, "linear", "softmax"):
                raise SystemExit(f"unsupported activation {activation}")
    model = nn.Sequential(*modules)

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(x_train.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y_train.astype(np.int64))
    xs = torch.from_numpy(x_test.transpose(0, 3, 1, 2).copy())
    n, channels, height, width = xt.shape
    pad = 4

    def augment(batch):
        b = batch.shape[0]
        padded = F.pad(batch, (pad, pad, pad, pad))
        top = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        left = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width))[:, None, None, :]
        crops = padded[torch.arange(b)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]
        flip = torch.rand(b, generator=generator) < 0.5
        return torch.where(flip[:, None, None, None], crops.flip(3), crops)

    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    schedule = recipes.parse_schedule(recipe.schedule, recipe.learning_rate, epochs, recipe.warmup)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    batch_size = recipe.batch_size
    steps = math.ceil(n / batch_size)
    start = time.perf_counter()
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = schedule(epoch + step / steps)
            index = order[step * batch_size:(step + 1) * batch_size]
            logits = model(augment(xt[index]))
            loss = loss_fn(logits, yt[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss) * len(index)
        history.append(total / n)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(xs[i:i + 500]).argmax(1) for i in range(0, len(xs), 500)]).numpy()
    return {"framework": "pytorch", "seed": seed, "epochs": epochs, "train_seconds": seconds,
            "test_accuracy": float(np.mean(predictions == y_test)), "loss_history": history}


def le4nn_run(seed: int, epochs: int | None, output: Path) -> dict:
    out = output / f"le4nn-seed{seed}"
    command = [sys.executable, "-m", "le4nn.cli.train", "--recipe", "cifar10", "--seed", str(seed),
               "--output", str(out), "--quiet"]
    if epochs:
        command += ["--epochs", str(epochs)]
    subprocess.run(command, check=True, env=_env())
    results = json.loads((out / "results.json").read_text())
    return {"framework": "le4nn", "seed": seed, **results}


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (for a quick check)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="cifar-comparison", help="folder for the runs and comparison.json")
    parser.add_argument("--torch-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_run:
        print(json.dumps(torch_run(args.seed, args.epochs, args.threads)))
        return 0

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    runs = []
    for k, seed in enumerate(args.seeds):
        order = ("le4nn", "pytorch") if k % 2 == 0 else ("pytorch", "le4nn")
        for framework in order:
            if framework == "le4nn":
                run = le4nn_run(seed, args.epochs, output)
            else:
                command = [sys.executable, __file__, "--torch-run", "--seed", str(seed),
                           "--threads", str(args.threads)] + (["--epochs", str(args.epochs)] if args.epochs else [])
                done = subprocess.run(command, check=True, capture_output=True, text=True, env=_env())
                run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(f"seed {seed} {framework:8s} test accuracy {run['test_accuracy']:.4f} "
                  f"({run['train_seconds']:.0f} s)", flush=True)
    (output / "comparison.json").write_text(json.dumps(runs, indent=2) + "\n")

    def stats(framework, key):
        values = [r[key] for r in runs if r["framework"] == framework]
        return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), values

    print("\n| framework | test accuracy per seed | mean ± sd | training time per run |")
    print("|---|---|---|---|")
    for framework in ("le4nn", "pytorch"):
        mean, sd, values = stats(framework, "test_accuracy")
        seconds = stats(framework, "train_seconds")[0]
        print(f"| {framework} | {', '.join(f'{100 * v:.1f}' for v in values)} | {100 * mean:.2f} ± {100 * sd:.2f} "
              f"| {seconds:.0f} s |")
    difference = stats("le4nn", "test_accuracy")[0] - stats("pytorch", "test_accuracy")[0]
    print(f"\nle4nn − PyTorch: {100 * difference:+.2f} points (mean over seeds {args.seeds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
