"""End-to-end training (and inference) speed of le4nn vs PyTorch on MNIST, measured side by side.

    PYTHONPATH=src python benchmarks/bench_train.py                       # all models, 1 and 2 threads
    PYTHONPATH=src python benchmarks/bench_train.py --models cnn-b --threads 2 --repeat 5
    PYTHONPATH=src python benchmarks/bench_train.py --profile --models cnn-b --threads 2
    PYTHONPATH=src python benchmarks/bench_train.py --accuracy --models cnn-b    # 1 epoch, test accuracy

The models (batch 100, float32, softmax + cross-entropy):

- ``mlp``: 784-100(sigmoid)-10, plain SGD (lr 0.01);
- ``lecture``: Conv(9, 3×3, same)+ReLU, MaxPool 2, Dense 64 ReLU, Dense 10, plain SGD (lr 0.01);
- ``cnn-b``: Conv(32, 3×3, same)+ReLU, MaxPool 2, Conv(64, 3×3, same)+ReLU, MaxPool 2, Dense 128 ReLU,
  Dense 10, momentum SGD (lr 0.01, momentum 0.9).

Every measurement runs in a fresh subprocess (so that its peak RSS, ``ru_maxrss``, belongs to that run
alone, and no framework's thread pools or allocator state leak into another's).  A child loads MNIST
(``$LE4NN_DATA``, else ``../shared/data/mnist`` next to the repository; random data with a note if
absent), builds the model, trains ``--warmup`` steps, then times ``--steps`` steps over consecutive
mini-batches of a fixed shuffle (the same batches for every framework).  Seconds per epoch are the
mean step time of the timed steps × 600 (extrapolated from steady-state steps, unless the timed
steps cover a whole epoch, in which case it is the measured epoch time).  The frameworks alternate
within each repeat (the order flips every repeat), and each le4nn/PyTorch ratio is formed from the
two runs of the same repeat, so slow drifts of the shared machine cancel; the table gives the
ratio's min–median–max over the repeats.

Threads: le4nn gets ``le4nn.set_num_threads(n)`` (kernels and BLAS), PyTorch ``torch.set_num_threads(n)``.
The environment is passed on unchanged (le4nn makes its own OpenMP/OpenBLAS settings at import).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EPOCH_IMAGES = 60000
MODELS = ("mlp", "lecture", "cnn-b")
DEFAULT_STEPS = {"mlp": 600, "lecture": 150, "cnn-b": 60}
NUMPY_STEPS = 3  # the NumPy backend is slow: a few steps suffice for its ratio
TARGETS = {  # le4nn / PyTorch, from issue 6
    ("mlp", None): 0.6,
    ("lecture", None): 0.5,
    ("cnn-b", 2): 0.6,
    ("cnn-b", 1): 0.7,
}

# --------------------------------------------------------------------------------------------------
# Data (read directly, so the benchmark does not depend on le4nn.datasets)
# --------------------------------------------------------------------------------------------------


def _read_idx(path: Path):
    import numpy as np

    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _data_dir() -> Path:
    env = os.environ.get("LE4NN_DATA")
    if env:
        base = Path(env)
        return base / "mnist" if (base / "mnist").is_dir() else base
    return ROOT.parent / "shared" / "data" / "mnist"


def load_mnist(seed: int = 0):
    """(x_train, y_train, x_test, y_test, note): uint8 images (N, 28, 28), int64 labels; the training
    set in a fixed shuffled order.  Random data of the same shapes if MNIST is not found."""
    import numpy as np

    base = _data_dir()
    files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    paths = []
    for name in files:
        for candidate in (base / f"{name}.gz", base / name):
            if candidate.exists():
                paths.append(candidate)
                break
    rng = np.random.default_rng(seed)
    if len(paths) == 4:
        xtr, ytr, xte, yte = (_read_idx(p) for p in paths)
        note = f"MNIST from {base}"
    else:
        xtr = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        ytr = rng.integers(0, 10, 60000, dtype=np.uint8)
        xte = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
        yte = rng.integers(0, 10, 10000, dtype=np.uint8)
        note = f"RANDOM data (MNIST not found in {base}; set LE4NN_DATA)"
    order = rng.permutation(len(xtr))
    return xtr[order], ytr[order].astype(np.int64), xte, yte.astype(np.int64), note


# --------------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------------


def build_le4nn(name: str):
    from le4nn import optimizers
    from le4nn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from le4nn.models import Sequential

    if name == "mlp":
        layers = [Flatten(input_shape=(28, 28, 1)), Dense(100, activation="sigmoid"),
                  Dense(10, activation="softmax")]
        optimizer = optimizers.SGD(learning_rate=0.01)
    elif name == "lecture":
        layers = [Conv2D(9, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
                  MaxPooling2D((2, 2)), Flatten(), Dense(64, activation="relu"),
                  Dense(10, activation="softmax")]
        optimizer = optimizers.SGD(learning_rate=0.01)
    elif name == "cnn-b":
        layers = [Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal",
                         input_shape=(28, 28, 1)),
                  MaxPooling2D((2, 2)),
                  Conv2D(64, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal"),
                  MaxPooling2D((2, 2)), Flatten(),
                  Dense(128, activation="relu", kernel_initializer="he_normal"),
                  Dense(10, activation="softmax")]
        optimizer = optimizers.SGD(learning_rate=0.01, momentum=0.9)
    else:
        raise ValueError(name)
    model = Sequential(layers, name=name)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def build_torch(name: str):
    import torch
    from torch import nn

    if name == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    elif name == "lecture":
        model = nn.Sequential(nn.Conv2d(1, 9, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(9 * 14 * 14, 64), nn.ReLU(), nn.Linear(64, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    elif name == "cnn-b":
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        raise ValueError(name)
    return model, optimizer


# --------------------------------------------------------------------------------------------------
# One measurement (runs in a child process)
# --------------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _batches(x, y, batch: int, count: int, start: int = 0):
    n = len(x)
    per_epoch = n // batch
    for k in range(start, start + count):
        s = (k % per_epoch) * batch
        yield x[s : s + batch], y[s : s + batch]


class _OtherLoad:
    """Cores kept busy by other processes while a run was timed (Linux /proc/stat minus our own CPU
    time), to tell quiet runs from contended ones on a shared machine."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat", "rb") as f:
                ticks = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        t = os.times()
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        return time.monotonic(), busy, t.user + t.system

    def cores(self):
        end = self._sample()
        if self.start is None or end is None or end[0] - self.start[0] <= 0:
            return None
        return max(0.0, ((end[1] - self.start[1]) - (end[2] - self.start[2])) / (end[0] - self.start[0]))


class _Profiler:
    """Wraps each layer's forward/backward (and the loss and the optimizer) with timers."""

    def __init__(self, model, clock=time.perf_counter):
        self.clock = clock
        self.times: dict[tuple[str, str], float] = {}
        self.order: list[str] = []
        for layer in model.layers:
            self.order.append(layer.name)
            # The model calls forward and _backward_step (which may call backward).
            backward = "_backward_step" if hasattr(layer, "_backward_step") else "backward"
            for method in ("forward", "_forward_through", backward, "_backward_through"):
                if hasattr(layer, method):  # *_through: fused with the next layer (time counted here)
                    self._wrap(layer, method, layer.name, "backward" if "backward" in method else "forward")
        self.order.append("loss")
        for _k, loss in enumerate(model._losses):
            for method in ("softmax_fused", "softmax_fused_gradient", "__call__", "gradient"):
                if hasattr(loss, method) and method != "__call__":
                    self._wrap(loss, method, "loss", "forward" if method == "softmax_fused" else "backward")
        self.order.append("optimizer")
        self._wrap(model.optimizer, "apply", "optimizer", "backward")

    def _wrap(self, obj, method, name, phase):
        original = getattr(obj, method)
        key = (name, phase)
        times = self.times
        times.setdefault(key, 0.0)
        clock = self.clock

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                times[key] += clock() - t0

        setattr(obj, method, timed)

    def reset(self):
        for key in self.times:
            self.times[key] = 0.0


def child_le4nn(job: dict) -> dict:
    if job["backend"] == "numpy":
        os.environ["LE4NN_BACKEND"] = "numpy"
    import numpy as np

    import le4nn  # before NumPy: le4nn makes its thread settings first
    from le4nn.utils import set_random_seed

    le4nn.set_num_threads(job["threads"])
    le4nn.set_backend(job["backend"])
    set_random_seed(job.get("seed", 0))
    xtr, ytr, xte, yte, note = load_mnist()
    x = (xtr.astype(np.float32) / np.float32(255)).reshape(-1, 28, 28, 1)
    model = build_le4nn(job["model"])
    batch = job["batch"]
    result = {"data": note, "backend": le4nn.get_backend()}

    if job["kind"] == "accuracy":
        t0 = time.perf_counter()
        model.fit(x, ytr, batch_size=batch, epochs=1, shuffle=True, verbose=0)
        result["train_s"] = time.perf_counter() - t0
        xt = (xte.astype(np.float32) / np.float32(255)).reshape(-1, 28, 28, 1)
        pred = model.predict(xt, batch_size=1000)
        result["accuracy"] = float(np.mean(np.argmax(pred, axis=1) == yte))
        result["peak_rss_mb"] = _peak_rss_mb()
        return result

    if job["kind"] == "infer":
        xt = (xte.astype(np.float32) / np.float32(255)).reshape(-1, 28, 28, 1)
        model.predict(xt[:1000], batch_size=1000)  # build and warm up
        times = []
        load = _OtherLoad()
        for _ in range(job["passes"]):
            t0 = time.perf_counter()
            model.predict(xt, batch_size=1000)
            times.append(time.perf_counter() - t0)
        result.update(seconds=times, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
        return result

    for xb, yb in _batches(x, ytr, batch, job["warmup"]):
        model.train_on_batch(xb, yb)
    clock = time.process_time if job.get("cpu_time") else time.perf_counter
    profiler = _Profiler(model, clock) if job.get("profile") else None
    steps = job["steps"]
    step_times = []
    load = _OtherLoad()
    t_all = clock()
    for xb, yb in _batches(x, ytr, batch, steps, start=job["warmup"]):
        t0 = clock()
        model.train_on_batch(xb, yb)
        step_times.append(clock() - t0)
    total = clock() - t_all
    result["other_load"] = load.cores()
    result.update(step_times=step_times, total=total, peak_rss_mb=_peak_rss_mb())
    if profiler is not None:
        result["profile"] = {"order": profiler.order,
                             "times": [[k[0], k[1], v] for k, v in profiler.times.items()]}
    return result


def child_torch(job: dict) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(job["threads"])
    torch.manual_seed(job.get("seed", 0))
    xtr, ytr, xte, yte, note = load_mnist()
    x = (xtr.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
    model, optimizer = build_torch(job["model"])
    batch = job["batch"]
    result = {"data": note, "torch": torch.__version__}

    def to_torch(xb, yb):
        return torch.from_numpy(xb), torch.from_numpy(yb)

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()

    if job["kind"] == "accuracy":
        t0 = time.perf_counter()
        for xb, yb in _batches(x, ytr, batch, len(x) // batch):
            step(*to_torch(xb, yb))
        result["train_s"] = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            xt = torch.from_numpy((xte.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28))
            pred = model(xt).argmax(dim=1).numpy()
        result["accuracy"] = float(np.mean(pred == yte))
        result["peak_rss_mb"] = _peak_rss_mb()
        return result

    if job["kind"] == "infer":
        xt = torch.from_numpy((xte.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28))
        model.eval()

        def predict():
            outs = []
            with torch.no_grad():
                for s in range(0, len(xt), 1000):
                    outs.append(torch.softmax(model(xt[s : s + 1000]), dim=1))
            return torch.cat(outs)

        with torch.no_grad():
            model(xt[:1000])  # warm up
        times = []
        load = _OtherLoad()
        for _ in range(job["passes"]):
            t0 = time.perf_counter()
            predict()
            times.append(time.perf_counter() - t0)
        result.update(seconds=times, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
        return result

    model.train()
    for xb, yb in _batches(x, ytr, batch, job["warmup"]):
        step(*to_torch(xb, yb))
    step_times = []
    load = _OtherLoad()
    result["other_load"] = None
    t_all = time.perf_counter()
    for xb, yb in _batches(x, ytr, batch, job["steps"], start=job["warmup"]):
        t0 = time.perf_counter()
        step(*to_torch(xb, yb))
        step_times.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_all
    result.update(step_times=step_times, total=total, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
    return result


def child_main(job_json: str) -> None:
    job = json.loads(job_json)
    result = child_torch(job) if job["framework"] == "torch" else child_le4nn(job)
    print("RESULT " + json.dumps(result))


# --------------------------------------------------------------------------------------------------
# The parent: schedule children, collect, print
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
    return result


def torch_available() -> bool:
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return proc.returncode == 0


def _fmt_range(values, fmt="{:.2f}") -> str:
    if not values:
        return "–"
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(lo)}–{fmt.format(med)}–{fmt.format(hi)}"


def epoch_seconds(result: dict, batch: int) -> float:
    steps = len(result["step_times"])
    return result["total"] / steps * (EPOCH_IMAGES / batch)


def print_profile(result: dict, title: str) -> None:
    profile = result["profile"]
    steps = len(result["step_times"])
    step_ms = 1000 * result["total"] / steps
    times = {(n, p): t for n, p, t in profile["times"]}
    print(f"\n### Profile: {title} — {step_ms:.2f} ms per step ({steps} steps)\n")
    print("| layer | forward ms | backward ms | share |")
    print("|---|---|---|---|")
    accounted = 0.0
    for name in profile["order"]:
        f = times.get((name, "forward"), 0.0) / steps * 1000
        b = times.get((name, "backward"), 0.0) / steps * 1000
        accounted += f + b
        print(f"| {name} | {f:.3f} | {b:.3f} | {100 * (f + b) / step_ms:.1f}% |")
    rest = step_ms - accounted
    print(f"| (model overhead) | | {rest:.3f} | {100 * rest / step_ms:.1f}% |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: mlp,lecture,cnn-b")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per framework, model and thread count")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per run (default: mlp 600 = one epoch, lecture 150, cnn-b 60)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before timing")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--numpy-steps", type=int, default=NUMPY_STEPS,
                        help="timed steps of the NumPy backend (0: skip it)")
    parser.add_argument("--numpy-models", default="cnn-b", help="models also run on the NumPy backend")
    parser.add_argument("--no-torch", action="store_true", help="do not run PyTorch")
    parser.add_argument("--no-inference", action="store_true", help="skip the cnn-b inference comparison")
    parser.add_argument("--passes", type=int, default=3, help="inference passes over the test set per run")
    parser.add_argument("--profile", action="store_true",
                        help="only print each layer's forward/backward time share (native backend)")
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
    if args.child:
        child_main(args.child)
        return 0

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    have_torch = not args.no_torch and torch_available()
    if not args.no_torch and not have_torch:
        print("note: PyTorch is not installed; only le4nn is measured (no ratios)")
    base = {"batch": args.batch, "warmup": args.warmup, "src": args.src}
    print(f"# bench_train: {os.cpu_count()} CPUs, batch {args.batch}, python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f} at start, {time.strftime('%Y-%m-%d %H:%M')}")

    if args.accuracy:
        print("\n| model | framework | threads | test accuracy | train s (1 epoch) | data |")
        print("|---|---|---|---|---|---|")
        # The NumPy backend takes none of the native fast paths (NHWC/Winograd/direct convolutions,
        # fused epilogues, sparse products): the same seed must reach the same accuracy within noise.
        runs = [("le4nn", "native"), ("le4nn", "numpy"), *([("torch", "-")] if have_torch else [])]
        for m in models:
            for fw, backend in runs:
                job = {**base, "kind": "accuracy", "model": m, "framework": fw, "backend": backend,
                       "threads": threads[-1]}
                r = run_child(job)
                name = f"{fw} {backend}" if fw == "le4nn" else "PyTorch"
                print(f"| {m} | {name} | {threads[-1]} | {r['accuracy']:.4f} | {r['train_s']:.1f} | {r['data']} |",
                      flush=True)
        return 0

    if args.profile:
        for m in models:
            for t in threads:
                job = {**base, "kind": "train", "model": m, "framework": "le4nn", "backend": "native",
                       "threads": t, "steps": args.steps or DEFAULT_STEPS[m], "profile": True,
                       "cpu_time": args.cpu_time}
                r = run_measured(job, args)
                load = r.get("other_load")
                print_profile(r, f"le4nn {m}, {t} thread(s), {r['backend']}"
                                 f"{', CPU time' if args.cpu_time else ''}"
                                 f"{'' if load is None else f', other processes {load:.1f} cores'}")
        return 0

    numpy_models = {m.strip() for m in args.numpy_models.split(",")} if args.numpy_steps else set()
    results: dict[tuple, list] = {}
    note = None
    for rep in range(args.repeat):
        for m in models:
            steps = args.steps or DEFAULT_STEPS[m]
            for t in threads:
                frameworks = [("le4nn", "native")] + ([("torch", "-")] if have_torch else [])
                if rep % 2:
                    frameworks.reverse()
                if m in numpy_models and rep == 0:
                    frameworks.append(("le4nn", "numpy"))
                for fw, backend in frameworks:
                    job = {**base, "kind": "train", "model": m, "framework": fw, "backend": backend,
                           "threads": t, "steps": args.numpy_steps if backend == "numpy" else steps}
                    if backend == "numpy":
                        job["warmup"] = 1
                    r = run_measured(job, args)
                    note = note or r["data"]
                    results.setdefault((m, t, fw, backend), []).append(r)
                    load = r.get("other_load")
                    print(f"  [{rep + 1}/{args.repeat}] {m:8s} {t} thr {fw:5s} {backend:6s} "
                          f"{epoch_seconds(r, args.batch):7.2f} s/epoch  {r['peak_rss_mb']:6.0f} MB"
                          f"{'' if load is None else f'  (other processes: {load:.2f} cores)'}",
                          file=sys.stderr, flush=True)
        if have_torch and "cnn-b" in models and not args.no_inference:
            for t in threads:
                order = ["le4nn", "torch"] if rep % 2 == 0 else ["torch", "le4nn"]
                for fw in order:
                    job = {**base, "kind": "infer", "model": "cnn-b", "framework": fw, "backend": "native",
                           "threads": t, "passes": args.passes}
                    r = run_measured(job, args)
                    results.setdefault(("infer", t, fw, "native"), []).append(r)

    print(f"\nData: {note}.  s/epoch: mean step time × {EPOCH_IMAGES // args.batch} steps "
          f"(timed steps after {args.warmup} warm-up steps; a run of ≥ {EPOCH_IMAGES // args.batch} steps "
          f"is a measured epoch); min–median–max over {args.repeat} runs; ratio = le4nn / PyTorch within "
          f"the same repeat.\n")
    print("| model | thr | framework | steps | s/epoch (min–med–max) | images/s (med) | peak RSS MB (max) "
          "| le4nn/PyTorch (min–med–max) | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for m in models:
        for t in threads:
            native = results.get((m, t, "le4nn", "native"), [])
            torch_runs = results.get((m, t, "torch", "-"), [])
            numpy_runs = results.get((m, t, "le4nn", "numpy"), [])
            ratios = [epoch_seconds(a, args.batch) / epoch_seconds(b, args.batch)
                      for a, b in zip(native, torch_runs, strict=False)]
            target = TARGETS.get((m, t), TARGETS.get((m, None)))
            for label, runs in (("le4nn native", native), ("PyTorch", torch_runs), ("le4nn numpy", numpy_runs)):
                if not runs:
                    continue
                secs = [epoch_seconds(r, args.batch) for r in runs]
                med = statistics.median(secs)
                rss = max(r["peak_rss_mb"] for r in runs)
                ratio = _fmt_range(ratios) if label == "le4nn native" and ratios else ""
                tgt = ""
                if label == "le4nn native" and ratios and target is not None:
                    ok = statistics.median(ratios) <= target
                    tgt = f"≤ {target} {'met' if ok else 'NOT met'}"
                    summary.append((m, t, statistics.median(ratios), target, ok))
                steps_done = len(runs[0]["step_times"])
                print(f"| {m} | {t} | {label} | {steps_done} | {_fmt_range(secs)} | {EPOCH_IMAGES / med:.0f} "
                      f"| {rss:.0f} | {ratio} | {tgt} |")
            if native and numpy_runs:
                speedup = statistics.median(epoch_seconds(r, args.batch) for r in numpy_runs) / statistics.median(
                    epoch_seconds(r, args.batch) for r in native)
                print(f"| {m} | {t} | native vs NumPy backend | | {speedup:.1f}× faster | | | | "
                      f"≥ 4× {'met' if speedup >= 4 else 'NOT met'} |")
            if native and torch_runs:
                rss_ratio = max(r["peak_rss_mb"] for r in native) / max(r["peak_rss_mb"] for r in torch_runs)
                if m == "cnn-b":
                    print(f"| {m} | {t} | peak RSS le4nn/PyTorch | | | | {rss_ratio:.2f} | | "
                          f"≤ 1.2 {'met' if rss_ratio <= 1.2 else 'NOT met'} |")
    infer = {t: (results.get(("infer", t, "le4nn", "native"), []), results.get(("infer", t, "torch", "native"), []))
             for t in threads}
    if any(a and b for a, b in infer.values()):
        print(f"\nInference, cnn-b: predict on the 10000 test images, batch 1000 (PyTorch: eval mode, no_grad, "
              f"softmax); best of {args.passes} passes per run.\n")
        print("| thr | le4nn s (min–med–max) | PyTorch s (min–med–max) | le4nn/PyTorch (min–med–max) | target |")
        print("|---|---|---|---|---|")
        for t, (a, b) in infer.items():
            la = [min(r["seconds"]) for r in a]
            lb = [min(r["seconds"]) for r in b]
            ratios = [x / y for x, y in zip(la, lb, strict=False)]
            ok = statistics.median(ratios) <= 1.0
            print(f"| {t} | {_fmt_range(la, '{:.3f}')} | {_fmt_range(lb, '{:.3f}')} | {_fmt_range(ratios)} | "
                  f"≤ 1.0 {'met' if ok else 'NOT met'} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
