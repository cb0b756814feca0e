"""NumpyCNNClassifier on the real digits images, and inside scikit-learn tools."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skcnn import NumpyCNNClassifier
from skcnn.layers import Dropout


def small(**params):
    """A small, fast network; enough for >= 0.95 on digits in a few epochs."""
    defaults = dict(filters=(8,), hidden_layer_sizes=(), learning_rate_init=0.01,
                    batch_size=32, max_iter=6, random_state=0)
    return NumpyCNNClassifier(**{**defaults, **params})


def test_learns_digits(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = small().fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.image_shape_ == (1, 8, 8)
    assert clf.n_iter_ == len(clf.loss_curve_) == 6
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.t_ == 6 * len(X_train)


def test_same_random_state_gives_bit_identical_models(digits_split):
    X_train, X_test, y_train, _ = digits_split
    a = small(max_iter=3).fit(X_train, y_train)
    b = small(max_iter=3).fit(X_train, y_train)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    c = small(max_iter=3, random_state=1).fit(X_train, y_train)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_coefs_are_the_live_parameters(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = small(max_iter=1).fit(X_train, y_train)
    conv, dense = clf.coefs_
    assert conv.shape == (8, 1, 3, 3)
    assert dense.shape == (8 * 4 * 4, 10)
    assert [b.shape for b in clf.intercepts_] == [(8,), (10,)]
    before = clf.predict_proba(X_test[:5])
    clf.coefs_[-1][...] = 0
    clf.intercepts_[-1][...] = 0
    np.testing.assert_allclose(clf.predict_proba(X_test[:5]), 0.1)
    assert not np.allclose(before, 0.1)


def test_computes_in_the_dtype_parameter_whatever_the_input_dtype(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = small(max_iter=3).fit(X_train, y_train)  # float64 X, default dtype
    assert all(w.dtype == np.float32 for w in clf.coefs_ + clf.intercepts_)
    # float64 and float32 copies of the same values give the same model.
    clf32 = small(max_iter=3).fit(X_train.astype(np.float32), y_train)
    for a, b in zip(clf.coefs_, clf32.coefs_):
        np.testing.assert_array_equal(a, b)
    clf64 = small(max_iter=3, dtype="float64").fit(X_train.astype(np.float32), y_train)
    assert all(w.dtype == np.float64 for w in clf64.coefs_ + clf64.intercepts_)
    # Same initialization, same data up to rounding: nearly the same model.
    assert np.mean(clf.predict(X_test) == clf64.predict(X_test)) > 0.97
    proba = clf.predict_proba(X_test)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)


def test_images_as_3d_and_4d_arrays(digits_split):
    X_train, X_test, y_train, _ = digits_split
    flat = small(max_iter=2).fit(X_train, y_train)
    images = small(max_iter=2).fit(X_train.reshape(-1, 8, 8), y_train)
    nchw = small(max_iter=2).fit(X_train.reshape(-1, 1, 8, 8), y_train)
    assert images.image_shape_ == nchw.image_shape_ == (1, 8, 8)
    expected = flat.predict_proba(X_test)
    np.testing.assert_array_equal(images.predict_proba(X_test.reshape(-1, 8, 8)), expected)
    np.testing.assert_array_equal(nchw.predict_proba(X_test.reshape(-1, 1, 8, 8)), expected)
    # A model fitted on images predicts flat rows of the same length too.
    np.testing.assert_array_equal(nchw.predict_proba(X_test), expected)
    with pytest.raises(ValueError, match=r"shape \(1, 4, 16\).*\(1, 8, 8\)"):
        nchw.predict(X_test.reshape(-1, 1, 4, 16))


def test_image_shape_parameter():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 2 * 3 * 5)
    y = np.arange(30) % 2
    clf = NumpyCNNClassifier(filters=(4,), image_shape=(2, 3, 5), max_iter=2).fit(X, y)
    assert clf.image_shape_ == (2, 3, 5)
    assert clf.coefs_[0].shape == (4, 2, 3, 3)
    clf = NumpyCNNClassifier(filters=(4,), image_shape=(6, 5), max_iter=2).fit(X, y)
    assert clf.image_shape_ == (1, 6, 5)
    with pytest.raises(ValueError, match=r"image_shape=\(4, 4\) holds 16 values.*30 features"):
        NumpyCNNClassifier(image_shape=(4, 4)).fit(X, y)


@pytest.mark.parametrize("n_features, expected", [(1, (1, 1, 1)), (7, (1, 1, 7)), (9, (1, 3, 3)), (50, (1, 1, 50))])
def test_any_number_of_features(n_features, expected):
    rng = np.random.RandomState(0)
    X = rng.rand(20, n_features)
    y = (X[:, 0] > 0.5).astype(int)
    clf = NumpyCNNClassifier(max_iter=3, random_state=0).fit(X, y)
    assert clf.image_shape_ == expected
    proba = clf.predict_proba(X)
    assert proba.shape == (20, 2) and np.all(np.isfinite(proba))


def test_pipeline_and_grid_search_with_n_jobs(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipe = make_pipeline(MinMaxScaler(), small(max_iter=4))
    # A step of 1e-7 cannot learn in 4 epochs: the search must pick 0.01.
    grid = {"numpycnnclassifier__learning_rate_init": [1e-7, 0.01]}
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X_train * 16, y_train)
    assert search.best_params_ == {"numpycnnclassifier__learning_rate_init": 0.01}
    assert search.score(X_test * 16, y_test) >= 0.9
    # n_jobs=2 (loky processes) gives the same scores as n_jobs=1.
    serial = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(X_train * 16, y_train)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


def test_cross_val_score(digits_split):
    X_train, _, y_train, _ = digits_split
    scores = cross_val_score(small(max_iter=4), X_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() >= 0.9


def test_clone_and_pickle_round_trip(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = small(max_iter=2).fit(X_train, y_train)
    unfitted = clone(clf)
    assert not hasattr(unfitted, "coefs_")
    assert unfitted.get_params() == clf.get_params()
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    # The restored model still trains, and its coefs_ are still its live weights.
    restored.partial_fit(X_train, y_train)
    assert not np.array_equal(restored.coefs_[0], clf.coefs_[0])
    assert restored.coefs_[0] is restored.layers_[0].weight
    # ... exactly as the original does (shuffling and dropout masks included).
    clf.partial_fit(X_train, y_train)
    for a, b in zip(restored.coefs_ + restored.intercepts_, clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_streaming(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = small()
    classes = np.arange(10)
    for epoch in range(5):
        for chunk in np.array_split(np.arange(len(X_train)), 5):
            clf.partial_fit(X_train[chunk], y_train[chunk], classes=classes if epoch == 0 else None)
    # As MLPClassifier: n_iter_ counts the epochs of the last call, t_ every sample seen.
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 25 and clf.t_ == 5 * len(X_train)
    assert clf.score(X_test, y_test) >= 0.93
    with pytest.raises(ValueError, match=r"labels not in classes: \[11\]"):
        clf.partial_fit(X_train[:3], [1, 11, 2])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        small().partial_fit(X_train, y_train)


def test_partial_fit_sees_classes_missing_from_first_chunk(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = small().partial_fit(X_train[y_train < 5], y_train[y_train < 5], classes=np.arange(10))
    assert clf.predict_proba(X_test).shape == (len(X_test), 10)
    clf.partial_fit(X_train, y_train)
    assert set(clf.predict(X_test)) > set(range(5))


def test_warm_start_continues_training(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = small(max_iter=2, warm_start=True).fit(X_train, y_train)
    clf.fit(X_train, y_train)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 4  # n_iter_: this call's epochs
    # It continued from the trained weights (with a new optimizer, as
    # MLPClassifier): its third epoch starts where a fresh first epoch never is.
    fresh = small(max_iter=2).fit(X_train, y_train)
    assert clf.loss_curve_[:2] == fresh.loss_curve_
    assert clf.loss_curve_[2] < 0.5 * fresh.loss_curve_[0]
    cold = small(max_iter=2).fit(X_train, y_train)
    cold.fit(X_train, y_train)
    assert cold.n_iter_ == 2
    with pytest.raises(ValueError, match="filters changed"):
        clf.set_params(filters=(4,)).fit(X_train, y_train)


def test_warm_start_and_partial_fit_take_a_new_dropout_rate(digits_split, monkeypatch):
    X_train, _, y_train, _ = digits_split
    clf = small(max_iter=1, warm_start=True, dropout=0.5).fit(X_train, y_train)
    clf.set_params(dropout=0.2).fit(X_train, y_train)
    assert len(clf.loss_curve_) == 2
    assert [layer.rate for layer in clf.layers_ if isinstance(layer, Dropout)] == [0.2]
    clf.set_params(dropout=0.3).partial_fit(X_train, y_train)
    assert [layer.rate for layer in clf.layers_ if isinstance(layer, Dropout)] == [0.3]
    before = pickle.dumps(clf)
    with pytest.raises(ValueError, match="dropout changed from 0.3 to 0.0.*on or off"):
        clf.set_params(dropout=0.0).partial_fit(X_train, y_train)
    assert pickle.dumps(clf.set_params(dropout=0.3)) == before
    # A call that fails during training takes its new rate back with everything else.
    def failing_step(self, *args):
        assert [layer.rate for layer in self.layers_ if isinstance(layer, Dropout)] == [0.4]
        raise MemoryError("simulated")

    monkeypatch.setattr(NumpyCNNClassifier, "_train_step", failing_step)
    with pytest.raises(MemoryError):
        clf.set_params(dropout=0.4).partial_fit(X_train, y_train)
    assert pickle.dumps(clf.set_params(dropout=0.3)) == before


def test_early_stopping_keeps_the_best_weights(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = small(early_stopping=True, max_iter=30, n_iter_no_change=3).fit(X_train, y_train)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None  # as MLPClassifier: the validation score rules
    assert clf.score(X_test, y_test) >= 0.93


def test_verbose_prints_one_line_per_epoch(digits_split, capsys):
    X_train, _, y_train, _ = digits_split
    small(max_iter=3, verbose=True, early_stopping=True).fit(X_train, y_train)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("Training on ")
    assert lines[1].startswith("Iteration 1, loss = ")  # as MLPClassifier
    assert "validation score = " in lines[1] and "s/epoch" in lines[1] and "left" in lines[1]


def test_dataframe_feature_names(digits_split):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, _ = digits_split
    columns = [f"pixel_{i}" for i in range(64)]
    clf = small(max_iter=1).fit(pd.DataFrame(X_train, columns=columns), y_train)
    assert list(clf.feature_names_in_) == columns
    assert clf.predict(pd.DataFrame(X_test, columns=columns)).shape == (len(X_test),)


def test_string_labels_and_class_weight():
    X, y = load_digits(n_class=3, return_X_y=True)
    labels = np.array(["zero", "one", "two"])[y]
    clf = small(max_iter=3, class_weight={"zero": 1e-4}).fit(X / 16, labels)
    assert list(clf.classes_) == ["one", "two", "zero"]
    assert np.mean(clf.predict(X / 16) == "zero") < 0.1
    with pytest.raises(ValueError, match=r"class_weight has labels that are not classes: \['three'\]"):
        small(class_weight={"three": 2.0}).fit(X / 16, labels)


def test_early_stopping_auto_holds_out_data_from_5000_samples(monkeypatch):
    from skcnn import _base

    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 16), np.arange(60) % 3
    params = dict(filters=(2,), hidden_layer_sizes=(), max_iter=2, random_state=0)
    clf = NumpyCNNClassifier(**params).fit(X, y)  # "auto", below the threshold
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    monkeypatch.setattr(_base, "EARLY_STOPPING_AUTO_MIN_SAMPLES", 60)
    clf = NumpyCNNClassifier(**params).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == 2
    # The same split and training as early_stopping=True.
    explicit = NumpyCNNClassifier(early_stopping=True, **params).fit(X, y)
    assert clf.validation_scores_ == explicit.validation_scores_
    # "auto" holds nothing out when a class is too rare for a stratified split.
    rare = np.r_[np.arange(59) % 2, 2]
    assert NumpyCNNClassifier(**params).fit(X, rare).validation_scores_ is None
    with pytest.raises(ValueError, match="least populated class"):
        NumpyCNNClassifier(early_stopping=True, **params).fit(X, rare)
    # partial_fit never holds data out with "auto".
    streamed = NumpyCNNClassifier(**params).partial_fit(X, y, classes=[0, 1, 2])
    assert streamed.validation_scores_ is None
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        NumpyCNNClassifier(early_stopping=True, **params).partial_fit(X, y, classes=[0, 1, 2])


def test_channels_last_images_get_a_warning_that_says_what_to_pass():
    rng = np.random.RandomState(0)
    X, y = rng.rand(12, 6, 6, 3), np.arange(12) % 2
    params = dict(filters=(2,), hidden_layer_sizes=(), max_iter=1)
    with pytest.warns(UserWarning, match=r"read as 6 channels of 6 x 3 images.*np.moveaxis\(X, -1, 1\)"):
        NumpyCNNClassifier(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NumpyCNNClassifier(**params).fit(np.moveaxis(X, -1, 1), y)
    assert clf.image_shape_ == (3, 6, 6)


def test_one_image_passed_as_2d_gets_a_hint(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = small(max_iter=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"expecting 64 features.*shape \(8, 8\) of one image: pass X\[None\]"):
        clf.predict(X_test[0].reshape(8, 8))
    assert clf.predict(X_test[0].reshape(8, 8)[None]).shape == (1,)


def test_verbose_says_how_samples_are_read(capsys):
    rng = np.random.RandomState(0)
    NumpyCNNClassifier(filters=(2,), max_iter=1, verbose=True).fit(rng.rand(20, 100), np.arange(20) % 2)
    first = capsys.readouterr().out.splitlines()[0]
    assert "20 samples read as 1 x 10 x 10 images" in first and "float32" in first


def test_a_single_class_fits_and_predicts_that_class(digits_split):
    """As MLPClassifier: one class in y is a model that predicts it."""
    X_train, X_test, _, _ = digits_split
    clf = small(max_iter=2).fit(X_train[:40], np.full(40, "seven"))
    assert clf.classes_.tolist() == ["seven"]
    assert (clf.predict(X_test) == "seven").all()
    np.testing.assert_array_equal(clf.predict_proba(X_test), np.ones((len(X_test), 1)))
    streamed = small().partial_fit(X_train[:40], np.full(40, 3), classes=[3])
    assert (streamed.predict(X_test[:5]) == 3).all()



@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_sgd_learning_rate_schedules_as_mlpclassifier(digits_split, schedule):
    X_train, X_test, y_train, y_test = digits_split
    # tol=10: every epoch after the first counts as no progress.
    clf = small(solver="sgd", learning_rate=schedule, power_t=0.25, n_iter_no_change=1,
                tol=10.0, max_iter=6, learning_rate_init=0.05)
    clf.fit(X_train, y_train)
    step = clf._optimizer.learning_rate
    if schedule == "constant":  # stops when no progress for 2 epochs, as MLP
        assert clf.n_iter_ == 3 and step == 0.05
    elif schedule == "invscaling":
        assert clf.n_iter_ == 3 and step == pytest.approx(0.05 / (clf.t_ + 1) ** 0.25)
    else:  # divides the step by 5 instead of stopping, twice in 6 epochs
        assert clf.n_iter_ == 6 and step == pytest.approx(0.05 / 25)
    assert clf.score(X_test, y_test) > 0.5


def test_no_weight_or_optimizer_moment_stays_subnormal_after_an_epoch(few_digits):
    # Subnormal floats make every operation on them many times slower. The
    # first pixel of every digit is 0, so without a penalty the weights it
    # feeds get no gradient at all: made subnormal, they would stay so.
    X, y = few_digits
    assert not X[:, 0].any()
    clf = NumpyCNNClassifier(filters=(), dropout=0.0, alpha=0.0, random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10))
    tiny = np.finfo(np.float32).tiny
    clf.coefs_[0][0, :5] = tiny / 8
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0][0, :5], 0)
    for a in clf._model_arrays() + clf._optimizer.arrays():
        assert not ((np.abs(a) < tiny) & (a != 0)).any()


# ------------------------------------------------- as MLPClassifier documents


@pytest.fixture(scope="module")
def saturated_multilabel():
    """A multilabel model whose logits are its output biases (set by the test)."""
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(60, 8, n_classes=5, random_state=0)
    clf = NumpyCNNClassifier(filters=(), hidden_layer_sizes=(4,), dropout=0.0, max_iter=1,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X / X.max(), Y)
    clf.coefs_[-1][...] = 0
    return clf, X[:3] / X.max()


@pytest.mark.parametrize("dtype, logits", [
    (np.float64, [-3.0, 40.0, 45.0, 2.0, -800.0]),
    (np.float32, [-3.0, 18.0, 20.0, 2.0, -120.0]),
])
def test_multilabel_log_proba_is_the_log_of_proba_when_saturated(saturated_multilabel, dtype, logits):
    # Labels 1 and 2 both have probability 1 (in float32 from a logit of
    # about 17 on): both methods rank them alike, though the log-sigmoid of
    # the second logit exceeds that of the first.
    clf, X = saturated_multilabel
    clf.intercepts_[-1][...] = logits
    X = X.astype(dtype)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert proba.dtype == log_proba.dtype == dtype
    assert (proba[:, 1] == 1).all() and (proba[:, 2] == 1).all()
    np.testing.assert_array_equal(log_proba.argmax(axis=1), proba.argmax(axis=1))
    np.testing.assert_array_equal(np.argsort(log_proba[:, :4]), np.argsort(proba[:, :4]))
    # log(predict_proba), as MLPClassifier: -inf where a probability underflows.
    assert (proba[:, 4] == 0).all()
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(log_proba, np.log(proba))
    np.testing.assert_allclose(log_proba[:, 3], -np.log1p(np.exp(-2.0)), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), np.tile([0, 1, 1, 1, 0], (3, 1)))


def test_proba_and_log_proba_come_in_mlpclassifiers_dtype(digits_split):
    """float32 for a float32 model on float32 X, else float64, as MLPClassifier."""
    import pandas as pd
    from scipy.sparse import csr_matrix
    from sklearn.neural_network import MLPClassifier

    X_train, X_test, y_train, _ = digits_split
    X_train, X_test, y_train = X_train[:200], X_test[:20], y_train[:200]
    f32 = np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = {"float32": small(max_iter=1).fit(X_train, y_train),
                "float64": small(max_iter=1, dtype=np.float64).fit(X_train, y_train)}
        mlps = {name: MLPClassifier((8,), max_iter=1, random_state=0).fit(
                    X_train.astype(name), y_train) for name in ours}
    inputs = {"float32": X_test.astype(f32), "float64": X_test, "int": (16 * X_test).astype(int),
              "list": X_test.tolist(), "float32 DataFrame": pd.DataFrame(X_test.astype(f32)),
              "float32 sparse": csr_matrix(X_test.astype(f32))}
    for model in ours:
        for name, X in inputs.items():
            for method in ("predict_proba", "predict_log_proba"):
                expected = getattr(mlps[model], method)(X).dtype
                got = getattr(ours[model], method)(X)
                assert got.dtype == expected, (model, name, method)
            # predict is the argmax of predict_proba in that dtype.
            proba = ours[model].predict_proba(X)
            np.testing.assert_array_equal(ours[model].predict(X), proba.argmax(axis=1))
    assert ours["float32"].predict_proba(inputs["float32"]).dtype == f32  # not all float64


def test_warm_start_with_new_classes_says_what_mlpclassifier_says(digits_split):
    from sklearn.neural_network import MLPClassifier

    X_train, _, y_train, _ = digits_split
    X, y = X_train[:100], y_train[:100]
    few = np.isin(y, [0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((8,), max_iter=1, warm_start=True).fit(X, y)
        with pytest.raises(ValueError) as mlp_error:
            mlp.fit(X[few], y[few])
        clf = small(max_iter=1, warm_start=True).fit(X, y)
        before = [a.copy() for a in clf.coefs_]
        with pytest.raises(ValueError) as our_error:
            clf.fit(X[few], y[few])
    message = str(our_error.value)
    assert message.startswith(str(mlp_error.value))
    assert message.endswith("Set warm_start=False (or clone the estimator) to fit a new model.")
    for a, b in zip(before, clf.coefs_):
        np.testing.assert_array_equal(a, b)
