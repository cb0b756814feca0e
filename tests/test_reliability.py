"""Bad input gets a clear error; failures, divergence and Ctrl-C lose nothing."""

import pickle
import signal
import tracemalloc
import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skcnn import SKOPS_TRUSTED_TYPES, NumpyCNNClassifier, NumpyCNNRegressor
from skcnn import _base


def small(**params):
    defaults = dict(filters=(4,), hidden_layer_sizes=(), learning_rate_init=0.01,
                    batch_size=64, max_iter=2, random_state=0)
    return NumpyCNNClassifier(**{**defaults, **params})


def model_state(clf):
    """Everything that defines a fitted model: weights, optimizer, counters."""
    return pickle.dumps(clf)


# --------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    "X_change, match",
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), "Input X contains NaN"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), "Input X contains infinity"),
        (lambda X: X[:0], r"0 sample\(s\)"),
        (lambda X: X.astype(str).astype(object) + "px", "could not convert string to float"),
    ],
    ids=["nan", "inf", "empty", "strings"],
)
def test_bad_X_is_refused_with_a_clear_error(digits, X_change, match):
    X, y = digits
    bad = X_change(X[:50])
    with pytest.raises(ValueError, match=match):
        small().fit(bad, y[: len(bad)])


def test_bad_y_is_refused_with_a_clear_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[10, 9\]"):
        small().fit(X[:10], y[:9])
    with pytest.raises(ValueError, match="Unknown label type"):
        small().fit(X[:10], np.linspace(0, 1, 10))


def test_shape_errors_name_the_numbers(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 values.*64 features"):
        small(image_shape=(7, 7)).fit(X[:20], y[:20])
    with pytest.raises(ValueError, match=r"kernel_size=\(5, 5\) is larger than the padded input \(4, 4\)"):
        small(filters=(2, 2), kernel_size=5, padding="valid", pool_size=1).fit(X[:20], y[:20])
    clf = small().fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="X has 63 features, but NumpyCNNClassifier is expecting 64"):
        clf.predict(X[:5, :63])
    with pytest.raises(NotFittedError):
        small().predict(X[:5])


# ------------------------------------------------------------ nothing lost

@pytest.mark.parametrize(
    "bad_call",
    [
        lambda clf, X, y: clf.partial_fit(X[:10], np.r_[y[:9], 42]),  # unseen label
        lambda clf, X, y: clf.partial_fit(X[:10, :60], y[:10]),  # wrong width
        lambda clf, X, y: clf.partial_fit(np.full_like(X[:10], np.nan), y[:10]),
        lambda clf, X, y: clf.partial_fit(X[:10], y[:10], classes=np.arange(12)),
        lambda clf, X, y: clf.set_params(warm_start=True, filters=(8,)).fit(X, y),
        lambda clf, X, y: clf.set_params(warm_start=True).fit(X, np.where(y == 9, 8, y)),
        lambda clf, X, y: clf.set_params(learning_rate_init=-1.0).partial_fit(X, y),
        lambda clf, X, y: clf.fit(X, y, sample_weight=np.zeros(len(X))),  # a failed cold refit
    ],
    ids=["unseen-label", "wrong-width", "nan", "new-classes", "warm-arch-change",
         "warm-missing-class", "bad-param", "cold-refit"],
)
def test_a_failed_call_leaves_the_fitted_model_as_it_was(digits, bad_call):
    X, y = digits
    clf = small().fit(X, y)
    clf.partial_fit(X, y)  # optimizer state that must survive too
    params = clf.get_params()
    before = model_state(clf)
    with pytest.raises(ValueError):
        bad_call(clf, X, y)
    clf.set_params(**params)
    assert model_state(clf) == before


def test_an_exception_during_training_restores_the_model(digits, monkeypatch):
    X, y = digits
    clf = small().fit(X, y)
    before = model_state(clf)
    calls = {"n": 0}
    original = NumpyCNNClassifier._train_step

    def failing_step(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("simulated")
        return original(self, *args)

    monkeypatch.setattr(NumpyCNNClassifier, "_train_step", failing_step)
    with pytest.raises(MemoryError):
        clf.partial_fit(X, y)
    assert model_state(clf) == before


def test_divergence_stops_with_a_warning_and_finite_weights(digits):
    X, y = digits
    clf = small(solver="sgd", learning_rate_init=1e6, max_iter=5)
    with pytest.warns(ConvergenceWarning, match="Training diverged.*learning_rate_init"):
        clf.fit(X, y)
    assert all(np.isfinite(w).all() for w in clf.coefs_ + clf.intercepts_)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_a_diverged_epoch_is_recorded_as_mlpclassifier_records_it(digits, monkeypatch):
    """MLPClassifier appends a diverged epoch's loss (inf or NaN) to
    loss_curve_ and counts the epoch in n_iter_ and t_; so do we, while the
    model keeps the weights it had before that epoch."""
    X, y = digits
    clf = small(solver="sgd", learning_rate_init=1e6, max_iter=5)
    with pytest.warns(ConvergenceWarning, match="during epoch 1 of this call"):
        clf.fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 1 and clf.t_ == len(X)
    assert not np.isfinite(clf.loss_curve_[0]) and clf.loss_ is clf.loss_curve_[-1]
    # After finite epochs, with early stopping: the epoch's validation score is NaN.
    original = NumpyCNNClassifier._run_epoch

    def third_diverges(self, *args):
        loss, stopped = original(self, *args)
        return (np.nan, "diverged") if self._epochs == 2 else (loss, stopped)

    monkeypatch.setattr(NumpyCNNClassifier, "_run_epoch", third_diverges)
    clf = small(max_iter=5, early_stopping=True)
    with pytest.warns(ConvergenceWarning, match="during epoch 3 of this call"):
        clf.fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.validation_scores_) == 3
    assert np.isfinite(clf.loss_curve_[:2]).all() and np.isnan(clf.loss_curve_[2])
    assert np.isfinite(clf.validation_scores_[:2]).all() and np.isnan(clf.validation_scores_[2])
    assert clf.best_validation_score_ == max(clf.validation_scores_[:2])
    assert all(np.isfinite(w).all() for w in clf.coefs_ + clf.intercepts_)


@pytest.mark.parametrize("dtype, huge", [(np.float64, 1e300), (np.float32, 1e30)])
def test_predict_proba_is_finite_even_for_huge_weights(digits, dtype, huge):
    X, y = digits
    clf = small(dtype=dtype).fit(X, y)
    clf.coefs_[-1][...] = huge
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1)


# ----------------------------------------------------------------- Ctrl-C

def _interrupt_on_step(monkeypatch, steps, times=1):
    """Make the training steps numbered ``steps`` send Ctrl-C ``times`` times."""
    calls = {"n": 0}
    original = NumpyCNNClassifier._train_step

    def step(self, *args):
        calls["n"] += 1
        if calls["n"] in steps:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(NumpyCNNClassifier, "_train_step", step)
    return calls


def test_ctrl_c_stops_at_the_end_of_the_batch(digits, monkeypatch):
    X, y = digits
    calls = _interrupt_on_step(monkeypatch, {12, 12 + 29 + 5})  # 29 batches per epoch
    clf = small(max_iter=50)
    with pytest.warns(UserWarning, match="interrupted by the user") as record:
        clf.fit(X, y)
    assert calls["n"] == 12  # stopped right after the interrupted batch
    assert clf.n_iter_ == 12 // int(np.ceil(len(X) / 64)) == 0
    assert clf.score(X, y) > 0.25  # learned something in 12 batches: chance is 0.1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # The warning counts as n_iter_ does and says what continues the training
    # (fit alone starts over), at the user's line.
    [warning] = record
    message = str(warning.message)
    assert "after 0 complete epochs of this call (n_iter_=0)" in message
    assert "partial_fit, or fit with warm_start=True, continues from here" in message
    assert warning.filename == __file__
    with pytest.warns(UserWarning, match=r"after 1 complete epoch of this call \(n_iter_=1\)"):
        clf.set_params(warm_start=True).fit(X, y)  # stopped in its second epoch
    assert clf.n_iter_ == 1


def test_training_warnings_point_at_the_users_line(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="Training diverged") as record:
        small(solver="sgd", learning_rate_init=1e6).fit(X, y)
    assert record[0].filename == __file__
    with pytest.warns(ConvergenceWarning, match="Maximum iterations") as record:
        small(max_iter=1).fit(X, y)
    assert record[0].filename == __file__


def test_second_ctrl_c_is_not_swallowed(digits, monkeypatch):
    X, y = digits
    clf = small().fit(X, y)
    before = model_state(clf)
    _interrupt_on_step(monkeypatch, {2}, times=2)
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, y)
    assert model_state(clf) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ----------------------------------------------------------------- memory

def test_predict_works_in_bounded_batches(digits, monkeypatch):
    X, y = digits
    # float64, so that batches of any size give the same numbers to 1e-12.
    clf = small(filters=(16,), dtype=np.float64).fit(X, y)
    big = np.tile(X, (3, 1))
    expected = clf.predict_proba(big)
    # Per sample the network needs ~6 KB of float64 activations; with a 64 KB
    # budget a batch is ~10 samples, so peak memory must stay far below what
    # one batch of all 5,391 samples would take (~30 MB).
    monkeypatch.setattr(_base, "_PREDICT_BATCH_BYTES", 64 * 1024)
    tracemalloc.start()
    proba = clf.predict_proba(big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-15)
    output_bytes = 2 * big.shape[0] * 10 * 8  # logits and probabilities
    assert peak < output_bytes + 2 * 2**20


# ------------------------------------------------------------ persistence

def test_pickle_and_joblib_round_trip_exactly(digits, tmp_path):
    X, y = digits
    clf = small().fit(X, y)
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # The loaded model is wired as the original: coefs_ are the live weights,
    # and training resumes identically from the restored optimizer state.
    assert loaded.coefs_[0] is loaded.layers_[0].weight
    clf.partial_fit(X, y)
    loaded.partial_fit(X, y)
    for a, b in zip(clf.coefs_ + clf.intercepts_, loaded.coefs_ + loaded.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_skops_round_trip_with_the_trusted_types(digits, tmp_path):
    sio = pytest.importorskip("skops.io", reason="the optional skops extra is not installed")
    X, y = digits
    for params in [{}, {"activation": "tanh", "solver": "sgd", "hidden_layer_sizes": (8,)}]:
        clf = small(**params).fit(X, y)
        path = tmp_path / "model.skops"
        sio.dump(clf, path)
        assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
        loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
        assert loaded.coefs_[0] is loaded.layers_[0].weight
    reg = NumpyCNNRegressor(filters=(4,), max_iter=2, loss="poisson", random_state=0)
    reg.fit(X, y)
    sio.dump(reg, tmp_path / "regressor.skops")
    assert set(sio.get_untrusted_types(file=tmp_path / "regressor.skops")) <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(tmp_path / "regressor.skops", trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))


def test_no_warnings_from_numpy_during_divergence(digits):
    X, y = digits
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small(solver="sgd", learning_rate_init=1e6, max_iter=3).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
