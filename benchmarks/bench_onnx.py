"""Inference throughput of the ``cnn`` preset exported to ONNX: ONNX Runtime vs le4nn's ``predict`` vs
PyTorch, at batch 1 and batch 1000, the same thread count for each (issue 17).

    PYTHONPATH=src python benchmarks/bench_onnx.py                     # 1 and 2 threads, 3 repeats
    PYTHONPATH=src python benchmarks/bench_onnx.py --threads 2 --repeat 5 --wait-quiet 30

The parent builds the ``cnn`` preset (``le4nn.cli.presets.build_preset``, seed 0), trains it one short
epoch on MNIST so that its BatchNorm statistics are real, saves it (``model.npz``), exports it with
``model.export(path, format="onnx")`` and writes the weights of a PyTorch twin (NCHW, the same
weights; its Flatten permutes to le4nn's channels_last element order).  It checks that the three agree on 100
test images, then runs every measurement in a fresh child process (this file with ``--child``), the
frameworks alternating and their order flipping every repeat:

- le4nn: ``load_model`` + ``predict(x, batch_size=b)``; threads by ``le4nn.set_num_threads``;
- ONNX Runtime: ``InferenceSession`` with ``intra_op_num_threads`` = threads, ``inter_op_num_threads`` 1,
  sequential execution, all graph optimizations; ``run`` per batch;
- PyTorch: eval mode, ``no_grad``, ``torch.set_num_threads``; softmax included (the others have it).

Batch 1000: the 10000 MNIST test images; batch 1: the first 500, one at a time (a server's view).  Each
child times ``--passes`` passes after one warm-up pass and reports the best; the table gives images per
second (median over the repeats, min–max) and each framework's time over le4nn's within the same repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_machine import machine_line, parse_threads
from bench_models import ROOT, load_mnist

FRAMEWORKS = ("le4nn", "onnxruntime", "torch")
BATCHES = (1, 1000)
SINGLE_IMAGES = 500  # batch 1: this many images, one at a time


def test_images(count: int | None = None):
    _, _, x_test, _, note = load_mnist()
    x = (x_test[..., None].astype(np.float32) / np.float32(255))[:count]
    return np.ascontiguousarray(x), note


# --------------------------------------------------------------------------------------------------
# The model, its ONNX file and its PyTorch twin
# --------------------------------------------------------------------------------------------------


def twin_weights(model) -> dict:
    """The ``cnn`` preset's weights as plain arrays for :func:`torch_twin` (the PyTorch child does not
    import le4nn, whose thread settings would be PyTorch's too)."""
    arrays, counts = {}, {"Conv2D": 0, "BatchNormalization": 0, "Dense": 0}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in counts:
            continue
        prefix, counts[kind] = f"{kind}{counts[kind]}", counts[kind] + 1
        for name, value in {**layer.params, **getattr(layer, "state", {})}.items():
            arrays[f"{prefix}/{name}"] = value
        if kind == "BatchNormalization":
            arrays[f"{prefix}/epsilon"] = np.float64(layer.epsilon)
    return arrays


def torch_twin(weights: dict):
    """The ``cnn`` preset in PyTorch (NCHW) with these weights; its output equals ``predict``'s."""
    import torch
    from torch import nn

    def tensor(name):
        return torch.from_numpy(np.ascontiguousarray(weights[name]))

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs, self.norms, self.fcs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
            for k in range(3):
                kernel = weights[f"Conv2D{k}/kernel"]
                conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
                conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                conv.bias.data = tensor(f"Conv2D{k}/bias")
                self.convs.append(conv)
            for k in range(4):
                gamma = tensor(f"BatchNormalization{k}/gamma")
                eps = float(weights[f"BatchNormalization{k}/epsilon"])
                bn = (nn.BatchNorm2d if k < 3 else nn.BatchNorm1d)(len(gamma), eps=eps)
                bn.weight.data, bn.bias.data = gamma, tensor(f"BatchNormalization{k}/beta")
                bn.running_mean.data = tensor(f"BatchNormalization{k}/moving_mean")
                bn.running_var.data = tensor(f"BatchNormalization{k}/moving_variance")
                self.norms.append(bn)
            for k in range(2):
                kernel = weights[f"Dense{k}/kernel"]
                fc = nn.Linear(*kernel.shape)
                fc.weight.data = torch.from_numpy(kernel.T.copy())
                fc.bias.data = tensor(f"Dense{k}/bias")
                self.fcs.append(fc)

        def forward(self, x):  # x: NCHW
            for conv, bn in zip(self.convs, self.norms[:3], strict=True):
                x = bn(torch.max_pool2d(torch.relu(conv(x)), 2))
            x = x.permute(0, 2, 3, 1).flatten(1)  # le4nn's channels_last element order
            x = self.norms[3](torch.relu(self.fcs[0](x)))
            return torch.softmax(self.fcs[1](x), dim=1)

    return Twin().eval()


def prepare(workdir: Path) -> dict:
    """Train, save, export and twin the model in ``workdir``; return the agreement figures."""
    import torch

    import le4nn
    import le4nn.utils
    from le4nn.cli.presets import build_preset

    le4nn.set_num_threads(2)
    le4nn.utils.set_random_seed(0)
    x_train, y_train, _, _, _ = load_mnist()
    model = build_preset("cnn", (28, 28, 1), 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = x_train[:6000, ..., None].astype(np.float32) / np.float32(255)
    y = np.eye(10, dtype=np.float32)[y_train[:6000]]
    model.fit(x, y, batch_size=100, epochs=1, verbose=0)
    model.save(workdir / "model.npz")
    model.export(workdir / "model.onnx", format="onnx")
    weights = twin_weights(model)
    np.savez(workdir / "twin.npz", **weights)
    twin = torch_twin(weights)

    import onnxruntime as ort

    images, _ = test_images(100)
    ours = model.predict(images, verbose=0)
    theirs = ort.InferenceSession(str(workdir / "model.onnx")).run(None, {_input_name(workdir): images})[0]
    with torch.no_grad():
        pt = twin(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()
    return {"onnxruntime": float(np.abs(theirs - ours).max()), "torch": float(np.abs(pt - ours).max())}


def _input_name(workdir: Path) -> str:
    import onnxruntime as ort

    return ort.InferenceSession(str(workdir / "model.onnx")).get_inputs()[0].name


# --------------------------------------------------------------------------------------------------
# One measurement (child process)
# --------------------------------------------------------------------------------------------------


def child(job: dict) -> dict:
    workdir, threads, batch = Path(job["workdir"]), job["threads"], job["batch"]
    images, _ = test_images(SINGLE_IMAGES if batch == 1 else None)
    framework = job["framework"]
    if framework == "le4nn":
        import le4nn
        from le4nn.models import load_model

        le4nn.set_num_threads(threads)
        model = load_model(workdir / "model.npz")
        run = lambda: model.predict(images, batch_size=batch, verbose=0)  # noqa: E731
    elif framework == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(workdir / "model.onnx"), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run():
            return np.concatenate([session.run(None, {name: images[s:s + batch]})[0]
                                   for s in range(0, len(images), batch)])
    else:
        import torch

        torch.set_num_threads(threads)
        with np.load(workdir / "twin.npz") as weights:
            twin = torch_twin(dict(weights))
        nchw = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))

        def run():
            with torch.no_grad():
                return torch.cat([twin(nchw[s:s + batch]) for s in range(0, len(nchw), batch)]).numpy()
    run()  # warm-up
    best = min(_timed(run) for _ in range(job["passes"]))
    return {"images_per_s": len(images) / best, "seconds": best, "images": len(images)}


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------------
# The parent: schedule, tabulate
# --------------------------------------------------------------------------------------------------


def run_child(job: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH", "")] if p)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"child {job} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per framework, batch and thread count")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per run (the best counts)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each run, wait up to this long for other processes to go quiet")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    threads = parse_threads(parser, args.threads)
    from bench_train import wait_for_quiet

    print(f"# bench_onnx: {time.strftime('%Y-%m-%d %H:%M')}; {machine_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        agreement = prepare(workdir)
        print(f"# max |difference| from le4nn's predict on 100 test images: ONNX Runtime "
              f"{agreement['onnxruntime']:.2e}, PyTorch {agreement['torch']:.2e}")
        results: dict[tuple, list[dict]] = {}
        for repeat in range(args.repeat):
            order = FRAMEWORKS if repeat % 2 == 0 else FRAMEWORKS[::-1]
            for n in threads:
                for batch in BATCHES:
                    for framework in order:
                        if args.wait_quiet:
                            wait_for_quiet(args.wait_quiet)
                        job = {"workdir": str(workdir), "threads": n, "batch": batch, "framework": framework,
                               "passes": args.passes}
                        result = run_child(job)
                        results.setdefault((n, batch, framework), []).append(result)
                        print(f"  [{repeat + 1}/{args.repeat}] {n} thr batch {batch:4d} {framework:11s} "
                              f"{result['images_per_s']:9.0f} images/s", flush=True)
    print_table(results, threads, args.repeat)
    return 0


def print_table(results: dict, threads: list[int], repeats: int) -> None:
    print("\n| threads | batch | framework | images/s (median) | min–max | time / le4nn's (median, per repeat) |")
    print("|---|---|---|---|---|---|")
    for n in threads:
        for batch in BATCHES:
            ours = results[(n, batch, "le4nn")]
            for framework in FRAMEWORKS:
                runs = results[(n, batch, framework)]
                rates = [r["images_per_s"] for r in runs]
                ratios = [r["seconds"] / o["seconds"] for r, o in zip(runs, ours, strict=True)]
                print(f"| {n} | {batch} | {framework} | {statistics.median(rates):.0f} | "
                      f"{min(rates):.0f}–{max(rates):.0f} | {statistics.median(ratios):.2f} |")
    print(f"\n{repeats} repeats; batch 1: {SINGLE_IMAGES} images one at a time; batch 1000: 10000 images.")


if __name__ == "__main__":
    sys.exit(main())
