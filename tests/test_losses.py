"""Losses: values and gradients vs central differences and PyTorch, stability, the fused softmax path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from le4nn import losses, ops
from le4nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)

B, K = 5, 4


def numerical_gradient(f, x, h=1e-6):
    """Central differences of the scalar function f at x (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / (2 * h)
    return grad


def softmax(z):
    return ops.softmax_forward(np.ascontiguousarray(z))


def softmax_vjp(y, g):
    """Jᵀg for the softmax Jacobian J_kj = y_k(δ_kj − y_j): y ⊙ (g − Σ_k g_k y_k)."""
    return y * (g - (g * y).sum(axis=1, keepdims=True))


@pytest.fixture
def data(rng):
    logits = rng.normal(size=(B, K)) * 2
    labels = rng.integers(0, K, size=B)
    onehot = np.eye(K)[labels]
    return logits, labels, onehot


def _cases(rng):
    """(loss, y_true, y_pred) triples covering every loss and option, in float64."""
    logits = rng.normal(size=(B, K)) * 2
    labels = rng.integers(0, K, size=B)
    onehot = np.eye(K)[labels]
    unnormalized = rng.uniform(0.1, 1.0, size=(B, K))
    soft = rng.dirichlet(np.ones(K), size=B)
    bin_t = rng.integers(0, 2, size=(B, 3)).astype(float)
    return [
        (CategoricalCrossentropy(from_logits=True), onehot, logits),
        (CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), labels, logits),
        (CategoricalCrossentropy(from_logits=True), soft, logits),
        (CategoricalCrossentropy(), onehot, softmax(logits / 4)),  # moderate p for the differences
        (CategoricalCrossentropy(), soft, unnormalized),
        (CategoricalCrossentropy(label_smoothing=0.1), onehot, unnormalized),
        (SparseCategoricalCrossentropy(), labels, unnormalized),
        (SparseCategoricalCrossentropy(from_logits=True), labels[:, None], logits),
        (MeanSquaredError(), rng.normal(size=(B, 3)), rng.normal(size=(B, 3))),
        (MeanSquaredError(), rng.normal(size=B), rng.normal(size=B)),
        (MeanSquaredError(), rng.normal(size=(B, 2, 3)), rng.normal(size=(B, 2, 3))),
        (BinaryCrossentropy(), bin_t, rng.uniform(0.05, 0.95, size=(B, 3))),
        (BinaryCrossentropy(label_smoothing=0.2), bin_t, rng.uniform(0.05, 0.95, size=(B, 3))),
        (BinaryCrossentropy(from_logits=True), bin_t, rng.normal(size=(B, 3)) * 3),
        (BinaryCrossentropy(from_logits=True, label_smoothing=0.3), bin_t[:, 0], rng.normal(size=B)),
    ]


CASE_IDS = [
    "cce-logits", "cce-logits-smooth-int", "cce-logits-soft", "cce-probs", "cce-unnormalized-soft",
    "cce-probs-smooth", "sparse-probs", "sparse-logits-(B,1)", "mse", "mse-1d", "mse-3d", "bce",
    "bce-smooth", "bce-logits", "bce-logits-smooth-1d",
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weighted"])
def test_gradient_matches_central_differences(index, weighted, rng):
    loss, y_true, y_pred = _cases(rng)[index]
    w = rng.uniform(0.2, 2.0, size=B) if weighted else None
    value = loss(y_true, y_pred, sample_weight=w)
    assert isinstance(value, float) and np.isfinite(value)
    grad = loss.gradient(y_true, y_pred, sample_weight=w)
    assert grad.shape == y_pred.shape and grad.dtype == np.float64
    numeric = numerical_gradient(lambda p: loss(y_true, p, sample_weight=w), y_pred)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_float32_in_float32_out(index, rng):
    loss, y_true, y_pred = _cases(rng)[index]
    y32 = y_pred.astype(np.float32)
    grad = loss.gradient(y_true, y32)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, loss.gradient(y_true, y_pred), rtol=1e-4, atol=1e-6)
    assert loss(y_true, y32) == pytest.approx(loss(y_true, y_pred), rel=1e-5)


def test_sample_weight_scales_each_sample(rng):
    loss, y_true, y_pred = _cases(rng)[0]
    w = np.array([1.0, 0.0, 2.0, 1.0, 1.0])
    per_sample = [loss(y_true[b : b + 1], y_pred[b : b + 1]) for b in range(B)]
    assert loss(y_true, y_pred, sample_weight=w) == pytest.approx(np.dot(w, per_sample) / B)
    assert loss(y_true, y_pred, sample_weight=np.ones(B)) == pytest.approx(loss(y_true, y_pred))


# ---------------------------------------------------------------------------------------------------
# PyTorch as an oracle (float64, ≤ 1e-6 relative)
# ---------------------------------------------------------------------------------------------------


def _torch_value_and_grad(torch, f, y_pred):
    x = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    value = f(x)
    value.backward()
    return value.item(), x.grad.numpy()


def _assert_matches(ours_value, ours_grad, torch_value, torch_grad):
    assert ours_value == pytest.approx(torch_value, rel=1e-6)
    np.testing.assert_allclose(ours_grad, torch_grad, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("int_labels", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_crossentropy_from_logits_vs_torch(torch, data, label_smoothing, int_labels, weighted, rng):
    F = torch.nn.functional
    logits, labels, onehot = data
    y_true = labels if int_labels else onehot
    w = rng.uniform(0.5, 2.0, size=B) if weighted else np.ones(B)
    loss = CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    tw = torch.tensor(w)

    def f(z):
        per_sample = F.cross_entropy(
            z, torch.tensor(labels), reduction="none", label_smoothing=label_smoothing
        )
        return (per_sample * tw).mean()

    _assert_matches(
        loss(y_true, logits, sample_weight=w),
        loss.gradient(y_true, logits, sample_weight=w),
        *_torch_value_and_grad(torch, f, logits),
    )


def test_crossentropy_soft_targets_vs_torch(torch, rng):
    F = torch.nn.functional
    logits, soft = rng.normal(size=(B, K)), rng.dirichlet(np.ones(K), size=B)
    loss = CategoricalCrossentropy(from_logits=True)
    _assert_matches(
        loss(soft, logits),
        loss.gradient(soft, logits),
        *_torch_value_and_grad(torch, lambda z: F.cross_entropy(z, torch.tensor(soft)), logits),
    )


@pytest.mark.parametrize("cls", [CategoricalCrossentropy, SparseCategoricalCrossentropy])
def test_crossentropy_from_probabilities_vs_torch(torch, data, cls):
    """Value = nll_loss(log p); the gradient w.r.t. p is that of Keras's normalize-then-clip formula,
    and chained through the softmax it equals torch's gradient of cross_entropy w.r.t. the logits."""
    F = torch.nn.functional
    logits, labels, onehot = data
    probs = softmax(logits)
    loss = cls()
    y_true = onehot if cls is CategoricalCrossentropy else labels
    value, grad = loss(y_true, probs), loss.gradient(y_true, probs)

    assert value == pytest.approx(
        F.nll_loss(torch.log(torch.tensor(probs)), torch.tensor(labels)).item(), rel=1e-6
    )

    def keras_formula(p):
        q = (p / p.sum(dim=1, keepdim=True)).clamp(losses.EPSILON, 1 - losses.EPSILON)
        return -(torch.tensor(onehot) * torch.log(q)).sum(dim=1).mean()

    _assert_matches(value, grad, *_torch_value_and_grad(torch, keras_formula, probs))
    _, torch_grad_logits = _torch_value_and_grad(
        torch, lambda z: F.cross_entropy(z, torch.tensor(labels)), logits
    )
    np.testing.assert_allclose(softmax_vjp(probs, grad), torch_grad_logits, rtol=1e-6, atol=1e-12)


def test_mse_vs_torch(torch, rng):
    y_true, y_pred = rng.normal(size=(B, 3)), rng.normal(size=(B, 3))
    loss = MeanSquaredError()
    _assert_matches(
        loss(y_true, y_pred),
        loss.gradient(y_true, y_pred),
        *_torch_value_and_grad(
            torch, lambda p: torch.nn.functional.mse_loss(p, torch.tensor(y_true)), y_pred
        ),
    )


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_crossentropy_vs_torch(torch, rng, from_logits, weighted):
    F = torch.nn.functional
    y_true = rng.integers(0, 2, size=(B, 3)).astype(float)
    y_pred = rng.normal(size=(B, 3)) * 3 if from_logits else rng.uniform(0.01, 0.99, size=(B, 3))
    w = rng.uniform(0.5, 2.0, size=B) if weighted else None
    # torch's element weight broadcast over the outputs, with mean reduction, is Keras's sample weight
    tw = None if w is None else torch.tensor(np.repeat(w[:, None], 3, axis=1))
    torch_loss = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
    loss = BinaryCrossentropy(from_logits=from_logits)
    _assert_matches(
        loss(y_true, y_pred, sample_weight=w),
        loss.gradient(y_true, y_pred, sample_weight=w),
        *_torch_value_and_grad(torch, lambda p: torch_loss(p, torch.tensor(y_true), weight=tw), y_pred),
    )


def test_binary_label_smoothing_is_keras(rng):
    y_true, logits = rng.integers(0, 2, size=(B, 1)).astype(float), rng.normal(size=(B, 1))
    smoothed = y_true * 0.8 + 0.1
    ls, plain = (
        BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
        BinaryCrossentropy(from_logits=True),
    )
    assert ls(y_true, logits) == pytest.approx(plain(smoothed, logits))
    np.testing.assert_allclose(ls.gradient(y_true, logits), plain.gradient(smoothed, logits))


# ---------------------------------------------------------------------------------------------------
# Handout equations, stability, the fused path
# ---------------------------------------------------------------------------------------------------


def test_crossentropy_is_handout_eq8_and_eq12(data):
    logits, labels, onehot = data
    y = softmax(logits)
    expected = -(onehot * np.log(y)).sum() / B  # eq. (8)
    loss = CategoricalCrossentropy()
    assert loss(onehot, y) == pytest.approx(expected, rel=1e-12)
    value, probs = loss.softmax_fused(onehot, logits)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(loss.softmax_fused_gradient(onehot, probs), (y - onehot) / B)  # eq. (12)


@pytest.mark.parametrize("cls", [CategoricalCrossentropy, SparseCategoricalCrossentropy])
@pytest.mark.parametrize("from_logits", [False, True])
def test_int_and_onehot_labels_agree(data, cls, from_logits):
    logits, labels, onehot = data
    y_pred = logits if from_logits else softmax(logits)
    loss = cls(from_logits=from_logits)
    assert loss(labels, y_pred) == pytest.approx(loss(onehot, y_pred), rel=1e-12)
    np.testing.assert_allclose(loss.gradient(labels, y_pred), loss.gradient(onehot, y_pred), rtol=1e-12)
    np.testing.assert_allclose(loss.gradient(labels[:, None], y_pred), loss.gradient(onehot, y_pred))
    np.testing.assert_allclose(loss.gradient(labels.astype(float), y_pred), loss.gradient(onehot, y_pred))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_path_equals_softmax_then_crossentropy(data, label_smoothing, weighted, rng):
    logits, labels, onehot = data
    w = rng.uniform(0.5, 2.0, size=B) if weighted else None
    loss = CategoricalCrossentropy(label_smoothing=label_smoothing)
    value, probs = loss.softmax_fused(labels, logits, sample_weight=w)
    np.testing.assert_allclose(probs, softmax(logits), rtol=1e-12)
    assert value == pytest.approx(loss(labels, softmax(logits), sample_weight=w), rel=1e-10)
    fused = loss.softmax_fused_gradient(labels, probs, sample_weight=w)
    unfused = softmax_vjp(probs, loss.gradient(labels, probs, sample_weight=w))
    np.testing.assert_allclose(fused, unfused, rtol=1e-9, atol=1e-15)
    # and from_logits=True is the fused path itself
    by_logits = CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    assert by_logits(labels, logits, sample_weight=w) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(by_logits.gradient(labels, logits, sample_weight=w), fused, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype=dtype)
    labels = np.array([1, 0, 2])
    for loss in (CategoricalCrossentropy(from_logits=True), CategoricalCrossentropy(label_smoothing=0.1)):
        value, probs = loss.softmax_fused(labels, logits)
        grads = [
            loss.gradient(labels, logits if loss.from_logits else probs),
            loss.softmax_fused_gradient(labels, probs),
        ]
        assert np.isfinite(value) and value > 1e3  # the wrong classes cost ≈ 1e4 (not clipped at −log ε)
        assert all(np.all(np.isfinite(g)) and g.dtype == dtype for g in grads)
        assert np.isfinite(loss(labels, logits if loss.from_logits else probs))
    z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    t = np.array([[1.0, 1.0], [0.0, 0.0]], dtype=dtype)
    bce = BinaryCrossentropy(from_logits=True)
    assert bce(t, z) == pytest.approx(1e4 / 2, rel=1e-6)
    assert np.all(np.isfinite(bce.gradient(t, z)))
    probs01 = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)  # saturated probabilities are clipped
    for loss in (BinaryCrossentropy(), CategoricalCrossentropy()):
        assert np.isfinite(loss(t, probs01)) and np.all(np.isfinite(loss.gradient(t, probs01)))


@pytest.mark.parametrize("labels", [np.array([0, 3]), np.array([-1, 0]), np.array([0, 1, 2])])
def test_a_training_step_gets_the_loss_own_label_errors(labels):
    """softmax_fused_with_gradient (what a model's step calls) hands integer labels straight to the
    fused op, but bad ones still get this loss's message, not the op's."""
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy: (class labels.*\[0, 3\)|y_true shape)"):
        SparseCategoricalCrossentropy().softmax_fused_with_gradient(labels, logits)


def test_a_training_step_gets_the_plain_mean_and_its_gradient(rng):
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    loss = SparseCategoricalCrossentropy()
    value, probs, grad = loss.softmax_fused_with_gradient(labels, logits)
    assert value == pytest.approx(loss(labels, probs), rel=1e-5)
    expected = probs.copy()
    expected[np.arange(5), labels] -= 1
    np.testing.assert_allclose(grad, expected / 5, rtol=1e-5, atol=1e-7)


def test_shape_mismatch_names_loss_and_shapes():
    with pytest.raises(
        ValueError, match=r"MeanSquaredError: y_true shape \(4, 2\) does not match y_pred shape \(4, 3\)"
    ):
        MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy: y_true shape \(4, 2\).*\(4, 3\)"):
        CategoricalCrossentropy().gradient(np.zeros((4, 2)), np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"BinaryCrossentropy: y_true shape \(3,\).*\(4, 1\)"):
        BinaryCrossentropy()(np.zeros(3), np.full((4, 1), 0.5))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy: class labels.*\[0, 3\)"):
        SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="sample_weight"):
        MeanSquaredError()(np.zeros(3), np.zeros(3), sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        CategoricalCrossentropy(label_smoothing=1.5)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("categorical_crossentropy", CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
        ("mse", MeanSquaredError),
        ("mean_squared_error", MeanSquaredError),
        ("binary_crossentropy", BinaryCrossentropy),
        ("CategoricalCrossentropy", CategoricalCrossentropy),
    ],
)
def test_get_by_name(name, cls):
    assert type(losses.get(name)) is cls


@pytest.mark.parametrize(
    "loss",
    [
        CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        SparseCategoricalCrossentropy(from_logits=True),
        MeanSquaredError(),
        BinaryCrossentropy(label_smoothing=0.2),
    ],
)
def test_serialize_round_trip(loss):
    restored = losses.get(json.loads(json.dumps(losses.serialize(loss))))
    assert type(restored) is type(loss) and restored.get_config() == loss.get_config()
    assert losses.get(loss) is loss
    assert type(losses.get(type(loss))) is type(loss)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'.*binary_crossentropy.*mse"):
        losses.get("crossentropy")
    with pytest.raises(ValueError, match="could not interpret loss"):
        losses.get(lambda y_true, y_pred: 0.0)
