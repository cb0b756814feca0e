"""Property-based tests: any architecture on any image shape fits, or says why.

For random image shapes, channel counts, kernel / pool / padding combinations
and batch sizes, the estimator either fits and predicts finite probabilities
that sum to 1, or raises a clear ValueError before any training starts, and
it raises exactly when the architecture cannot take the input.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the test extra (hypothesis) is not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skcnn import NumpyCNNClassifier  # noqa: E402


def expected_to_fit(image_shape, n_blocks, kernel, pool, padding):
    """Walk the shapes as the architecture does; False if a kernel cannot fit."""
    _, h, w = image_shape
    # On a signal (one row or one column) kernels and padding act along it only.
    across = (h == 1, w == 1)
    kh, kw = (1 if one else k for k, one in zip(kernel, across))
    for _ in range(n_blocks):
        if padding == "same":
            pads = (kh - 1, kw - 1)
        else:
            p = 0 if padding == "valid" else padding
            pads = (0 if across[0] else 2 * p, 0 if across[1] else 2 * p)
        if kh > h + pads[0] or kw > w + pads[1]:
            return False
        h, w = h + pads[0] - kh + 1, w + pads[1] - kw + 1
        ph, pw = min(pool, h), min(pool, w)
        h, w = (h - ph) // ph + 1, (w - pw) // pw + 1
    return True


@settings(max_examples=40, deadline=None)
@given(
    channels=st.integers(1, 3),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    n_blocks=st.integers(0, 2),
    n_filters=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    pool=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid", 0, 1, 2]),
    batch_size=st.integers(1, 16),
    activation=st.sampled_from(["relu", "tanh", "logistic"]),
    as_images=st.booleans(),
)
def test_fits_and_predicts_or_raises_before_training(
    channels, height, width, n_blocks, n_filters, kernel, pool, padding,
    batch_size, activation, as_images,
):
    rng = np.random.RandomState(0)
    shape = (channels, height, width)
    X = rng.rand(12, *shape)
    y = np.arange(12) % 3
    clf = NumpyCNNClassifier(
        filters=(n_filters,) * n_blocks, kernel_size=kernel, pool_size=pool,
        padding=padding, hidden_layer_sizes=(5,), activation=activation,
        batch_size=batch_size, max_iter=2, random_state=0,
    )
    if as_images:
        X_fit = X  # 4-D input carries its own shape
    else:
        X_fit = X.reshape(12, -1)
        clf.set_params(image_shape=shape)
    fits = expected_to_fit(shape, n_blocks, kernel, pool, padding)
    hypothesis.event(f"fits={fits}")
    if not fits:
        with pytest.raises(ValueError, match=r"kernel_size=\(\d+, \d+\) is larger than the padded input"):
            clf.fit(X_fit, y)
        assert not hasattr(clf, "coefs_")  # refused before any training
        return
    clf.fit(X_fit, y)
    assert clf.image_shape_ == shape
    proba = clf.predict_proba(X_fit)
    assert proba.shape == (12, 3)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    assert np.array_equal(clf.predict(X_fit), clf.classes_[proba.argmax(axis=1)])


@settings(max_examples=25, deadline=None)
@given(
    n_samples=st.integers(2, 30),
    n_features=st.integers(1, 40),
    batch_size=st.one_of(st.just("auto"), st.integers(1, 40)),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_any_2d_data_fits_with_the_defaults_architecture(n_samples, n_features, batch_size, dtype):
    rng = np.random.RandomState(1)
    X = rng.rand(n_samples, n_features).astype(dtype)
    y = np.arange(n_samples) % 2
    clf = NumpyCNNClassifier(batch_size=batch_size, max_iter=2, random_state=0, dtype=dtype)
    clf.fit(X, y)
    assert all(w.dtype == dtype for w in clf.coefs_)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    # Batch independence: predicting one row at a time gives the same numbers.
    np.testing.assert_allclose(clf.predict_proba(X[:1]), proba[:1], rtol=1e-6, atol=1e-9)
