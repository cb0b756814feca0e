"""Canonical batches: integer weights equal repeated samples, to the bit."""

import numpy as np
import pytest

from skcnn import NumpyCNNClassifier
from skcnn._training.batches import batch_count, canonical_batch, sample_label_keys


def test_batch_count_makes_equal_batches():
    assert batch_count(100, 64) == 2
    assert batch_count(128, 64) == 2
    assert batch_count(129, 64) == 3
    assert batch_count(10, 64) == 1


def test_duplicates_merge_with_summed_weights_and_zero_weights_drop():
    X = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [4.0, 5.0], [0.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1, 0, 1, 1])  # the last row has the first one's values, not its label
    keys = sample_label_keys(X, y)
    indices, weights = canonical_batch(np.arange(5), keys, X, y, None)
    assert sorted(indices.tolist()) == [0, 1, 3, 4]
    assert dict(zip(indices.tolist(), weights.tolist())) == {0: 2.0, 1: 1.0, 3: 1.0, 4: 1.0}
    w = np.array([1, 0, 2, 0, 3], dtype=np.float32)
    indices, weights = canonical_batch(np.arange(5), keys, X, y, w)
    assert dict(zip(indices.tolist(), weights.tolist())) == {0: 3.0, 4: 3.0}


def test_distinct_samples_stay_apart_and_unweighted_batches_stay_unweighted():
    rng = np.random.RandomState(0)
    X = rng.rand(50, 7)
    y = rng.randint(0, 3, 50)
    keys = sample_label_keys(X, y)
    indices, weights = canonical_batch(rng.permutation(50), keys, X, y, None)
    assert weights is None
    assert sorted(indices.tolist()) == list(range(50))
    # The order is canonical: it does not depend on the batch's order.
    again, _ = canonical_batch(np.arange(50), keys, X, y, None)
    np.testing.assert_array_equal(indices, again)


def test_a_key_collision_does_not_merge_distinct_samples():
    y = np.zeros(3, dtype=int)
    keys = np.full(3, 5, dtype=np.uint64)  # as if all three samples collided
    indices, weights = canonical_batch(np.arange(3), keys, np.array([[1.0], [2.0], [1.0]]), y, None)
    assert indices.tolist() == [0, 1, 2] and weights is None
    indices, weights = canonical_batch(np.arange(3), keys, np.array([[1.0], [1.0], [2.0]]), y, None)
    assert indices.tolist() == [0, 2] and weights.tolist() == [2.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_weights_give_the_bits_of_repeated_samples(dtype):
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, 15)
    sw = rng.randint(0, 5, 15)
    params = dict(filters=(4,), hidden_layer_sizes=(8,), max_iter=30, random_state=0, dtype=dtype)
    repeated = NumpyCNNClassifier(**params).fit(X.repeat(sw, axis=0), y.repeat(sw))
    order = rng.permutation(15)
    weighted = NumpyCNNClassifier(**params).fit(X[order], y[order], sample_weight=sw[order])
    for a, b in zip(repeated.coefs_ + repeated.intercepts_, weighted.coefs_ + weighted.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(repeated.predict_proba(X), weighted.predict_proba(X))
