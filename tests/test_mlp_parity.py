"""With ``filters=()`` and no dropout the estimators are MLPs: where the
parameters overlap they behave as MLPClassifier and MLPRegressor do
(solver="lbfgs", binary and multilabel outputs, sparse X, inputs beyond
float32's range)."""

import re
import signal
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

import skcnn._base
import skcnn._training.batches
import skcnn._training.lbfgs
import skcnn._training.parallel
from skcnn import NumpyCNNClassifier, NumpyCNNRegressor

MLP_LIKE = dict(filters=(), dropout=0.0, hidden_layer_sizes=(16,), dtype=np.float64)


def same_bits(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


def start_from(clf, mlp):
    """Give ``clf`` the weights of ``mlp`` (same layer sizes)."""
    for ours, theirs in zip(clf.coefs_ + clf.intercepts_, mlp.coefs_ + mlp.intercepts_):
        ours[...] = theirs


# ------------------------------------------------------------------ lbfgs


@pytest.mark.parametrize("n_classes", [2, 10])
def test_lbfgs_follows_mlpclassifier_from_the_same_weights(digits, n_classes):
    # The same objective (log-loss + alpha/2 ||W||^2 / n) and the same scipy
    # L-BFGS-B from the same start: the same path, up to float64 rounding.
    X, y = digits
    keep = y < n_classes
    X, y = X[keep][:300], y[keep][:300]
    # An alpha that keeps the probabilities away from 0 and 1, where
    # MLPClassifier clips them (and its loss flattens) and ours does not.
    alpha = 1e-3 if n_classes > 2 else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((16,), solver="lbfgs", alpha=alpha, max_iter=1, random_state=0)
        mlp.set_params(warm_start=True).fit(X, y)
        clf = NumpyCNNClassifier(
            **MLP_LIKE, solver="lbfgs", alpha=alpha, max_iter=1, warm_start=True, random_state=0
        ).fit(X, y)
        start_from(clf, mlp)
        mlp.set_params(max_iter=15).fit(X, y)
        clf.set_params(max_iter=15).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [c.shape for c in mlp.coefs_]
    assert clf.n_iter_ == mlp.n_iter_ == 15
    assert clf.loss_ == pytest.approx(mlp.loss_, rel=1e-6)
    for ours, theirs in zip(clf.coefs_, mlp.coefs_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), mlp.predict_proba(X), atol=1e-6)


def test_lbfgs_regressor_follows_mlpregressor_from_the_same_weights(digits):
    X, y = digits
    X, y = X[:300], y[:300].astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=1, warm_start=True, random_state=0)
        mlp.fit(X, y)
        reg = NumpyCNNRegressor(
            **MLP_LIKE, solver="lbfgs", alpha=1e-4, max_iter=1, warm_start=True, random_state=0
        ).fit(X, y)
        start_from(reg, mlp)
        mlp.set_params(max_iter=15).fit(X, y)
        reg.set_params(max_iter=15).fit(X, y)
    assert reg.loss_ == pytest.approx(mlp.loss_, rel=1e-6)
    np.testing.assert_allclose(reg.predict(X), mlp.predict(X), rtol=1e-5, atol=1e-6)


def test_lbfgs_objective_gradient_is_exact(digits):
    # Central differences of the full-batch objective, conv layer included.
    X, y = digits
    clf = NumpyCNNClassifier(
        filters=(2,), hidden_layer_sizes=(4,), dropout=0.0, dtype=np.float64, solver="lbfgs",
        max_iter=1, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:40], y[:40])
    net = clf._network
    step = skcnn._training.parallel.ShardedStep(net, clf._make_loss(), 40, n_jobs=1)
    objective = skcnn._training.lbfgs.FullBatchObjective(
        net, step, X[:40], np.searchsorted(clf.classes_, y[:40]), [(np.arange(40), None)],
        clf.image_shape_, 40.0, clf._add_l2_penalty,
    )
    x0 = objective.pack()
    loss, grad = objective(x0)
    rng = np.random.RandomState(0)
    for i in rng.choice(x0.size, 12, replace=False):
        e = np.zeros_like(x0)
        e[i] = 1e-6
        numeric = (objective(x0 + e)[0] - objective(x0 - e)[0]) / 2e-6
        assert numeric == pytest.approx(grad[i], rel=1e-4, abs=1e-8)


def test_lbfgs_has_no_partial_fit_and_says_why():
    clf = NumpyCNNClassifier(solver="lbfgs", dropout=0.0)
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError) as error:
        clf.partial_fit(np.zeros((2, 4)), [0, 1])
    assert "stochastic solvers 'sgd' and 'adam'" in str(error.value.__cause__)
    assert hasattr(NumpyCNNRegressor(), "partial_fit")
    assert not hasattr(NumpyCNNRegressor(solver="lbfgs"), "partial_fit")


def test_lbfgs_refuses_dropout_naming_the_fix(few_digits):
    X, y = few_digits
    with pytest.raises(ValueError, match=r"dropout=0.5 cannot be used with solver='lbfgs'.*dropout=0"):
        NumpyCNNClassifier(solver="lbfgs").fit(X, y)


def test_lbfgs_max_fun_and_max_iter_bound_the_run(few_digits):
    X, y = few_digits
    est = NumpyCNNClassifier(**MLP_LIKE, solver="lbfgs", max_fun=6, random_state=0)
    with pytest.warns(ConvergenceWarning, match="EVALUATIONS EXCEEDS LIMIT"):
        est.fit(X, y)
    assert 1 <= est.n_iter_ <= 6
    est.set_params(max_fun=15000, max_iter=4)
    with pytest.warns(ConvergenceWarning, match="max_iter=4"):
        est.fit(X, y)
    assert est.n_iter_ == 4 == len(est.loss_curve_)
    assert est.loss_ == est.loss_curve_[-1] < est.loss_curve_[0]


def test_lbfgs_is_bit_identical_across_threads_and_weights_equal_repeats(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    params = dict(filters=(4,), dropout=0.0, solver="lbfgs", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = NumpyCNNClassifier(**params, n_jobs=1).fit(X, y)
        two = NumpyCNNClassifier(**params, n_jobs=2).fit(X, y)
        weights = np.arange(300) % 3
        weighted = NumpyCNNClassifier(**params).fit(X, y, sample_weight=weights)
        repeated = NumpyCNNClassifier(**params).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    assert same_bits(one, two)
    assert same_bits(weighted, repeated)


def test_lbfgs_ignores_early_stopping_as_mlp_does(few_digits):
    X, y = few_digits
    est = NumpyCNNClassifier(**MLP_LIKE, solver="lbfgs", early_stopping=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.validation_scores_ is None and est.n_iter_ == 3


def test_early_stopping_with_too_few_samples_raises_mlps_error(digits):
    """MLPRegressor refuses a validation set of fewer than 2 samples; so do
    both estimators, with MLP's words, the numbers and the other fix. (With
    a stratified split MLPClassifier fails earlier, in train_test_split.)"""
    X, y = digits
    X, y, target = X[:10], y[:10], y[:10].astype(float)
    with pytest.raises(ValueError, match="The validation set is too small") as mlp:
        MLPRegressor(early_stopping=True, max_iter=1).fit(X, target)
    key = str(mlp.value)
    for est, y_ in [(NumpyCNNRegressor, target), (NumpyCNNClassifier, y)]:
        with pytest.raises(ValueError, match=re.escape(key)) as ours:
            est(early_stopping=True, max_iter=1, **MLP_LIKE).fit(X, y_)
        assert "validation_fraction=0.1 of the 10 samples of X, 1 sample," in str(ours.value)
        assert "early_stopping=False" in str(ours.value)
    # 20 samples hold out 2: enough for MLP, and for us.
    MLPRegressor(early_stopping=True, max_iter=1).fit(digits[0][:20], digits[1][:20])
    NumpyCNNRegressor(early_stopping=True, max_iter=1, **MLP_LIKE).fit(
        digits[0][:20], digits[1][:20].astype(float)
    )


def test_lbfgs_verbose_prints_iterations(few_digits, capsys):
    X, y = few_digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        NumpyCNNClassifier(**MLP_LIKE, solver="lbfgs", max_iter=3, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert "L-BFGS" in lines[0]
    assert [line.split(",")[0] for line in lines[1:]] == ["Iteration 1", "Iteration 2", "Iteration 3"]


def test_lbfgs_warnings_point_at_the_users_fit_call(few_digits, monkeypatch):
    """Ctrl-C (warned by ``LbfgsTrainingMixin._train_lbfgs``) and divergence
    (by ``_training.common.warn_diverged``) are reported at the line calling fit."""
    X, y = few_digits
    original = skcnn._training.lbfgs.FullBatchObjective.__call__

    calls = []

    def interrupted(self, x):
        calls.append(x)
        if len(calls) == 1:  # deferred: ends the run after iteration 1 (a second would raise)
            signal.raise_signal(signal.SIGINT)
        return original(self, x)

    monkeypatch.setattr(skcnn._training.lbfgs.FullBatchObjective, "__call__", interrupted)
    est = NumpyCNNClassifier(**MLP_LIKE, solver="lbfgs", max_iter=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    [warning] = [w for w in caught if "interrupted by the user" in str(w.message)]
    assert warning.category is UserWarning and warning.filename == __file__
    assert est.n_iter_ == 1
    assert "after 1 iteration (n_iter_=1)" in str(warning.message)
    assert "fit with warm_start=True continues from here" in str(warning.message)

    def diverging(self, x):
        loss, grad = original(self, x)
        return np.nan, grad

    monkeypatch.setattr(skcnn._training.lbfgs.FullBatchObjective, "__call__", diverging)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    [warning] = [w for w in caught if "Training diverged" in str(w.message)]
    assert warning.category is ConvergenceWarning and warning.filename == __file__
    assert est.n_iter_ == 0


# ------------------------------------------------------------ binary output


def test_binary_has_one_logistic_output_as_mlpclassifier(digits):
    X, y = digits
    keep = y < 2
    X, y = X[keep][:200], np.where(y[keep][:200] == 1, "one", "zero")
    clf = NumpyCNNClassifier(**MLP_LIKE, max_iter=3, random_state=0)
    mlp = MLPClassifier((16,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        mlp.fit(X, y)
    assert clf.coefs_[-1].shape == mlp.coefs_[-1].shape == (16, 1)
    z = clf.layer_outputs(X)[-1][:, 0]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], expit(z), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert list(clf.classes_) == ["one", "zero"]
    np.testing.assert_array_equal(clf.predict(X), np.where(z > 0, "zero", "one"))


def test_binary_loss_is_log_loss_of_the_sigmoid():
    from skcnn._loss import LogisticLoss

    rng = np.random.RandomState(0)
    z = rng.normal(scale=3, size=(50, 1))
    y = rng.randint(0, 2, size=50)
    w = rng.uniform(0.1, 2, size=50)
    loss, grad = LogisticLoss(1)(z.copy(), y[:, None].astype(float), w)
    assert loss == pytest.approx(log_loss(y, expit(z[:, 0]), sample_weight=w), rel=1e-12)
    np.testing.assert_allclose(grad[:, 0], w * (expit(z[:, 0]) - y) / w.sum(), rtol=1e-12)


# ------------------------------------------------------------------ multilabel


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(400, 20, n_classes=4, random_state=0)
    return train_test_split(X / X.max(), Y, random_state=0)


def test_multilabel_predicts_the_indicator_matrix_as_mlp(multilabel):
    Xa, Xb, Ya, Yb = multilabel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NumpyCNNClassifier(filters=(), dropout=0.0, max_iter=100, random_state=0).fit(Xa, Ya)
        mlp = MLPClassifier(max_iter=100, random_state=0).fit(Xa, Ya)
    pred = clf.predict(Xb)
    assert pred.shape == Yb.shape and set(np.unique(pred)) <= {0, 1}
    assert pred.dtype.kind == "i"
    np.testing.assert_array_equal(clf.classes_, mlp.classes_)
    proba = clf.predict_proba(Xb)
    outputs = clf.layer_outputs(Xb)[-1].astype(np.float64)  # float32, as the model computes
    np.testing.assert_allclose(proba, expit(outputs), rtol=1e-12)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    # It learns as MLPClassifier does (subset accuracy, the classifier's score).
    baseline = np.mean((Yb == np.round(Ya.mean(axis=0))).all(axis=1))
    assert clf.score(Xb, Yb) > baseline + 0.1
    assert clf.score(Xb, Yb) >= mlp.score(Xb, Yb) - 0.05


def test_multilabel_partial_fit_and_its_errors(multilabel):
    Xa, _, Ya, _ = multilabel
    clf = NumpyCNNClassifier(filters=(), random_state=0)
    clf.partial_fit(Xa, Ya)  # the labels are the columns: classes may be omitted
    assert clf.n_iter_ == 1 and clf.coefs_[-1].shape[1] == 4
    clf.partial_fit(Xa, Ya, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="y has 3 labels but the model was fitted on 4"):
        clf.partial_fit(Xa, Ya[:, :3])
    with pytest.raises(ValueError, match="1-D labels but the model was fitted on multilabel"):
        clf.partial_fit(Xa, Ya[:, 0])
    with pytest.raises(ValueError, match="class_weight.*multilabel"):
        NumpyCNNClassifier(class_weight="balanced").fit(Xa, Ya)
    with pytest.raises(ValueError, match="not a multilabel indicator matrix"):
        NumpyCNNClassifier().fit(Xa, np.c_[Ya[:, 0], Ya[:, 1] * 2])


def test_a_column_vector_y_warns_and_trains_as_1d(few_digits):
    from sklearn.exceptions import DataConversionWarning

    X, y = few_digits
    with pytest.warns(DataConversionWarning):
        clf = NumpyCNNClassifier(filters=(), max_iter=1, random_state=0).fit(X, y[:, None])
    assert not clf._multilabel and clf.predict(X).shape == (len(y),)


# ------------------------------------------------------------------ sparse X


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_array])
def test_sparse_X_trains_and_predicts_as_the_dense_array(digits, container):
    X, y = digits
    X, y = X[:400], y[:400]
    params = dict(filters=(4,), hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = NumpyCNNClassifier(**params).fit(X, y)
        sparse = NumpyCNNClassifier(**params).fit(container(X), y)
    assert same_bits(dense, sparse)
    np.testing.assert_array_equal(sparse.predict_proba(container(X)), dense.predict_proba(X))


def test_sparse_X_is_densified_a_batch_at_a_time(digits, monkeypatch):
    X, y = digits
    densified = []
    original = skcnn._training.batches.dense_rows

    def recording(X, rows):
        out = original(X, rows)
        if sp.issparse(X):
            densified.append(len(out))
        return out

    for module in (skcnn._training.batches, skcnn._training.parallel):
        monkeypatch.setattr(module, "dense_rows", recording)
    Xs = sp.csr_matrix(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = NumpyCNNRegressor(filters=(2,), batch_size=100, max_iter=2, random_state=0)
        reg.fit(Xs, y.astype(float))
    assert densified and max(densified) <= skcnn._training.batches._DENSE_CHUNK < len(y)  # training
    densified.clear()
    reg.predict(Xs)
    assert densified and max(densified) <= skcnn._training.batches._DENSE_CHUNK  # prediction


# ----------------------------------------------------- beyond float32's range


def test_float64_inputs_beyond_float32_range_warn(few_digits):
    X, y = few_digits
    est = NumpyCNNClassifier(filters=(), max_iter=2, dtype=np.float64, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"as large as 1e\+300.*Scale X"):
        est.fit(X * 1e300, y)
    with pytest.raises(ValueError, match="too large"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's cast, before it refuses
        NumpyCNNClassifier(max_iter=1).fit(X * 1e300, y)  # float32 refuses them at conversion
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X * 1e30, y)  # within float32's range: no such warning
    assert not [w for w in caught if "float32's range" in str(w.message)]
