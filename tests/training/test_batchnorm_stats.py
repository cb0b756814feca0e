"""batchnorm_statistics="training_set": BatchNorm's running statistics
recomputed on the training samples at the end of fit ("precise batch
norm"), against a NumPy reference, whatever the threads, with weights, sparse
X, early stopping, partial_fit and failures."""

import numpy as np
import pytest
from scipy import sparse

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._training.batchnorm_stats import recompute_running_stats, SAMPLES_PER_PART
from skcnn.augmentation import RandomShift
from skcnn.layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU


def layers():
    return [
        ("conv1", Conv2D(4, 3, padding="same")),
        ("bn1", BatchNorm2D()),
        ("relu1", ReLU()),
        ("pool1", MaxPool2D(2)),
        ("flatten", Flatten()),
        ("drop", Dropout(0.3)),
        ("fc", Dense(8)),
        ("bn2", BatchNorm1D()),
        ("relu2", ReLU()),
    ]


def classifier(**params):
    params = {"max_iter": 4, "early_stopping": False, "random_state": 0, **params}
    return NumpyCNNClassifier(layers=layers(), **params)


@pytest.fixture(scope="module")
def images():
    """More samples than one part of SAMPLES_PER_PART rows, on 6 x 6 images."""
    rng = np.random.RandomState(0)
    X = rng.rand(SAMPLES_PER_PART + 140, 36)
    y = (X[:, :18].sum(axis=1) > X[:, 18:].sum(axis=1)).astype(int)
    return X, y


def reference_stats(model, X, weights=None):
    """Mean and unbiased variance of every BatchNorm layer's input over X,
    in float64 with the fitted layers in inference mode, layer after layer
    (each with the statistics of those before it)."""
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=np.float64)
    h = X.reshape((-1,) + model.image_shape_).astype(model._dtype())
    stats = []
    for layer in model.layers_:
        if isinstance(layer, (BatchNorm1D, BatchNorm2D)):
            v = h.astype(np.float64)
            if v.ndim == 4:  # one row per pixel, weighted by its sample's weight
                pixels = v.shape[2] * v.shape[3]
                rw = np.repeat(w, pixels)
                v = v.transpose(0, 2, 3, 1).reshape(-1, v.shape[1])
            else:
                rw = w
            mean = (rw[:, None] * v).sum(0) / rw.sum()
            var = (rw[:, None] * (v - mean) ** 2).sum(0) / (rw.sum() - 1)
            stats.append((mean, var))
        h = layer.forward(h)
    return stats


def running(model):
    return [
        (layer.running_mean.copy(), layer.running_var.copy())
        for layer in model.layers_
        if isinstance(layer, (BatchNorm1D, BatchNorm2D))
    ]


def assert_stats_close(got, expected, rtol):
    assert len(got) == len(expected) == 2
    for (m, v), (m_ref, v_ref) in zip(got, expected):
        np.testing.assert_allclose(m, m_ref, rtol=rtol, atol=1e-6 * np.abs(m_ref).max())
        np.testing.assert_allclose(v, v_ref, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_are_those_of_the_training_set(images, dtype):
    X, y = images
    model = classifier(batchnorm_statistics="training_set", dtype=dtype).fit(X, y)
    assert_stats_close(running(model), reference_stats(model, X), 1e-4 if dtype == np.float32 else 1e-10)
    # The moving averages of the same fit are something else.
    moving = running(classifier(dtype=dtype).fit(X, y))
    assert not np.allclose(moving[0][1], running(model)[0][1], rtol=1e-3)


def test_the_weights_are_those_of_the_running_model(images):
    """Only the statistics change: parameters and training are the default's."""
    X, y = images
    a = classifier().fit(X, y)
    b = classifier(batchnorm_statistics="training_set").fit(X, y)
    for p, q in zip(a._network.params, b._network.params, strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_


def test_the_same_bits_whatever_the_threads(images):
    X, y = images
    models = [
        classifier(batchnorm_statistics="training_set", n_jobs=n).fit(X, y) for n in (1, 2, 3)
    ]
    for other in models[1:]:
        for (m, v), (m2, v2) in zip(running(models[0]), running(other)):
            np.testing.assert_array_equal(m, m2)
            np.testing.assert_array_equal(v, v2)
        for a, b in zip(models[0]._model_arrays(), other._model_arrays(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_integer_weights_give_the_bits_of_repeated_samples(images):
    """Recomputed on the training set alone (the fit is the same): weights
    are frequencies and a zero weight leaves a sample out, bit for bit, as
    the samples are canonical (equal ones merged) as in training."""
    X, y = images
    model = classifier().fit(X, y)
    w = np.random.RandomState(1).randint(0, 3, len(X))
    w[:SAMPLES_PER_PART] = 0  # a whole part of the samples weighs nothing
    X32 = X.astype(np.float32)
    recompute_running_stats(model._network, X32, y, w.astype(np.float32), model.image_shape_, 2)
    weighted = running(model)
    assert_stats_close(weighted, reference_stats(model, X32, w), 1e-4)
    recompute_running_stats(
        model._network, np.repeat(X32, w, axis=0), np.repeat(y, w), None, model.image_shape_, 3
    )
    for (m, v), (m2, v2) in zip(weighted, running(model)):
        np.testing.assert_array_equal(m, m2)
        np.testing.assert_array_equal(v, v2)


def test_sparse_X_gives_the_statistics_of_the_dense_array(images):
    X, y = images
    X = np.where(X > 0.5, X, 0)
    dense = classifier(batchnorm_statistics="training_set").fit(X, y)
    csr = classifier(batchnorm_statistics="training_set").fit(sparse.csr_matrix(X), y)
    for (m, v), (m2, v2) in zip(running(dense), running(csr)):
        np.testing.assert_array_equal(m, m2)
        np.testing.assert_array_equal(v, v2)


def test_augmentation_is_left_out_and_the_holdout_too(images):
    """With augmentation and early stopping the statistics are those of
    the training part as it is; the hold-out is the one fit drew."""
    X, y = images
    params = dict(
        batchnorm_statistics="training_set", augment=[RandomShift(1)], early_stopping=True,
        validation_fraction=0.25, n_iter_no_change=2,
    )
    model = classifier(**params).fit(X, y)
    # The same split as fit's (stratified, from random_state=0).
    from sklearn.model_selection import train_test_split

    X_train, _ = train_test_split(
        X, random_state=np.random.RandomState(0), test_size=0.25, stratify=y
    )
    expected = reference_stats(model, X_train)
    assert_stats_close(running(model), expected, 1e-4)
    whole = reference_stats(model, X)
    assert not np.allclose(running(model)[1][1], whole[1][1], rtol=1e-5)


def test_verbose_says_when_the_statistics_are_recomputed(images, capsys):
    X, y = images
    classifier(batchnorm_statistics="training_set", verbose=True, max_iter=1).fit(X, y)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"BatchNorm statistics recomputed on the {len(X)} training samples."
    classifier(verbose=True, max_iter=1).fit(X, y)
    assert "recomputed" not in capsys.readouterr().out


def test_partial_fit_keeps_the_moving_averages(images):
    X, y = images
    a = classifier().partial_fit(X, y, classes=[0, 1])
    b = classifier(batchnorm_statistics="training_set").partial_fit(X, y, classes=[0, 1])
    for (m, v), (m2, v2) in zip(running(a), running(b)):
        np.testing.assert_array_equal(m, m2)
        np.testing.assert_array_equal(v, v2)


def test_the_regressor_recomputes_too(images):
    X, y = images
    model = NumpyCNNRegressor(
        layers=layers(), max_iter=3, early_stopping=False, random_state=0,
        batchnorm_statistics="training_set",
    ).fit(X, y.astype(float))
    assert_stats_close(running(model), reference_stats(model, X), 1e-4)


def test_without_batchnorm_nothing_changes(images):
    X, y = images
    a = NumpyCNNClassifier(filters=(4,), max_iter=3, random_state=0).fit(X, y)
    b = NumpyCNNClassifier(
        filters=(4,), max_iter=3, random_state=0, batchnorm_statistics="training_set"
    ).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_a_failure_puts_the_statistics_back(images, monkeypatch):
    """Ctrl-C while the second layer's statistics are computed: the first
    layer's new statistics are undone too, and a fitted model loses nothing."""
    X, y = images
    model = classifier().fit(X, y)
    before = running(model)
    calls = []

    def interrupted(self, X, sample_weight=None):
        calls.append(type(self).__name__)
        if isinstance(self, BatchNorm1D):
            raise KeyboardInterrupt
        return original(self, X, sample_weight)

    original = BatchNorm2D.input_moments
    monkeypatch.setattr(BatchNorm2D, "input_moments", interrupted)
    monkeypatch.setattr(BatchNorm1D, "input_moments", interrupted)
    with pytest.raises(KeyboardInterrupt):
        recompute_running_stats(
            model._network, X.astype(np.float32), y, None, model.image_shape_, 1
        )
    assert "BatchNorm2D" in calls and "BatchNorm1D" in calls
    for (m, v), (m2, v2) in zip(before, running(model)):
        np.testing.assert_array_equal(m, m2)
        np.testing.assert_array_equal(v, v2)
    # Through fit: a new fit that fails there leaves the fitted model as it was.
    proba = model.predict_proba(X)
    model.set_params(batchnorm_statistics="training_set", max_iter=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[::-1], y[::-1])
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    assert model.n_iter_ == 4


def test_bad_value_is_named():
    with pytest.raises(ValueError, match="batchnorm_statistics must be .*Received batchnorm_statistics='precise'"):
        classifier(batchnorm_statistics="precise").fit(np.random.rand(20, 36), [0, 1] * 10)
