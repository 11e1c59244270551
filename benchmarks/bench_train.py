"""End-to-end training (and inference) speed of le4nn vs PyTorch, measured side by side.

    PYTHONPATH=src python benchmarks/bench_train.py                       # all models, 1 and 2 threads
    PYTHONPATH=src python benchmarks/bench_train.py --models cnn-b --threads 2 --repeat 5
    PYTHONPATH=src python benchmarks/bench_train.py --models resnet20,resnet --threads 2 --wait-quiet 30
    PYTHONPATH=src python benchmarks/bench_train.py --profile --models resnet20 --threads 2
    PYTHONPATH=src python benchmarks/bench_train.py --accuracy --models cnn-b    # 1 epoch, test accuracy

The models (float32, softmax + cross-entropy; built in ``bench_models.py``, le4nn and PyTorch twins):

- ``mlp``: 784-100(sigmoid)-10, plain SGD (lr 0.01), MNIST, batch 100;
- ``lecture``: Conv(9, 3×3, same)+ReLU, MaxPool 2, Dense 64 ReLU, Dense 10, plain SGD (lr 0.01), MNIST, batch 100;
- ``cnn-b``: Conv(32, 3×3, same)+ReLU, MaxPool 2, Conv(64, 3×3, same)+ReLU, MaxPool 2, Dense 128 ReLU,
  Dense 10, momentum SGD (lr 0.01, momentum 0.9), MNIST, batch 100;
- ``resnet20``: ``le4nn.applications.resnet20`` (He et al. 2016, 16/32/64 filters, 3 blocks per stage,
  option-B projections, functional API, channels_last), momentum SGD, CIFAR-10 32×32×3, batch 128;
- ``resnet``: ``le4nn.applications.digit_resnet`` (32/64/128 filters, 2 blocks per stage), momentum SGD,
  MNIST 28×28×1, batch 128.

Every measurement runs in a fresh subprocess (``bench_child.py``; so that its peak RSS, ``ru_maxrss``,
belongs to that run alone, and no framework's thread pools or allocator state leak into another's).
A child loads the data (``$LE4NN_DATA``, else ``../shared/data`` next to the repository: ``mnist/`` and
``cifar-10-batches-py/`` or ``cifar-10-partial/cifar-10-batches-py/``; random data with a note if
absent), builds the model, trains ``--warmup`` steps, then times ``--steps`` steps over consecutive
mini-batches of a fixed shuffle (the same batches for every framework).  Seconds per epoch are the
mean step time of the timed steps × the steps of one epoch of the full data set (60000 MNIST or 50000
CIFAR-10 images).  The frameworks alternate within each repeat (the order flips every repeat), and each
le4nn/PyTorch ratio is formed from the two runs of the same repeat, so slow drifts of the shared machine
cancel; the table gives the ratio's min–median–max over the repeats, and also le4nn's median over
PyTorch's *fastest* repeat (PyTorch's own time is bimodal on some CPUs).

Inference (``cnn-b``, ``resnet20``, ``resnet``): ``predict`` on the test images (cnn-b: 10000 in
batches of 1000; the ResNets: 1000 in batches of 128), PyTorch in eval mode under ``no_grad`` with a
softmax; best of ``--passes`` passes per run.

Threads: le4nn gets ``le4nn.set_num_threads(n)`` (kernels and BLAS), PyTorch ``torch.set_num_threads(n)``.
The environment is passed on unchanged (le4nn makes its own OpenMP/OpenBLAS settings at import).  Every
table is headed by the CPU model, its ISA extensions and the copy bandwidth (``bench_machine.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_child import child_main
from bench_machine import copy_bandwidth, machine_line, parse_threads
from bench_models import MODELS, ROOT, SPECS

NUMPY_STEPS = 3  # the NumPy backend is slow: a few steps suffice for its ratio
#: le4nn / PyTorch training time, median of the per-repeat ratios (issue 6; the ResNets: issue 19).
TARGETS = {
    ("mlp", None): 0.6,
    ("lecture", None): 0.5,
    ("resnet20", None): 0.7,
    ("resnet", None): 0.7,
    ("resnet20-cf", None): 0.7,
}
#: le4nn's median / PyTorch's fastest repeat (issue 19: PyTorch's own time is bimodal on the EPYC).
FASTEST_TARGETS = {("cnn-b", None): 0.5}
#: le4nn / PyTorch inference time, median of the per-repeat ratios.
INFER_TARGETS = {"cnn-b": 1.0, "resnet20": 0.5, "resnet": 0.5, "resnet20-cf": 0.5}

# --------------------------------------------------------------------------------------------------
# Schedule children
# --------------------------------------------------------------------------------------------------


def run_child(job: dict, timeout: float = 3600) -> dict:
    env = dict(os.environ)
    if job["framework"] == "le4nn":
        src = job.get("src") or str(ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in [src, env.get("PYTHONPATH", "")] if p)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"child {job} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def machine_load(interval: float = 0.5) -> float | None:
    """Cores busy over ``interval`` seconds, all processes (the parent itself is idle meanwhile)."""
    def sample():
        try:
            with open("/proc/stat", "rb") as f:
                ticks = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        return time.monotonic(), (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    a = sample()
    time.sleep(interval)
    b = sample()
    if a is None or b is None:
        return None
    return (b[1] - a[1]) / (b[0] - a[0])


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> float | None:
    """Wait (up to ``max_wait`` s) until other processes use less than ``threshold`` cores for 1 s."""
    deadline = time.monotonic() + max_wait
    load = machine_load()
    while load is not None and load >= threshold and time.monotonic() < deadline:
        load = machine_load(1.0)
    return load


def run_measured(job: dict, args) -> dict:
    """One child run; with --wait-quiet, start it on a quiet machine and redo it (up to --retries
    times) when other processes took more than 0.3 cores while it was timed."""
    for attempt in range(1 + (args.retries if args.wait_quiet else 0)):
        if args.wait_quiet:
            wait_for_quiet(args.wait_quiet)
        result = run_child(job)
        load = result.get("other_load")
        if load is None or load <= 0.3:
            break
        print(f"    (other processes used {load:.2f} cores during the run"
              f"{'; running it again' if attempt < args.retries and args.wait_quiet else ''})",
              file=sys.stderr, flush=True)
    result["job"] = job
    return result


def torch_available() -> bool:
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return proc.returncode == 0


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def _fmt_range(values, fmt="{:.2f}") -> str:
    if not values:
        return "–"
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(lo)}–{fmt.format(med)}–{fmt.format(hi)}"


def step_seconds(result: dict) -> float:
    return result["total"] / len(result["step_times"])


def epoch_seconds(result: dict) -> float:
    spec = SPECS[result["job"]["model"]]
    return step_seconds(result) * spec.epoch_images / result["job"]["batch"]


def _target(table: dict, m: str, t: int):
    return table.get((m, t), table.get((m, None)))


def _verdict(value: float, target) -> str:
    return "" if target is None else f"≤ {target} {'met' if value <= target else 'NOT met'}"


def print_profile(result: dict, title: str) -> None:
    profile = result["profile"]
    steps = len(result["step_times"])
    step_ms = 1000 * result["total"] / steps
    times = {(n, p): t for n, p, t in profile["times"]}
    kinds = profile.get("kinds", {})
    print(f"\n### Profile: {title} — {step_ms:.2f} ms per step ({steps} steps)\n")
    print("| layer | type | forward ms | backward ms | share |")
    print("|---|---|---|---|---|")
    accounted = 0.0
    by_kind: dict[str, list[float]] = {}
    for name in profile["order"]:
        f = times.get((name, "forward"), 0.0) / steps * 1000
        b = times.get((name, "backward"), 0.0) / steps * 1000
        accounted += f + b
        kind = kinds.get(name, name)
        totals = by_kind.setdefault(kind, [0.0, 0.0, 0])
        totals[0] += f
        totals[1] += b
        totals[2] += 1
        print(f"| {name} | {kind} | {f:.3f} | {b:.3f} | {100 * (f + b) / step_ms:.1f}% |")
    rest = step_ms - accounted
    print(f"| (model overhead) | | | {rest:.3f} | {100 * rest / step_ms:.1f}% |")
    print("\nBy layer type (a type's layers summed; largest first):\n")
    print("| type | layers | forward ms | backward ms | share |")
    print("|---|---|---|---|---|")
    for kind, (f, b, n) in sorted(by_kind.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        print(f"| {kind} | {n} | {f:.3f} | {b:.3f} | {100 * (f + b) / step_ms:.1f}% |")
    print(f"| (model overhead) | | | {rest:.3f} | {100 * rest / step_ms:.1f}% |")


def print_train_table(results: dict, models, threads) -> None:
    print("| model | thr | framework | batch | steps | ms/step (med) | s/epoch (min–med–max) | images/s (med) "
          "| peak RSS MB (max) | le4nn/PyTorch (min–med–max) | target | le4nn med / PyTorch fastest | target |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in models:
        for t in threads:
            native = results.get((m, t, "le4nn", "native"), [])
            torch_runs = results.get((m, t, "torch", "-"), [])
            numpy_runs = results.get((m, t, "le4nn", "numpy"), [])
            ratios = [epoch_seconds(a) / epoch_seconds(b) for a, b in zip(native, torch_runs, strict=False)]
            for label, runs in (("le4nn native", native), ("PyTorch", torch_runs), ("le4nn numpy", numpy_runs)):
                if not runs:
                    continue
                secs = [epoch_seconds(r) for r in runs]
                med = statistics.median(secs)
                ratio = tgt = fastest = tgt_fastest = ""
                if label == "le4nn native" and ratios:
                    ratio = _fmt_range(ratios)
                    tgt = _verdict(statistics.median(ratios), _target(TARGETS, m, t))
                    vs_fastest = med / min(epoch_seconds(r) for r in torch_runs)
                    fastest = f"{vs_fastest:.2f}"
                    tgt_fastest = _verdict(vs_fastest, _target(FASTEST_TARGETS, m, t))
                job = runs[0]["job"]
                print(f"| {m} | {t} | {label} | {job['batch']} | {len(runs[0]['step_times'])} "
                      f"| {1000 * statistics.median(step_seconds(r) for r in runs):.1f} | {_fmt_range(secs)} "
                      f"| {SPECS[m].epoch_images / med:.0f} | {max(r['peak_rss_mb'] for r in runs):.0f} "
                      f"| {ratio} | {tgt} | {fastest} | {tgt_fastest} |")
            if native and numpy_runs:
                speedup = (statistics.median(epoch_seconds(r) for r in numpy_runs)
                           / statistics.median(epoch_seconds(r) for r in native))
                print(f"| {m} | {t} | native vs NumPy backend | | | | {speedup:.1f}× faster | | | | "
                      f"≥ 4× {'met' if speedup >= 4 else 'NOT met'} | | |")
            if native and torch_runs and m == "cnn-b":
                rss_ratio = max(r["peak_rss_mb"] for r in native) / max(r["peak_rss_mb"] for r in torch_runs)
                print(f"| {m} | {t} | peak RSS le4nn/PyTorch | | | | | | {rss_ratio:.2f} | | "
                      f"≤ 1.2 {'met' if rss_ratio <= 1.2 else 'NOT met'} | | |")


def print_infer_table(results: dict, models, threads, passes: int) -> None:
    rows = [(m, t, results.get(("infer", m, t, "le4nn"), []), results.get(("infer", m, t, "torch"), []))
            for m in models for t in threads]
    rows = [row for row in rows if row[2] and row[3]]
    if not rows:
        return
    print(f"\nInference: predict on the test images (cnn-b: 10000 in batches of 1000; the ResNets: "
          f"{SPECS['resnet20'].infer_images} in batches of {SPECS['resnet20'].infer_batch}; PyTorch: eval mode, "
          f"no_grad, softmax); best of {passes} passes per run.\n")
    print("| model | thr | le4nn s (min–med–max) | PyTorch s (min–med–max) | le4nn/PyTorch (min–med–max) | target |")
    print("|---|---|---|---|---|---|")
    for m, t, a, b in rows:
        la = [min(r["seconds"]) for r in a]
        lb = [min(r["seconds"]) for r in b]
        ratios = [x / y for x, y in zip(la, lb, strict=False)]
        print(f"| {m} | {t} | {_fmt_range(la, '{:.3f}')} | {_fmt_range(lb, '{:.3f}')} | {_fmt_range(ratios)} | "
              f"{_verdict(statistics.median(ratios), INFER_TARGETS.get(m))} |")


# --------------------------------------------------------------------------------------------------
# The three modes
# --------------------------------------------------------------------------------------------------


def _job(args, m: str, **fields) -> dict:
    return {"batch": args.batch or SPECS[m].batch, "warmup": args.warmup, "src": args.src, "model": m,
            "backend": "native", **fields}


def run_accuracy(args, models, threads, have_torch: bool) -> None:
    print("\n| model | framework | threads | test accuracy | train s (1 epoch) | data |")
    print("|---|---|---|---|---|---|")
    # The NumPy backend takes none of the native fast paths (NHWC/Winograd/direct convolutions,
    # fused epilogues, sparse products): the same seed must reach the same accuracy within noise.
    runs = [("le4nn", "native"), ("le4nn", "numpy"), *([("torch", "-")] if have_torch else [])]
    for m in models:
        for fw, backend in runs:
            r = run_child(_job(args, m, kind="accuracy", framework=fw, backend=backend, threads=threads[-1]))
            name = f"{fw} {backend}" if fw == "le4nn" else "PyTorch"
            print(f"| {m} | {name} | {threads[-1]} | {r['accuracy']:.4f} | {r['train_s']:.1f} | {r['data']} |",
                  flush=True)


def run_profile(args, models, threads) -> None:
    for m in models:
        for t in threads:
            if args.inference:
                job = _job(args, m, kind="infer", framework="le4nn", threads=t, passes=args.passes, profile=True,
                           cpu_time=args.cpu_time)
                what = f"predict of {SPECS[m].infer_images} images in batches of {SPECS[m].infer_batch} (a 'step')"
            else:
                job = _job(args, m, kind="train", framework="le4nn", threads=t, steps=args.steps or SPECS[m].steps,
                           profile=True, cpu_time=args.cpu_time)
                what = f"batch {job['batch']}"
            r = run_measured(job, args)
            load = r.get("other_load")
            print_profile(r, f"le4nn {m}, {t} thread(s), {what}, {r['backend']}"
                             f"{', CPU time' if args.cpu_time else ''}"
                             f"{'' if load is None else f', other processes {load:.1f} cores'}")


def run_speed(args, models, threads, have_torch: bool) -> tuple[dict, list[str]]:
    numpy_models = {m.strip() for m in args.numpy_models.split(",")} if args.numpy_steps else set()
    results: dict[tuple, list] = {}
    notes: list[str] = []
    for rep in range(args.repeat):
        for m in models:
            for t in threads:
                frameworks = [("le4nn", "native")] + ([("torch", "-")] if have_torch else [])
                if rep % 2:
                    frameworks.reverse()
                if m in numpy_models and rep == 0:
                    frameworks.append(("le4nn", "numpy"))
                for fw, backend in frameworks:
                    numpy_run = backend == "numpy"
                    job = _job(args, m, kind="train", framework=fw, backend=backend, threads=t,
                               steps=args.numpy_steps if numpy_run else args.steps or SPECS[m].steps)
                    if numpy_run:
                        job["warmup"] = 1
                    r = run_measured(job, args)
                    if r["data"] not in notes:
                        notes.append(r["data"])
                    results.setdefault((m, t, fw, backend), []).append(r)
                    load = r.get("other_load")
                    other = "" if load is None else f"  (other processes: {load:.2f} cores)"
                    print(f"  [{rep + 1}/{args.repeat}] {m:8s} {t} thr {fw:5s} {backend:6s} "
                          f"{1000 * step_seconds(r):8.1f} ms/step {epoch_seconds(r):8.2f} s/epoch "
                          f"{r['peak_rss_mb']:6.0f} MB{other}", file=sys.stderr, flush=True)
        if have_torch and not args.no_inference:
            for m in (m for m in models if m in INFER_TARGETS):
                for t in threads:
                    for fw in ["le4nn", "torch"] if rep % 2 == 0 else ["torch", "le4nn"]:
                        r = run_measured(_job(args, m, kind="infer", framework=fw, threads=t, passes=args.passes),
                                         args)
                        results.setdefault(("infer", m, t, fw), []).append(r)
    return results, notes


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {','.join(MODELS)}")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per framework, model and thread count")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per run (default: mlp 600 = one epoch, lecture 150, cnn-b 60, "
                             "resnet20 and resnet 12)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before timing")
    parser.add_argument("--batch", type=int, default=None,
                        help="training batch (default: 100 for the MNIST models of issue 6, 128 for the ResNets)")
    parser.add_argument("--numpy-steps", type=int, default=NUMPY_STEPS,
                        help="timed steps of the NumPy backend (0: skip it)")
    parser.add_argument("--numpy-models", default="cnn-b", help="models also run on the NumPy backend")
    parser.add_argument("--no-torch", action="store_true", help="do not run PyTorch")
    parser.add_argument("--no-inference", action="store_true",
                        help="skip the inference comparisons (cnn-b, resnet20, resnet)")
    parser.add_argument("--passes", type=int, default=3, help="inference passes over the test images per run")
    parser.add_argument("--profile", action="store_true",
                        help="only print each layer's forward/backward time share (native backend)")
    parser.add_argument("--inference", action="store_true",
                        help="with --profile: profile predict (inference) instead of a training step")
    parser.add_argument("--cpu-time", action="store_true",
                        help="with --profile: time with the process CPU clock (1 thread: ignores the time "
                             "other processes take the core away)")
    parser.add_argument("--accuracy", action="store_true",
                        help="only train each model 1 epoch (seed 0) and print the test accuracy")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="on a shared machine: before each run, wait up to this long for other processes "
                             "to leave the CPUs idle, and redo runs they disturbed (see --retries)")
    parser.add_argument("--retries", type=int, default=3, help="with --wait-quiet: reruns of a disturbed run")
    parser.add_argument("--src", default=None,
                        help="the le4nn source tree to measure (default: this checkout's src/), e.g. an "
                             "older copy for before/after comparisons")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("repeat", "passes", "retries", "numpy_steps", "warmup"):
        if getattr(args, name) < 0 or (name in ("repeat", "passes") and getattr(args, name) == 0):
            parser.error(f"--{name.replace('_', '-')} must be {'>= 1' if name in ('repeat', 'passes') else '>= 0'}")
    for name in ("steps", "batch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r} in --models; choose from {', '.join(MODELS)}")
    threads = parse_threads(parser, args.threads)
    return args, models, threads


def main(argv=None) -> int:
    args, models, threads = parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    have_torch = not args.no_torch and torch_available()
    if not args.no_torch and not have_torch:
        print("note: PyTorch is not installed; only le4nn is measured (no ratios)")
    print(f"# bench_train: python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f} at start, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# {machine_line()}")
    print(f"# command: python {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}")
    if args.accuracy:
        run_accuracy(args, models, threads, have_torch)
        return 0
    if args.profile:
        run_profile(args, models, threads)
        return 0
    results, notes = run_speed(args, models, threads, have_torch)
    print(f"\nData: {'; '.join(notes)}.  s/epoch: mean step time × the steps of one epoch of the full data set (60000 "
          f"MNIST / 50000 CIFAR-10 images; timed steps after {args.warmup} warm-up steps); min–median–max over "
          f"{args.repeat} runs; ratio = le4nn / PyTorch within the same repeat.\n")
    print_train_table(results, models, threads)
    print_infer_table(results, models, threads, args.passes)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; copy bandwidth at the end: "
          f"{copy_bandwidth():.1f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
