"""Optimizers: the handout's equations written out, torch.optim as an oracle, clipping, state, dtypes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from le4nn import optimizers
from le4nn.optimizers import ADADELTA_FORMS, SGD, AdaDelta, AdaGrad, Adam, AdamW, MomentumSGD, Nesterov, RMSProp

STEPS = 6
SHAPES = {"dense_1/kernel": (4, 3), "dense_1/bias": (3,), "conv/kernel": (3, 3, 2, 2)}


@pytest.fixture
def problem(rng):
    """Initial params and a sequence of gradients, float64."""
    params = {key: rng.normal(size=shape) for key, shape in SHAPES.items()}
    grads = [{key: rng.normal(size=shape) for key, shape in SHAPES.items()} for _ in range(STEPS)]
    return params, grads


def run(opt, params, grad_seq, dtype=np.float64):
    params = {key: value.astype(dtype) for key, value in params.items()}
    for grads in grad_seq:
        opt.apply(params, grads)
    return params


# ---------------------------------------------------------------------------------------------------
# The handout's equations, written out for one array (eq. 40–55)
# ---------------------------------------------------------------------------------------------------


def handout_sgd(w, grads, lr=0.01):
    for g in grads:
        w = w - lr * g
    return w


def handout_momentum(w, grads, lr=0.01, alpha=0.9):
    dw = np.zeros_like(w)
    for g in grads:
        dw = alpha * dw - lr * g  # (40)
        w = w + dw  # (41)
    return w


def keras_nesterov(w, grads, lr=0.01, alpha=0.9):
    v = np.zeros_like(w)
    for g in grads:
        v = alpha * v - lr * g
        w = w + alpha * v - lr * g
    return w


def handout_adagrad(w, grads, lr=0.001, h0=1e-8):
    h = np.full_like(w, h0)
    for g in grads:
        h = h + g * g  # (42)
        w = w - lr * g / np.sqrt(h)  # (43)
    return w


def handout_rmsprop(w, grads, lr=0.01, rho=0.99, eps=1e-8):
    h = np.zeros_like(w)
    for g in grads:
        h = rho * h + (1 - rho) * g * g  # (44)
        w = w - lr * g / (np.sqrt(h) + eps)  # (45)
    return w


def handout_adadelta(w, grads, rho=0.95, eps=1e-6):
    h, s = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        h = rho * h + (1 - rho) * g * g  # (46)
        dw = -(np.sqrt(s) + eps) / (np.sqrt(h) + eps) * g  # (47): ε outside both roots
        s = rho * s + (1 - rho) * dw * dw  # (48)
        w = w + dw  # (49)
    return w


def zeiler_adadelta(w, grads, rho=0.95, eps=1e-6, lr=1.0):
    h, s = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        h = rho * h + (1 - rho) * g * g
        dw = -np.sqrt(s + eps) / np.sqrt(h + eps) * g  # Zeiler (2012), Algorithm 1
        s = rho * s + (1 - rho) * dw * dw
        w = w + lr * dw
    return w


def handout_adam(w, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    t, m, v = 0, np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        w = w * (1 - lr * wd)  # AdamW's decoupled decay (0 for Adam)
        t = t + 1  # (50)
        m = b1 * m + (1 - b1) * g  # (51)
        v = b2 * v + (1 - b2) * g * g  # (52)
        m_hat = m / (1 - b1**t)  # (53)
        v_hat = v / (1 - b2**t)  # (54)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)  # (55)
    return w


HANDOUT_CASES = [
    ("sgd", lambda: SGD(), handout_sgd),
    ("sgd-lr", lambda: SGD(0.3), lambda w, gs: handout_sgd(w, gs, lr=0.3)),
    ("momentum", lambda: MomentumSGD(), handout_momentum),
    ("sgd-momentum", lambda: SGD(0.05, momentum=0.5), lambda w, gs: handout_momentum(w, gs, 0.05, 0.5)),
    ("nesterov", lambda: Nesterov(), keras_nesterov),
    ("adagrad", lambda: AdaGrad(), handout_adagrad),
    ("rmsprop", lambda: RMSProp(), handout_rmsprop),
    ("adadelta", lambda: AdaDelta(), handout_adadelta),
    ("adadelta-zeiler", lambda: AdaDelta(form="zeiler"), zeiler_adadelta),
    ("adadelta-zeiler-lr", lambda: AdaDelta(0.5, rho=0.9, form="zeiler"),
     lambda w, gs: zeiler_adadelta(w, gs, rho=0.9, lr=0.5)),
    ("adam", lambda: Adam(), handout_adam),
    ("adamw", lambda: AdamW(), lambda w, gs: handout_adam(w, gs, wd=0.004)),
    ("adamw-big", lambda: AdamW(0.1, weight_decay=0.5), lambda w, gs: handout_adam(w, gs, lr=0.1, wd=0.5)),
]


@pytest.mark.parametrize("make, equations", [c[1:] for c in HANDOUT_CASES], ids=[c[0] for c in HANDOUT_CASES])
def test_follows_the_handout_equations(problem, make, equations):
    params, grad_seq = problem
    ours = run(make(), params, grad_seq)
    for key in SHAPES:
        expected = equations(params[key], [g[key] for g in grad_seq])
        np.testing.assert_allclose(ours[key], expected, rtol=1e-12, atol=1e-15)
        # the step did something (the handout's AdaDelta starts with steps of about ε·g/√h: tiny)
        assert not np.allclose(ours[key], params[key], rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"])
def test_names_give_the_handout_defaults(name):
    expected = {
        "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
        "momentum": {"learning_rate": 0.01, "momentum": 0.9, "nesterov": False},
        "nesterov": {"learning_rate": 0.01, "momentum": 0.9},
        "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 1e-8, "epsilon": 0.0},
        "rmsprop": {"learning_rate": 0.01, "rho": 0.99, "epsilon": 1e-8},
        "adadelta": {"learning_rate": 1.0, "rho": 0.95, "epsilon": 1e-6, "form": "handout"},
        "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    }[name]
    config = optimizers.get(name).get_config()
    assert {k: config[k] for k in expected} == expected
    assert optimizers.get("adamw").get_config()["weight_decay"] == 0.004


# ---------------------------------------------------------------------------------------------------
# torch.optim as an oracle (float64)
# ---------------------------------------------------------------------------------------------------


def run_torch(torch, make, params, grad_seq):
    tensors = {key: torch.tensor(value, requires_grad=True) for key, value in params.items()}
    opt = make(list(tensors.values()))
    for grads in grad_seq:
        for key, t in tensors.items():
            t.grad = torch.tensor(grads[key])
        opt.step()
    return {key: t.detach().numpy() for key, t in tensors.items()}


TORCH_CASES = [
    # (id, le4nn optimizer, torch optimizer) — same update rule, same hyper-parameters
    ("sgd", lambda: SGD(0.1), lambda o, p: o.SGD(p, lr=0.1)),
    ("momentum", lambda: MomentumSGD(0.1), lambda o, p: o.SGD(p, lr=0.1, momentum=0.9)),
    ("nesterov", lambda: Nesterov(0.1), lambda o, p: o.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    # torch's eps sits outside the square root like our optional epsilon; eps=0 is the handout's form
    (
        "adagrad",
        lambda: AdaGrad(0.1),
        lambda o, p: o.Adagrad(p, lr=0.1, initial_accumulator_value=1e-8, eps=0),
    ),
    (
        "adagrad-torch-defaults",
        lambda: AdaGrad(0.1, initial_accumulator_value=0.0, epsilon=1e-10),
        lambda o, p: o.Adagrad(p, lr=0.1),
    ),
    ("rmsprop", lambda: RMSProp(), lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8)),
    # torch's Adadelta is Zeiler's form (ε inside the roots); the handout's is tested above
    ("adadelta", lambda: AdaDelta(form="zeiler"), lambda o, p: o.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6)),
    (
        "adadelta-lr",
        lambda: AdaDelta(0.5, rho=0.9, form="zeiler"),
        lambda o, p: o.Adadelta(p, lr=0.5, rho=0.9, eps=1e-6),
    ),
    ("adam", lambda: Adam(0.05), lambda o, p: o.Adam(p, lr=0.05, betas=(0.9, 0.999), eps=1e-8)),
    (
        "adamw",
        lambda: AdamW(0.05, weight_decay=0.1),
        lambda o, p: o.AdamW(p, lr=0.05, weight_decay=0.1, eps=1e-8),
    ),
]


@pytest.mark.parametrize("make, make_torch", [c[1:] for c in TORCH_CASES], ids=[c[0] for c in TORCH_CASES])
def test_matches_torch_optim(torch, problem, make, make_torch):
    params, grad_seq = problem
    ours = run(make(), params, grad_seq)
    theirs = run_torch(torch, lambda p: make_torch(torch.optim, p), params, grad_seq)
    for key in SHAPES:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-6, atol=1e-12)


def test_sgd_weight_decay_is_decoupled_unlike_torch_sgd(torch, problem):
    """Keras 3 decays the weights directly (w ← w(1 − ηλ), then the step); torch.optim.SGD adds λw to
    the gradient instead.  For plain SGD the two are the same; with momentum they are not."""
    params, grad_seq = problem
    ours = run(SGD(0.1, weight_decay=0.2), params, grad_seq)
    theirs = run_torch(torch, lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.2), params, grad_seq)
    for key in SHAPES:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-6, atol=1e-12)
        w, dw = params[key], 0.0
        for grads in grad_seq:  # momentum: the decay is applied to w, not fed through the velocity
            w = w * (1 - 0.1 * 0.2)
            dw = 0.9 * dw - 0.1 * grads[key]
            w = w + dw
        momentum = run(SGD(0.1, momentum=0.9, weight_decay=0.2), params, grad_seq)
        np.testing.assert_allclose(momentum[key], w, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------
# Clipping, learning-rate changes, state, dtypes
# ---------------------------------------------------------------------------------------------------


def test_clipnorm_clipvalue_global_clipnorm():
    params = {"a": np.zeros(2), "b": np.zeros(3)}
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([0.1, -0.2, 0.0])}
    before = {k: g.copy() for k, g in grads.items()}

    p = {k: v.copy() for k, v in params.items()}
    SGD(1.0, clipnorm=1.0).apply(p, grads)  # ‖a‖ = 5 → scaled to 1; ‖b‖ < 1 unchanged
    np.testing.assert_allclose(p["a"], -np.array([0.6, 0.8]))
    np.testing.assert_allclose(p["b"], -grads["b"])

    p = {k: v.copy() for k, v in params.items()}
    SGD(1.0, clipvalue=0.15).apply(p, grads)
    np.testing.assert_allclose(p["a"], [-0.15, -0.15])
    np.testing.assert_allclose(p["b"], [-0.1, 0.15, 0.0])

    p = {k: v.copy() for k, v in params.items()}
    SGD(1.0, global_clipnorm=2.0).apply(p, grads)
    total = np.sqrt(25 + 0.05)
    np.testing.assert_allclose(p["a"], -grads["a"] * 2 / total)
    np.testing.assert_allclose(p["b"], -grads["b"] * 2 / total)

    for key in grads:  # the caller's gradients are untouched
        np.testing.assert_array_equal(grads[key], before[key])
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        Adam(clipnorm=0.0)


def test_learning_rate_is_a_plain_float_schedulers_can_change(problem):
    params, grad_seq = problem
    opt = MomentumSGD(0.1)
    w = {k: v.copy() for k, v in params.items()}
    opt.apply(w, grad_seq[0])
    opt.learning_rate = 0.01
    assert isinstance(opt.learning_rate, float) and opt.iterations == 1
    opt.apply(w, grad_seq[1])
    assert opt.iterations == 2
    key = "dense_1/bias"
    dw = -0.1 * grad_seq[0][key]
    dw = 0.9 * dw - 0.01 * grad_seq[1][key]
    np.testing.assert_allclose(w[key], params[key] - 0.1 * grad_seq[0][key] + dw)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0


ALL = [
    lambda: SGD(0.1),
    lambda: MomentumSGD(0.1),
    lambda: Nesterov(0.1, clipnorm=1.0),
    lambda: AdaGrad(0.1),
    lambda: RMSProp(clipvalue=0.5),
    lambda: AdaDelta(),
    lambda: Adam(0.01, global_clipnorm=2.0),
    lambda: AdamW(0.01),
    lambda: SGD(0.1, momentum=0.8, weight_decay=0.01),
]
ALL_IDS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "sgd-wd"]


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_save_restore_continues_bitwise(problem, make):
    params, grad_seq = problem
    grad_seq = [{k: g.astype(np.float32) for k, g in grads.items()} for grads in grad_seq]
    straight = run(make(), params, grad_seq, dtype=np.float32)

    first = make()
    half = run(first, params, grad_seq[:3], dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **first.get_state())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        state = dict(npz)
    config = json.loads(json.dumps(optimizers.serialize(first)))
    second = optimizers.get(config)
    second.set_state(state)
    assert second.iterations == 3
    for grads in grad_seq[3:]:
        second.apply(half, grads)
    for key in SHAPES:
        np.testing.assert_array_equal(half[key], straight[key])
    assert second.iterations == STEPS


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_float32_stays_float32(problem, make):
    params, grad_seq = problem  # float64 gradients into float32 parameters
    opt = make()
    ours = run(opt, params, grad_seq, dtype=np.float32)
    reference = run(make(), params, grad_seq)
    for key in SHAPES:
        assert ours[key].dtype == np.float32
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-4, atol=1e-5)
    for name, value in opt.get_state().items():
        if value.ndim:  # per-parameter state arrays
            assert value.dtype == np.float32, name


def test_updates_in_place_and_lazily(problem):
    params, grad_seq = problem
    opt = Adam()
    arrays = {k: v.copy() for k, v in params.items()}
    ids = {k: id(v) for k, v in arrays.items()}
    opt.apply(arrays, {"dense_1/kernel": grad_seq[0]["dense_1/kernel"]})  # only one key has a gradient
    assert {k: id(v) for k, v in arrays.items()} == ids
    np.testing.assert_array_equal(arrays["conv/kernel"], params["conv/kernel"])
    assert sorted(opt.get_state()) == ["iterations", "learning_rate", "m/dense_1/kernel", "t/dense_1/kernel",
                                       "v/dense_1/kernel"]  # fmt: skip


def test_bad_calls_name_the_argument():
    for make, arg in [
        (lambda: SGD(-0.1), "learning_rate"),
        (lambda: SGD(momentum=-0.5), "momentum"),
        (lambda: RMSProp(rho=1.5), "rho"),
        (lambda: Adam(beta_1=1.0), "beta_1"),
        (lambda: Adam(beta_2=-0.1), "beta_2"),
        (lambda: Adam(epsilon=-1e-8), "epsilon"),
        (lambda: AdaGrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: AdamW(weight_decay=-0.1), "weight_decay"),
        (lambda: SGD(clipvalue=-1.0), "clipvalue"),
    ]:
        with pytest.raises(ValueError, match=rf"\b{arg} must be"):
            make()
    opt = SGD()
    with pytest.raises(ValueError, match=r"gradient 'w' has shape \(3,\), parameter \(2,\)"):
        opt.apply({"w": np.zeros(2)}, {"w": np.zeros(3)})
    with pytest.raises(KeyError, match="'v'"):
        opt.apply({"w": np.zeros(2)}, {"v": np.zeros(2)})
    with pytest.raises(ValueError, match="unknown state entry"):
        Adam().set_state({"iterations": np.array(1), "velocity/w": np.zeros(2)})


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_config_round_trip(make):
    opt = make()
    restored = optimizers.get(json.loads(json.dumps(optimizers.serialize(opt))))
    assert type(restored) is type(opt) and restored.get_config() == opt.get_config()
    assert optimizers.get(opt) is opt
    assert type(optimizers.get(type(opt))) is type(opt)


def test_get_by_name_and_unknown_names():
    expected = {"sgd": SGD, "momentum": MomentumSGD, "nesterov": Nesterov, "adagrad": AdaGrad,
                "rmsprop": RMSProp, "adadelta": AdaDelta, "adam": Adam, "adamw": AdamW}  # fmt: skip
    for name, cls in expected.items():
        assert type(optimizers.get(name)) is cls
        assert type(optimizers.get(name.upper())) is cls
    assert optimizers.get("nesterov").nesterov is True
    assert type(optimizers.get("RMSprop")) is RMSProp and optimizers.Adagrad is AdaGrad
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*adadelta.*adamw.*sgd"):
        optimizers.get("adamax")
    with pytest.raises(ValueError, match="could not interpret optimizer"):
        optimizers.get(0.1)


# ---------------------------------------------------------------------------------------------------
# AdaDelta's two forms (issue 15)
# ---------------------------------------------------------------------------------------------------


def test_adadelta_forms_by_hand():
    """One step from h = s = 0 with g = 2, ρ = 0.5, ε = 0.01, worked out by hand:
    h = 0.5·4 = 2; handout Δw = −(0 + 0.01)/(√2 + 0.01)·2; Zeiler Δw = −√0.01/√2.01·2."""
    for form, expected in [("handout", -0.02 / (2**0.5 + 0.01)), ("zeiler", -0.2 / 2.01**0.5)]:
        w = {"w": np.zeros(1)}
        AdaDelta(rho=0.5, epsilon=0.01, form=form).apply(w, {"w": np.full(1, 2.0)})
        assert w["w"][0] == pytest.approx(expected, rel=1e-15), form


def test_the_adadelta_forms_differ_and_the_default_is_the_handouts(problem):
    params, grad_seq = problem
    handout, zeiler = run(AdaDelta(), params, grad_seq), run(AdaDelta(form="zeiler"), params, grad_seq)
    assert AdaDelta().form == "handout"
    for key in SHAPES:
        assert not np.allclose(handout[key], zeiler[key])


def test_the_adadelta_form_survives_its_config_and_a_saved_model(tmp_path):
    from le4nn.layers import Dense
    from le4nn.models import Sequential, load_model

    for form in ADADELTA_FORMS:
        restored = optimizers.get({"class_name": "AdaDelta", "config": AdaDelta(form=form).get_config()})
        assert restored.form == form
        model = Sequential([Dense(2, input_shape=(3,))])
        model.compile(optimizer=AdaDelta(form=form), loss="mse")
        model.train_on_batch(np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32))
        model.save(tmp_path / f"{form}.npz")
        assert load_model(tmp_path / f"{form}.npz").optimizer.form == form


@pytest.mark.parametrize("form", ["Handout", "keras", 1, None])
def test_an_unknown_adadelta_form_is_named(form):
    with pytest.raises(ValueError, match=r"AdaDelta: form must be one of 'handout', 'zeiler', got"):
        AdaDelta(form=form)
