"""NumpyCNNRegressor end to end: targets, losses, weights and scikit-learn tools."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_digits
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skcnn import NumpyCNNRegressor


@pytest.fixture(scope="module")
def digits_targets():
    """Digits with two real targets: the centre of mass of each image (row, column)."""
    X, _ = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8)
    mass = images.sum(axis=(1, 2))
    rows = (images.sum(axis=2) * np.arange(8)).sum(axis=1) / mass
    cols = (images.sum(axis=1) * np.arange(8)).sum(axis=1) / mass
    return X / 16, np.column_stack([rows, cols])


def small(**params):
    defaults = dict(filters=(8,), hidden_layer_sizes=(32,), dropout=0.0, max_iter=30,
                    learning_rate_init=0.01, random_state=0)
    return NumpyCNNRegressor(**{**defaults, **params})


def test_learns_a_real_target_and_scores_r2(digits_targets):
    X, Y = digits_targets
    reg = small().fit(X[:1200], Y[:1200, 0])
    assert reg.n_outputs_ == 1
    prediction = reg.predict(X[1200:])
    assert prediction.shape == (len(X) - 1200,) and prediction.dtype == np.float64
    assert reg.score(X[1200:], Y[1200:, 0]) > 0.9


def test_predict_returns_the_shape_y_had(digits_targets):
    X, Y = digits_targets
    X, Y = X[:200], Y[:200]
    assert small(max_iter=2).fit(X, Y[:, 0]).predict(X[:5]).shape == (5,)
    assert small(max_iter=2).fit(X, Y[:, :1]).predict(X[:5]).shape == (5, 1)
    two = small(max_iter=2).fit(X, Y)
    assert two.n_outputs_ == 2 and two.predict(X[:5]).shape == (5, 2)
    assert two.coefs_[-1].shape == (32, 2)


def test_both_outputs_are_learned(digits_targets):
    X, Y = digits_targets
    reg = small().fit(X[:1200], Y[:1200])
    assert reg.score(X[1200:], Y[1200:]) > 0.9
    # The multi-output model is as good on each column as its R^2 says.
    for k in range(2):
        residual = reg.predict(X[1200:])[:, k] - Y[1200:, k]
        assert np.sqrt(np.mean(residual**2)) < 0.4 * Y[1200:, k].std() + 0.1


def test_the_reported_loss_is_mlpregressors_squared_loss(digits_targets):
    X, Y = digits_targets
    # A step too small to move the weights in one epoch: the epoch's loss is
    # that of the initial model, half the mean squared error (mean over outputs).
    reg = small(max_iter=1, alpha=0.0, learning_rate_init=1e-12, batch_size=300)
    reg.fit(X[:300], Y[:300])
    expected = 0.5 * np.mean((reg.predict(X[:300]) - Y[:300]) ** 2)
    assert reg.loss_ == pytest.approx(expected, rel=1e-5)


def test_poisson_predicts_positive_means_and_refuses_negative_targets(digits_targets):
    X, Y = digits_targets
    rows = Y[:, 0]
    means = 3 * np.exp(0.75 * (rows - rows.mean()) / rows.std())  # from 0.3 to 28
    counts = np.random.RandomState(0).poisson(means)
    reg = small(loss="poisson").fit(X[:1200], counts[:1200])
    prediction = reg.predict(X[1200:])
    assert (prediction > 0).all()
    # In the loss's own terms: most of the way from the mean count to the
    # true means the counts were drawn from (measured: 1.13 between 3.07 and 1.02).
    test = counts[1200:]
    constant = mean_poisson_deviance(test, np.full(len(test), counts[:1200].mean()))
    best = mean_poisson_deviance(test, means[1200:])
    assert mean_poisson_deviance(test, prediction) < best + 0.2 * (constant - best)
    assert np.corrcoef(prediction, means[1200:])[0, 1] > 0.9
    with pytest.raises(ValueError, match=r"loss='poisson' needs non-negative targets.*-1\.0"):
        small(loss="poisson").fit(X[:10], np.arange(10) - 1.0)


def test_integer_weights_give_the_bits_of_repeated_samples(digits_targets):
    X, Y = digits_targets
    rng = np.random.RandomState(0)
    X, Y = X[:40], Y[:40]
    sw = rng.randint(0, 4, 40)
    params = dict(max_iter=5, batch_size=200)
    repeated = small(**params).fit(X.repeat(sw, axis=0), Y.repeat(sw, axis=0))
    weighted = small(**params).fit(X, Y, sample_weight=sw)
    for a, b in zip(repeated.coefs_ + repeated.intercepts_, weighted.coefs_ + weighted.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_scores_r2_and_keeps_the_best_weights(digits_targets):
    X, Y = digits_targets
    reg = small(early_stopping=True, max_iter=15, n_iter_no_change=3).fit(X[:600], Y[:600, 1])
    scores = reg.validation_scores_
    assert len(scores) == reg.n_iter_ and all(s <= 1 for s in scores)
    assert reg.best_validation_score_ == max(scores) > 0.5


def test_warm_start_partial_fit_and_refusals(digits_targets):
    X, Y = digits_targets
    reg = small(max_iter=2, warm_start=True).fit(X[:200], Y[:200])
    reg.fit(X[:200], Y[:200])
    assert reg.n_iter_ == 2 and len(reg.loss_curve_) == 4
    reg.partial_fit(X[:200], Y[:200])
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 5
    before = pickle.dumps(reg)
    with pytest.raises(ValueError, match="y has 1 outputs, but the model was fitted with 2"):
        reg.partial_fit(X[:200], Y[:200, 0])
    with pytest.raises(ValueError, match="loss changed from 'squared_error' to 'poisson'"):
        reg.set_params(loss="poisson").partial_fit(X[:200], Y[:200])
    reg.set_params(loss="squared_error")
    assert pickle.dumps(reg) == before  # the failed calls changed nothing
    streamed = small().partial_fit(X[:200], Y[:200])
    assert streamed.n_iter_ == 1 and streamed.validation_scores_ is None


def test_float_targets_on_worker_processes_equal_those_on_threads(
    digits_targets, parallel_training, worker_processes, worker_starts
):
    X, Y = digits_targets
    params = dict(max_iter=2, batch_size=128, dropout=0.5, n_jobs=2)
    on_processes = small(**params).fit(X[:400], Y[:400])
    assert worker_starts == [1]
    parallel_training(processes=False)
    on_threads = small(**params).fit(X[:400], Y[:400])
    for a, b in zip(on_processes.coefs_, on_threads.coefs_):
        np.testing.assert_array_equal(a, b)


def test_scikit_learn_tools(digits_targets):
    X, Y = digits_targets
    X, y = X[:300], Y[:300, 0]
    target_scaled = TransformedTargetRegressor(small(max_iter=5), transformer=StandardScaler())
    assert target_scaled.fit(X, y).predict(X).shape == (300,)
    scores = cross_val_score(small(), X, y, cv=3, scoring="neg_root_mean_squared_error")
    assert scores.shape == (3,) and (scores < 0).all() and scores.mean() > -y.std()
    pipe = make_pipeline(MinMaxScaler(), small(max_iter=5))
    grid = {"numpycnnregressor__learning_rate_init": [1e-7, 1e-2]}
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X, y)
    # A step of 1e-7 cannot learn in 5 epochs: the search must tell them apart.
    assert search.best_params_ == {"numpycnnregressor__learning_rate_init": 1e-2}
    fitted = small(max_iter=2).fit(X, y)
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert clone(fitted).get_params() == fitted.get_params() and not hasattr(clone(fitted), "n_outputs_")


def test_predictions_come_in_mlpregressors_dtype(digits_targets):
    """float32 for a float32 model on float32 X, else float64, as MLPRegressor."""
    import warnings

    import pandas as pd
    from scipy.sparse import csr_matrix
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, Y = digits_targets
    X_train, X_test, y = X[:200], X[200:220], Y[:200]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = {"float32": small(max_iter=1).fit(X_train, y),
                "float64": small(max_iter=1, dtype=np.float64).fit(X_train, y)}
        mlps = {name: MLPRegressor(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X_train.astype(name), y)
                for name in ours}
    f32 = np.float32
    inputs = {"float32": X_test.astype(f32), "float64": X_test, "int": (16 * X_test).astype(int),
              "list": X_test.tolist(), "float32 DataFrame": pd.DataFrame(X_test.astype(f32)),
              "float32 sparse": csr_matrix(X_test.astype(f32))}
    for model in ours:
        for name, X_in in inputs.items():
            got, expected = ours[model].predict(X_in), mlps[model].predict(X_in)
            assert got.dtype == expected.dtype and got.shape == expected.shape, (model, name)
    as32, as64 = ours["float32"].predict(inputs["float32"]), ours["float32"].predict(X_test)
    assert as32.dtype == f32
    np.testing.assert_array_equal(as32, as64.astype(f32))  # the same values, rounded
    # Finite predictions stay finite in float32: beyond its range (a Poisson
    # mean exp(100)), its largest value.
    huge = small(max_iter=1, loss="poisson").fit(X_train, y[:, 0])
    huge.coefs_[-1][...] = 0
    huge.intercepts_[-1][...] = 100
    np.testing.assert_allclose(huge.predict(X_test), np.exp(100), rtol=1e-12)
    assert (huge.predict(inputs["float32"]) == np.finfo(f32).max).all()
