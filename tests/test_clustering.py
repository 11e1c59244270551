"""``le4nn.clustering.kmeans``: recovers separated groups, is a fixed point of Lloyd's step when it
converges, reproducible, survives duplicate points (empty clusters), and rejects bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn.clustering import kmeans


def blobs(rng, k=4, per=50, dim=5, spread=0.05):
    means = rng.standard_normal((k, dim)) * 10
    truth = np.repeat(np.arange(k), per)
    x = (means[truth] + spread * rng.standard_normal((k * per, dim))).astype(np.float32)
    order = rng.permutation(len(x))
    return x[order], truth[order], means


def same_partition(a, b) -> bool:
    """Whether two labelings group the points the same way (up to renaming the clusters)."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_separated_groups_are_found(rng, seed):
    x, truth, means = blobs(rng)
    result = kmeans(x, 4, seed=seed)
    assert result.converged and same_partition(result.labels, truth)
    for j in range(4):  # each center is the mean of its group
        np.testing.assert_allclose(result.centers[j], x[result.labels == j].mean(axis=0), rtol=1e-5, atol=1e-5)
    assert result.centers.dtype == np.float32 and result.labels.dtype == np.int64


def test_converged_result_is_a_fixed_point_and_inertia_is_the_sum_of_squares(rng):
    x = rng.standard_normal((300, 3)).astype(np.float64)  # no structure: many local optima
    result = kmeans(x, 7, seed=0)
    d2 = ((x[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(result.labels, d2.argmin(axis=1))
    assert result.inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-9)
    for j in range(7):
        np.testing.assert_allclose(result.centers[j], x[result.labels == j].mean(axis=0), rtol=1e-9)


def test_same_seed_same_result_and_more_clusters_lower_inertia(rng):
    x = rng.standard_normal((500, 4)).astype(np.float32)
    a, b = kmeans(x, 5, seed=3), kmeans(x, 5, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centers, b.centers)
    assert kmeans(x, 20, seed=3).inertia < a.inertia


def test_duplicate_points_and_as_many_clusters_as_points():
    x = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 3, np.float32)
    result = kmeans(x, 3, seed=0)  # only two distinct points: one cluster must be restarted or stay tiny
    assert np.all(np.isfinite(result.centers)) and set(result.labels.tolist()) <= {0, 1, 2}
    assert result.inertia == pytest.approx(0.0, abs=1e-6)
    every = kmeans(np.arange(6, dtype=np.float32).reshape(6, 1), 6, seed=0)
    assert sorted(every.labels.tolist()) == list(range(6)) and every.inertia == pytest.approx(0.0)


def test_integer_data_is_clustered_as_float32():
    x = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], np.uint8)
    result = kmeans(x, 2, seed=0)
    assert result.centers.dtype == np.float32 and same_partition(result.labels, np.array([0, 0, 1, 1]))


@pytest.mark.parametrize(
    "x, k, kwargs, error, words",
    [
        (np.zeros(5, np.float32), 2, {}, ValueError, "2-D"),
        (np.zeros((5, 2), np.float32), 6, {}, ValueError, "k must be an integer in 1..5"),
        (np.zeros((5, 2), np.float32), 0, {}, ValueError, "k must be"),
        (np.zeros((5, 2), np.float32), 2.0, {}, ValueError, "k must be"),
        (np.array([[np.nan, 0.0]] * 3), 2, {}, ValueError, "NaN or infinity"),
        (np.array([["a", "b"]] * 3), 2, {}, TypeError, "numeric"),
        (np.zeros((5, 2), np.float32), 2, {"iterations": 0}, ValueError, "iterations"),
    ],
)
def test_bad_input_is_named(x, k, kwargs, error, words):
    with pytest.raises(error, match=words):
        kmeans(x, k, **kwargs)
