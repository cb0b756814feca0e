"""Signals end to end: an estimator whose layer list starts with 1-D layers
reads its samples as ``(C, L)`` and trains, predicts and inspects on them."""

import numpy as np
import pytest

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._architecture import sample_ndim
from skcnn.layers import (
    BatchNorm1D,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool1D,
    MaxPool1D,
    ReLU,
)

C, L = 2, 24


def signals(n, seed=0):
    """Noisy sines of 1, 3 or 6 periods in each of ``C`` channels, random
    phases: ``(X of shape (n, C, L), y)``, the class the number of periods."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 3, n)
    t = np.arange(L) / L
    periods = np.array([1, 3, 6])[y][:, None, None]
    X = np.sin(2 * np.pi * periods * t + rng.uniform(0, 2 * np.pi, (n, C, 1)))
    X += 0.2 * rng.standard_normal((n, C, L))
    return X.astype(np.float32), y


def conv1d_net():
    return [("conv1", Conv1D(4, 3)), ("relu", ReLU()), ("pool", MaxPool1D(2)), ("flat", Flatten())]


FAST = dict(max_iter=15, batch_size=32, learning_rate_init=0.01, random_state=0)


def test_a_conv1d_network_fits_and_predicts_signals():
    X, y = signals(300)
    clf = NumpyCNNClassifier(layers=conv1d_net(), image_shape=(C, L), **FAST).fit(X[:200], y[:200])
    assert clf.image_shape_ == (C, L)
    assert clf.layers_[0].weight.shape == (4, C, 3)
    assert clf.score(X[200:], y[200:]) > 0.9
    rows = X[200:].reshape(100, -1)  # the same samples as rows of C * L values
    np.testing.assert_array_equal(clf.predict_proba(rows), clf.predict_proba(X[200:]))
    outputs = clf.layer_outputs(X[:2])
    assert [o.shape for o in outputs] == [(2, 4, 22), (2, 4, 22), (2, 4, 11), (2, 44), (2, 3)]
    # Without image_shape, a 3-D X gives the shape of its samples; the same bits.
    same = NumpyCNNClassifier(layers=conv1d_net(), **FAST).fit(X[:200], y[:200])
    assert same.image_shape_ == (C, L)
    np.testing.assert_array_equal(same.predict_proba(X[200:]), clf.predict_proba(X[200:]))
    with pytest.raises(ValueError, match=r"samples of shape \(4, 12\).*\(2, 24\)"):
        clf.predict(X.reshape(300, 4, 12))


def test_rows_are_one_channel_signals():
    """2-D X without image_shape: each row one signal ``(1, n_features)``,
    whatever its length (no square images for 1-D layers)."""
    X, y = signals(120)
    rows = X[:, 0, :16]  # 16 values: a square number, still a signal
    layers = [("conv1", Conv1D(3, 5, padding="same")), ("bn", BatchNorm1D()), ("relu", ReLU()),
              ("gap", GlobalAvgPool1D()), ("fc", Dense(8))]
    reg = NumpyCNNRegressor(layers=layers, **FAST).fit(rows, y.astype(float))
    assert reg.image_shape_ == (1, 16)
    assert reg.predict(rows).shape == (120,)


def test_sample_ndim_is_the_first_layer_that_says():
    assert sample_ndim(conv1d_net()) == 2
    assert sample_ndim([("relu", ReLU()), ("conv", Conv2D(2))]) == 3
    assert sample_ndim([("flat", Flatten()), ("fc", Dense(2))]) == 1
    assert sample_ndim([("relu", ReLU()), ("flat", Flatten())]) is None


def test_a_signal_network_refuses_images():
    X = np.zeros((10, 1, 8, 8), dtype=np.float32)
    clf = NumpyCNNClassifier(layers=conv1d_net(), max_iter=1)
    with pytest.raises(ValueError, match=r"3-D \(n_samples, C, L\) for a network of 1-D layers. "
                       r"Received an array of shape \(10, 1, 8, 8\)"):
        clf.fit(X, np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"image_shape=\(1, 8, 8\) must have 1 or 2 values"):
        clf.set_params(image_shape=(1, 8, 8)).fit(X.reshape(10, -1), np.arange(10) % 2)
