"""BatchNorm in the estimators: sample weights, the running statistics
wherever the parameters go (snapshots, the early-stopping best epoch,
divergence, failed calls, partial_fit, saved models), solver="lbfgs" and
training batches of one sample."""

import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._base import BaseCNN
from skcnn.layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, GlobalAvgPool2D, ReLU


def bn_layers():
    return [
        ("conv1", Conv2D(4, 3, padding="same")),
        ("bn1", BatchNorm2D()),
        ("relu1", ReLU()),
        ("gap", GlobalAvgPool2D()),
        ("fc", Dense(8)),
        ("bn2", BatchNorm1D()),
        ("relu2", ReLU()),
    ]


def bn_classifier(**params):
    return NumpyCNNClassifier(layers=bn_layers(), random_state=0, **params)


def data(n=90, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 36)
    y = (X[:, :18].sum(axis=1) > X[:, 18:].sum(axis=1)).astype(int) + 2 * (X[:, 0] > 0.7)
    return X, y


def state(clf):
    """Copies of the fitted network's parameters and running statistics."""
    return [a.copy() for a in clf._network.params + clf._network.running_stats]


def assert_same_state(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def record_epochs(monkeypatch, after=None):
    """Patch ``_run_epoch`` to record the model's state after every epoch;
    ``after(model, epoch, (loss, stopped))`` may change the outcome."""
    states = []
    original = BaseCNN._run_epoch

    def run_epoch(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        states.append(state(self))
        return result if after is None else after(self, len(states), result)

    monkeypatch.setattr(BaseCNN, "_run_epoch", run_epoch)
    return states


# ---------------------------------------------------------------------------
# Sample weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [15, 70])  # a batch of one shard, and of two
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_weights_give_the_bits_of_repeated_samples(dtype, n):
    rng = np.random.RandomState(42)
    X = rng.rand(n, 36)
    y = rng.randint(0, 3, n)
    sw = rng.randint(0, 5, n)
    params = dict(layers=bn_layers(), batch_size=200, max_iter=20, random_state=0, dtype=dtype)
    repeated = NumpyCNNClassifier(**params).fit(X.repeat(sw, axis=0), y.repeat(sw))
    order = rng.permutation(n)
    weighted = NumpyCNNClassifier(**params).fit(X[order], y[order], sample_weight=sw[order])
    assert_same_state(state(repeated), state(weighted))
    np.testing.assert_array_equal(repeated.predict_proba(X), weighted.predict_proba(X))


# ---------------------------------------------------------------------------
# The running statistics follow the parameters
# ---------------------------------------------------------------------------


def test_a_diverged_epoch_puts_back_the_running_statistics(monkeypatch):
    def diverge_third(model, epoch, result):
        return (result[0], "diverged") if epoch == 3 else result

    states = record_epochs(monkeypatch, diverge_third)
    X, y = data()
    with pytest.warns(ConvergenceWarning, match="during epoch 3"):
        clf = bn_classifier(max_iter=5).fit(X, y)
    assert clf.n_iter_ == 3  # the diverged epoch counts, as in MLPClassifier
    assert_same_state(state(clf), states[1])


def test_non_finite_running_statistics_are_divergence(monkeypatch):
    def overflow_third(model, epoch, result):
        if epoch == 3:
            model._network.running_stats[1][0] = np.inf  # bn1's running_var
        return result

    states = record_epochs(monkeypatch, overflow_third)
    X, y = data()
    with pytest.warns(ConvergenceWarning, match="during epoch 3"):
        clf = bn_classifier(max_iter=5).fit(X, y)
    assert_same_state(state(clf), states[1])
    assert all(np.isfinite(a).all() for a in clf._network.running_stats)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_failed_call_puts_back_the_running_statistics(how, monkeypatch):
    X, y = data()
    clf = bn_classifier(max_iter=2, warm_start=how == "warm_start")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    before = state(clf)

    def fail_second(model, epoch, result):
        if epoch == 2:
            raise RuntimeError("failed in epoch 2")
        return result

    states = record_epochs(monkeypatch, fail_second)
    with pytest.raises(RuntimeError, match="failed in epoch 2"):
        if how == "partial_fit":
            clf.partial_fit(X, y)
            clf.partial_fit(X, y)
        else:
            clf.fit(X, y)
    # The failed epoch is undone: the model is the one after the last epoch
    # that completed (partial_fit's first call, the warm start's first epoch).
    assert len(states) == 2
    assert_same_state(state(clf), states[0])
    assert not all(np.array_equal(a, b) for a, b in zip(states[0], before))


def test_early_stopping_keeps_the_running_statistics_of_the_best_epoch(monkeypatch):
    scores = iter([0.5, 0.9, 0.6, 0.7, 0.4, 0.3, 0.2])
    states = []

    def validation_score(self, X, y, sample_weight):
        states.append(state(self))
        return next(scores)

    monkeypatch.setattr(NumpyCNNClassifier, "_validation_score", validation_score)
    X, y = data()
    clf = bn_classifier(early_stopping=True, n_iter_no_change=2, tol=0.0, max_iter=10).fit(X, y)
    assert clf.n_iter_ == 5 and clf.best_validation_score_ == 0.9
    assert_same_state(state(clf), states[1])
    assert not all(np.array_equal(a, b) for a, b in zip(states[1][-4:], states[-1][-4:]))


def test_partial_fit_continues_the_running_statistics():
    X, y = data()
    stepwise = bn_classifier()
    for _ in range(3):
        stepwise.partial_fit(X, y, classes=np.unique(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        at_once = bn_classifier(max_iter=3).fit(X, y)
    assert_same_state(state(stepwise), state(at_once))


def test_saved_models_keep_their_running_statistics(tmp_path):
    X, y = data()
    clf = bn_classifier(max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert not np.array_equal(clf.layers_[1].running_mean, np.zeros(4))
    copies = [pickle.loads(pickle.dumps(clf))]
    sio = pytest.importorskip("skops.io")
    from skcnn import SKOPS_TRUSTED_TYPES

    sio.dump(clf, tmp_path / "model.skops")
    copies.append(sio.load(tmp_path / "model.skops", trusted=SKOPS_TRUSTED_TYPES))
    for copy in copies:
        assert_same_state(state(copy), state(clf))
        np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    # Training goes on from the same state.
    for model in [clf] + copies:
        model.partial_fit(X, y)
    for copy in copies:
        assert_same_state(state(copy), state(clf))


# ---------------------------------------------------------------------------
# solver="lbfgs" and one-sample batches
# ---------------------------------------------------------------------------


def test_lbfgs_refuses_batchnorm():
    X, y = data()
    with pytest.raises(ValueError, match=re.escape(
        "Layer 'bn1' (BatchNorm2D(momentum=0.1, eps=1e-05)) cannot be used with solver='lbfgs'"
    )):
        bn_classifier(solver="lbfgs").fit(X, y)
    clf = bn_classifier(max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    with pytest.raises(ValueError, match="solver='adam' or 'sgd'"):
        clf.set_params(solver="lbfgs").fit(X, y)


@pytest.mark.parametrize("Estimator", [NumpyCNNClassifier, NumpyCNNRegressor])
def test_one_sample_batches_are_refused_by_name(Estimator):
    X, y = data()
    message = (
        r"BatchNorm1D 'bn2' needs more than 1 sample per training batch .*; received 1 "
        r"sample\(s\)"
    )
    model = Estimator(layers=bn_layers(), random_state=0)
    with pytest.raises(ValueError, match=message):
        model.fit(X[:1], y[:1])
    with pytest.raises(NotFittedError):
        model.predict(X)
    with pytest.raises(ValueError, match=message):
        Estimator(layers=bn_layers(), batch_size=1).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match=r"received 0\.6 sample\(s\), counted by their sample"):
        Estimator(layers=bn_layers()).fit(X[:3], y[:3], sample_weight=[0.2, 0.2, 0.2])


def test_equal_samples_merge_into_one_row_and_train():
    """Five copies of one sample: one row of weight 5, zero variance, as
    PyTorch on the five copies (normalized to zero, no error)."""
    X, y = data()
    X5 = np.vstack([X[:1]] * 5 + [X[1:3]])
    y5 = np.r_[[y[0]] * 5, y[1:3]]
    reg = NumpyCNNRegressor(layers=bn_layers(), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X5[:5], y5[:5].astype(float))
        assert np.isfinite(reg.predict(X)).all()
        # A batch-of-images layer alone takes one sample (36 values per channel).
        one = NumpyCNNRegressor(layers=bn_layers()[:4], max_iter=2).fit(X[:1], [1.0])
    assert np.isfinite(one.predict(X)).all()
