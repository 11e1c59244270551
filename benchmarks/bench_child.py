"""One measurement of ``bench_train.py``, run in a fresh child process: train or predict with one
framework, one model and one thread count, and print the result as a ``RESULT {json}`` line.

The child loads the model's data (``bench_models.load_data``), builds the model, trains ``warmup``
steps, then times ``steps`` steps over consecutive mini-batches of a fixed shuffle (the same batches for
every framework); or, for inference, predicts the model's test images ``passes`` times.
"""

from __future__ import annotations

import json
import os
import time

from bench_models import SPECS, build_le4nn, build_torch, channels_first, load_data


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _batches(x, y, batch: int, count: int, start: int = 0):
    n = len(x)
    per_epoch = n // batch
    for k in range(start, start + count):
        s = (k % per_epoch) * batch
        yield x[s : s + batch], y[s : s + batch]


class OtherLoad:
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


class Profiler:
    """Wraps each layer's forward/backward (and the loss and the optimizer) with timers."""

    def __init__(self, model, clock=time.perf_counter):
        self.clock = clock
        self.times: dict[tuple[str, str], float] = {}
        self.order: list[str] = []
        self.kinds: dict[str, str] = {}
        for layer in model.layers:
            self.order.append(layer.name)
            self.kinds[layer.name] = type(layer).__name__
            # The model calls forward and _backward_step (which may call backward).
            backward = "_backward_step" if hasattr(layer, "_backward_step") else "backward"
            for method in ("forward", "_forward_through", "_forward_through_two", backward, "_backward_through"):
                if hasattr(layer, method):  # *_through: fused with the next layer (time counted here)
                    self._wrap(layer, method, layer.name, "backward" if "backward" in method else "forward")
        self.order.append("loss")
        for loss in model._losses:
            for method in ("softmax_fused", "softmax_fused_gradient", "gradient"):
                if hasattr(loss, method):
                    self._wrap(loss, method, "loss", "forward" if method == "softmax_fused" else "backward")
        self.order.append("optimizer")
        self._wrap(model.optimizer, "apply", "optimizer", "backward")

    def result(self) -> dict:
        return {"order": self.order, "kinds": self.kinds, "times": [[k[0], k[1], v] for k, v in self.times.items()]}

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


def _le4nn_infer(model, xt, spec, job, result) -> dict:
    xt = xt[: spec.infer_images]
    model.predict(xt[: spec.infer_batch], batch_size=spec.infer_batch)  # build and warm up
    clock = time.process_time if job.get("cpu_time") else time.perf_counter
    profiler = Profiler(model, clock) if job.get("profile") else None
    times = []
    load = OtherLoad()
    for _ in range(job["passes"]):
        t0 = clock()
        model.predict(xt, batch_size=spec.infer_batch)
        times.append(clock() - t0)
    result.update(seconds=times, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
    if profiler is not None:  # per predict pass (print_profile's "step")
        result.update(step_times=times, total=sum(times), profile=profiler.result())
    return result


def child_le4nn(job: dict) -> dict:
    if job["backend"] == "numpy":
        os.environ["LE4NN_BACKEND"] = "numpy"
    import numpy as np

    import le4nn  # before the data: le4nn makes its thread settings first
    from le4nn.utils import set_random_seed

    le4nn.set_num_threads(job["threads"])
    le4nn.set_backend(job["backend"])
    set_random_seed(job.get("seed", 0))
    spec = SPECS[job["model"]]
    x, ytr, xt, yte, note = load_data(job["model"], channels_first=channels_first(job["model"]))
    model = build_le4nn(job["model"])
    batch = job["batch"]
    result = {"data": note, "backend": le4nn.get_backend()}

    if job["kind"] == "accuracy":
        t0 = time.perf_counter()
        model.fit(x, ytr, batch_size=batch, epochs=1, shuffle=True, verbose=0)
        result["train_s"] = time.perf_counter() - t0
        pred = model.predict(xt, batch_size=1000)
        result["accuracy"] = float(np.mean(np.argmax(pred, axis=1) == yte))
        result["peak_rss_mb"] = _peak_rss_mb()
        return result
    if job["kind"] == "infer":
        return _le4nn_infer(model, xt, spec, job, result)

    for xb, yb in _batches(x, ytr, batch, job["warmup"]):
        model.train_on_batch(xb, yb)
    clock = time.process_time if job.get("cpu_time") else time.perf_counter
    profiler = Profiler(model, clock) if job.get("profile") else None
    step_times = []
    load = OtherLoad()
    t_all = clock()
    for xb, yb in _batches(x, ytr, batch, job["steps"], start=job["warmup"]):
        t0 = clock()
        model.train_on_batch(xb, yb)
        step_times.append(clock() - t0)
    total = clock() - t_all
    result.update(step_times=step_times, total=total, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
    if profiler is not None:
        result["profile"] = profiler.result()
    return result


def _torch_infer(model, xt, spec, job, result) -> dict:
    import torch

    xt = torch.from_numpy(xt[: spec.infer_images])
    model.eval()

    def predict():
        outs = []
        with torch.no_grad():
            for s in range(0, len(xt), spec.infer_batch):
                outs.append(torch.softmax(model(xt[s : s + spec.infer_batch]), dim=1))
        return torch.cat(outs)

    with torch.no_grad():
        model(xt[: spec.infer_batch])  # warm up
    times = []
    load = OtherLoad()
    for _ in range(job["passes"]):
        t0 = time.perf_counter()
        predict()
        times.append(time.perf_counter() - t0)
    result.update(seconds=times, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
    return result


def child_torch(job: dict) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(job["threads"])
    torch.manual_seed(job.get("seed", 0))
    spec = SPECS[job["model"]]
    x, ytr, xte, yte, note = load_data(job["model"], channels_first=True)
    model, optimizer = build_torch(job["model"])
    batch = job["batch"]
    result = {"data": note, "torch": torch.__version__}

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        optimizer.step()

    if job["kind"] == "accuracy":
        t0 = time.perf_counter()
        for xb, yb in _batches(x, ytr, batch, len(x) // batch):
            step(xb, yb)
        result["train_s"] = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(torch.from_numpy(xte[s : s + 1000])) for s in range(0, len(xte), 1000)])
        result["accuracy"] = float(np.mean(pred.argmax(dim=1).numpy() == yte))
        result["peak_rss_mb"] = _peak_rss_mb()
        return result
    if job["kind"] == "infer":
        return _torch_infer(model, xte, spec, job, result)

    model.train()
    for xb, yb in _batches(x, ytr, batch, job["warmup"]):
        step(xb, yb)
    step_times = []
    load = OtherLoad()
    t_all = time.perf_counter()
    for xb, yb in _batches(x, ytr, batch, job["steps"], start=job["warmup"]):
        t0 = time.perf_counter()
        step(xb, yb)
        step_times.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_all
    result.update(step_times=step_times, total=total, peak_rss_mb=_peak_rss_mb(), other_load=load.cores())
    return result


def child_main(job_json: str) -> None:
    job = json.loads(job_json)
    result = child_torch(job) if job["framework"] == "torch" else child_le4nn(job)
    print("RESULT " + json.dumps(result))
