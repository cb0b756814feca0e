"""The network's features reused: transform, get_feature_names_out,
transform_layer and layer_outputs, as a Pipeline step, in FeatureUnion and
ColumnTransformer, in bounded memory."""

import copy
import pickle
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.svm import SVC

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn.layers import Conv1D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Tanh


def small_cnn(**params):
    params = {"filters": (4, 8), "hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0,
              **params}
    return NumpyCNNClassifier(**params)


def fit_quietly(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.fixture(scope="module")
def fitted(few_digits):
    X, y = few_digits
    return fit_quietly(small_cnn(), X, y)


def test_transform_is_the_input_of_the_output_layer(fitted, few_digits):
    X = few_digits[0][:50].astype(np.float32)
    features = fitted.transform(X)
    assert features.shape == (50, 16) and features.dtype == np.float32
    out = fitted.layers_[-1]
    np.testing.assert_allclose(
        features @ out.weight + out.bias, fitted.layer_outputs(X, "out"), rtol=1e-5, atol=1e-5
    )
    # The last hidden layer's activation (relu), not the Dropout after it.
    assert fitted.layer_names_[-3:] == ["relu3", "drop2", "out"]
    np.testing.assert_array_equal(features, fitted.layer_outputs(X, "relu3"))
    assert (features >= 0).all()
    names = fitted.get_feature_names_out()
    assert names.dtype == object and list(names) == [f"relu3_{i}" for i in range(16)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_transform_keeps_float_dtypes(fitted, few_digits, dtype):
    X = (few_digits[0][:20] * (16 if dtype == np.int64 else 1)).astype(dtype)
    features = fitted.transform(X)
    assert features.dtype == (np.float32 if dtype == np.int64 else dtype)
    # The same features, to float32's rounding: float64 computes in float64.
    reference = fitted.layer_outputs(X, "relu3")
    np.testing.assert_allclose(features, reference, rtol=1e-5, atol=1e-6)


def test_float64_features_do_not_depend_on_the_batch(fitted, few_digits):
    X = few_digits[0][:40]
    together = fitted.transform(X)
    alone = np.vstack([fitted.transform(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-12)


def test_a_dataframe_keeps_its_dtype(fitted, few_digits):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(few_digits[0][:10].astype(np.float32))
    assert fitted.transform(X).dtype == np.float32


def test_transform_layer_picks_a_layer_by_name(fitted, few_digits):
    X = few_digits[0][:12].astype(np.float32)
    est = copy.deepcopy(fitted).set_params(transform_layer="conv2")  # no refit needed
    maps = fitted.layer_outputs(X, "conv2")
    assert maps.shape == (12, 8, 4, 4)
    features = est.transform(X)
    np.testing.assert_array_equal(features, maps.reshape(12, -1))
    names = est.get_feature_names_out()
    assert len(names) == 8 * 4 * 4
    # Named channel_row_column, in the order a Flatten layer reads them.
    assert names[0] == "conv2_0_0_0" and names[1] == "conv2_0_0_1" and names[4] == "conv2_0_1_0"
    assert names[16] == "conv2_1_0_0" and names[-1] == "conv2_7_3_3"
    assert fitted.transform_layer is None  # its own features are unchanged
    assert fitted.transform(X).shape == (12, 16)


def test_a_layer_that_is_not_in_the_network_is_named(fitted, few_digits):
    X = few_digits[0][:5]
    est = copy.deepcopy(fitted).set_params(transform_layer="fc9")
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match=r"transform_layer.*Received transform_layer='fc9'"):
        est.transform(X)
    with pytest.raises(ValueError, match=r"'conv1', 'pool1'"):  # lists the layers there are
        est.get_feature_names_out()
    assert pickle.dumps(est) == before
    with pytest.raises(ValueError, match=r"layer_names_: \['conv1'.*Received layers=\['conv1', 'fc9'\], and 'fc9' is not one"):
        fitted.layer_outputs(X, ["conv1", "fc9"])
    with pytest.raises(ValueError, match=r"non-empty list of layer names.*Received layers=\[\]"):
        fitted.layer_outputs(X, [])


def test_a_layer_list_gives_its_last_layer(few_digits):
    X, y = few_digits
    layers = [("conv", Conv2D(3, 3, padding="same")), ("relu", ReLU()), ("pool", MaxPool2D(2)),
              ("flat", Flatten()), ("fc", Dense(10)), ("tanh", Tanh())]
    est = fit_quietly(NumpyCNNClassifier(layers=layers, max_iter=2, random_state=0), X, y)
    features = est.transform(X[:7])
    assert features.shape == (7, 10) and np.abs(features).max() <= 1
    assert est.get_feature_names_out()[0] == "tanh_0"
    layers[-1] = ("fc2", Dense(6))  # no activation: the dense outputs feed the output layer
    est = fit_quietly(NumpyCNNClassifier(layers=layers[:-1] + [layers[-1]], max_iter=2), X, y)
    assert est.get_feature_names_out()[-1] == "fc2_5"


def test_a_signal_layer_is_named_by_channel_and_position(few_digits):
    X, y = few_digits
    layers = [("conv1", Conv1D(3, 5)), ("relu", ReLU()), ("flat", Flatten())]
    clf = fit_quietly(NumpyCNNClassifier(layers=layers, image_shape=(1, 64), max_iter=1,
                                         transform_layer="conv1"), X, y)
    X4 = X[:4].astype(np.float32)
    features = clf.transform(X4)
    maps, flat = clf.layer_outputs(X4, ["conv1", "flat"])
    assert maps.shape == (4, 3, 60)
    np.testing.assert_array_equal(features, maps.reshape(4, -1))
    np.testing.assert_array_equal(np.maximum(features, 0), flat)  # Flatten's order
    names = clf.get_feature_names_out()
    assert len(names) == 3 * 60 and names[1] == "conv1_0_1" and names[60] == "conv1_1_0"


def test_fit_transform_is_fit_then_transform(few_digits):
    X, y = few_digits
    est = small_cnn(max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        once = est.fit_transform(X, y)
        again = clone(est).fit(X, y).transform(X)
    np.testing.assert_array_equal(once, again)


def test_regressor_transform(few_digits):
    X, y = few_digits
    reg = fit_quietly(NumpyCNNRegressor(filters=(4,), hidden_layer_sizes=(8,), max_iter=2,
                                        random_state=0), X, y.astype(float))
    features = reg.transform(X[:9])
    assert features.shape == (9, 8)
    out = reg.layers_[-1]
    np.testing.assert_allclose(
        (features @ out.weight + out.bias).ravel(), reg.predict(X[:9]), rtol=1e-5, atol=1e-4
    )


def test_sparse_input(fitted, few_digits):
    X = few_digits[0][:30]
    np.testing.assert_array_equal(fitted.transform(sparse.csr_matrix(X)), fitted.transform(X))


def test_layer_outputs_by_name(fitted, few_digits):
    X = few_digits[0][:6]
    every = fitted.layer_outputs(X)
    assert len(every) == len(fitted.layer_names_)
    assert [a.shape[1:] for a in every] == [tuple(layer.output_shape) for layer in fitted.layers_]
    one = fitted.layer_outputs(X, "pool1")
    assert isinstance(one, np.ndarray) and one.flags.c_contiguous
    np.testing.assert_array_equal(one, every[fitted.layer_names_.index("pool1")])
    two = fitted.layer_outputs(X, ["out", "conv1"])
    np.testing.assert_array_equal(two[0], every[-1])
    np.testing.assert_array_equal(two[1], every[0])


def test_layer_outputs_in_small_batches_are_the_same(fitted, few_digits, monkeypatch):
    # Many batches (and more than one thread) give every sample the same outputs.
    X = few_digits[0][:200]
    whole = fitted.layer_outputs(X, ["conv1", "relu3"])
    monkeypatch.setattr("skcnn._base._PREDICT_BATCH_BYTES", 64 * 1024)
    assert fitted._predict_batch_size() < 20
    batched = copy.deepcopy(fitted).set_params(n_jobs=2)
    for a, b in zip(whole, batched.layer_outputs(X, ["conv1", "relu3"])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_transform_memory_is_the_result_and_one_batch(few_digits):
    # 20,000 samples: every layer's outputs would take 210 MB, the first
    # convolution's of all the samples at once 80 MB.
    X, y = few_digits
    est = fit_quietly(NumpyCNNClassifier(filters=(16, 32), hidden_layer_sizes=(16,), max_iter=1,
                                         random_state=0, n_jobs=2), X, y)
    X_big = np.tile(X.astype(np.float32), (67, 1))[:20_000]
    all_layers = sum(int(np.prod(layer.output_shape)) for layer in est.layers_) * 4 * len(X_big)
    assert all_layers > 200e6
    tracemalloc.start()
    try:
        features = est.transform(X_big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert features.shape == (20_000, 16)
    # The result (1.3 MB) and at most a batch in flight per thread (16 MB
    # each, 2 threads); 4,096 samples at once would take 46 MB.
    assert peak < 34 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_in_a_pipeline_feature_union_and_column_transformer(few_digits):
    pd = pytest.importorskip("pandas")
    X, y = few_digits
    pipe = make_pipeline(small_cnn(), SVC())
    fit_quietly(pipe, X, y)
    assert pipe.score(X, y) > 0.5
    union = FeatureUnion([("cnn", small_cnn()), ("pca", PCA(n_components=3))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        both = union.fit_transform(X, y)
    assert both.shape == (len(X), 19)
    names = union.get_feature_names_out()
    assert names[0] == "cnn__relu3_0" and names[-1] == "pca__pca2"
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(64)]).assign(extra=np.arange(len(X)))
    columns = ColumnTransformer(
        [("cnn", small_cnn(), [f"pixel{i}" for i in range(64)])], remainder="passthrough"
    ).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = columns.fit_transform(frame, y)
    assert list(out.columns[:2]) == ["cnn__relu3_0", "cnn__relu3_1"]
    assert list(out.columns[-1:]) == ["remainder__extra"] and out.shape == (len(X), 17)


def test_models_saved_by_0_1_0_transform():
    saved = Path(__file__).parent / "data" / "saved_0_1_0" / "classifier_builtin.pkl"
    with open(saved, "rb") as f:
        model = pickle.load(f)
    assert model.get_params()["transform_layer"] is None
    X = np.load(saved.parent / "expected.npz")["X"]
    assert model.transform(X).shape[0] == len(X)
    assert "transform_layer" not in repr(model)
