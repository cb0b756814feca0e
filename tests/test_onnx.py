"""ONNX export (skcnn.onnx): onnxruntime predicts what the estimators predict.

Every test exports a fitted model with skl2onnx, runs it in onnxruntime and
compares with the model's own predict / predict_proba: labels equal,
probabilities and regression values within 1e-5 (the graph computes in
float32, as the models do by default).
"""


import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

pytest.importorskip("skl2onnx", reason="needs the 'onnx' extra: pip install '.[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the 'onnx' extra: pip install '.[onnx]'")

from skl2onnx import to_onnx  # noqa: E402

import skcnn.onnx  # noqa: E402
from skcnn import NumpyCNNClassifier, NumpyCNNRegressor  # noqa: E402
from skcnn._network import Sequential  # noqa: E402
from skcnn.layers import (  # noqa: E402
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Logistic,
    MaxPool2D,
    ReLU,
    Tanh,
)

ATOL = 1e-5
# Small, quick networks: the tests check the export, not the learning.
TINY = dict(
    filters=(4,), hidden_layer_sizes=(16,), dropout=0.1, max_iter=10, batch_size=50,
    learning_rate_init=0.02, random_state=0,
)


@pytest.fixture(scope="module")
def data(few_digits):
    """200 training and 100 test digits as float32 ``(X, y, X_test, y_test)``."""
    X, y = few_digits
    X = X.astype(np.float32)
    return X[:200], y[:200], X[200:], y[200:]


def run(model, X, options=None, export_X=None):
    """Export ``model`` for inputs like ``export_X`` (default ``X``) and run it on ``X``."""
    onx = to_onnx(model, (X if export_X is None else export_X)[:1], options=options)
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def assert_classifier_matches(model, X, **kwargs):
    label, proba = run(model, X, options={"zipmap": False}, **kwargs)
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)
    return label, proba


def assert_regressor_matches(model, X, **kwargs):
    (prediction,) = run(model, X, **kwargs)
    expected = model.predict(X)
    assert prediction.shape == expected.shape
    np.testing.assert_allclose(prediction, expected, rtol=ATOL, atol=ATOL)
    return prediction


# ------------------------------------------------ the estimator's architectures


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(dict(padding="same", kernel_size=3), id="same"),
        pytest.param(dict(padding="same", kernel_size=2), id="same-even-kernel"),
        pytest.param(dict(padding="same", kernel_size=(4, 3)), id="same-even-odd-kernel"),
        pytest.param(dict(padding="valid", kernel_size=3), id="valid"),
        pytest.param(dict(padding=1, kernel_size=2), id="int-padding"),
        pytest.param(dict(padding=(2, 0), kernel_size=3), id="pair-padding"),
        pytest.param(dict(pool_size=3), id="pool-not-tiling"),
        pytest.param(dict(pool_size=(2, 3)), id="pool-pair"),
        pytest.param(dict(pool_size=1), id="no-pool"),
        pytest.param(dict(activation="tanh"), id="tanh"),
        pytest.param(dict(activation="logistic"), id="logistic"),
        pytest.param(dict(activation="identity"), id="identity"),
        pytest.param(dict(dropout=0.0), id="no-dropout"),
        pytest.param(dict(filters=(3, 4), hidden_layer_sizes=(12, 8)), id="deeper"),
        pytest.param(dict(filters=(), hidden_layer_sizes=(16,)), id="dense-only"),
        pytest.param(dict(image_shape=(4, 4, 4), kernel_size=2), id="channels"),
        pytest.param(dict(dtype=np.float64), id="float64-model"),
    ],
)
def test_classifier_architectures(data, params):
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**{**TINY, **params}).fit(X, y)
    assert len(np.unique(model.predict(X_test))) > 1  # labels worth comparing
    assert_classifier_matches(model, X_test)


def test_flat_signal(data):
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X[:, :60], y)
    assert model.image_shape_ == (1, 1, 60)
    assert_classifier_matches(model, X_test[:, :60])


def test_image_input(data):
    """4-D images export as they are and are read as the model reads them."""
    X, y, X_test, _ = data
    images = X.reshape(-1, 1, 8, 8)
    model = NumpyCNNClassifier(**TINY).fit(images, y)
    assert_classifier_matches(model, X_test.reshape(-1, 1, 8, 8))


def test_float64_input(data):
    """A float64 X is cast to float32 in the graph; the outputs are float64."""
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, y)
    _, proba = assert_classifier_matches(model, X_test.astype(np.float64))
    assert proba.dtype == np.float64


# ------------------------------------------------------------ any layer stack


def _network_of(layers, image_shape, n_outputs, seed=0):
    """A fitted regressor computing ``layers`` (random weights and biases).

    The estimators build conv blocks of stride 1 only; this fixture swaps
    in any stack of layers, so that every layer option is exported.
    """
    rng = np.random.RandomState(seed)
    n = int(np.prod(image_shape))
    X, Y = rng.rand(20, n), rng.rand(20, n_outputs)
    model = NumpyCNNRegressor(filters=(), hidden_layer_sizes=(), image_shape=image_shape,
                              max_iter=1, random_state=seed).fit(X, Y)
    network = Sequential(layers)
    network.build(model.image_shape_, rng, np.float32)
    for layer in network.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias[...] = rng.uniform(-0.5, 0.5, layer.bias.shape)
    model._network = network
    return model


@pytest.mark.parametrize(
    "layers, image_shape",
    [
        pytest.param([Conv2D(4, 3, stride=2, padding=1)], (2, 9, 7), id="conv-stride-2"),
        pytest.param([Conv2D(4, (3, 2), stride=(1, 3))], (2, 9, 8), id="conv-stride-pair"),
        pytest.param([Conv2D(3, (2, 4), padding="same")], (3, 5, 6), id="conv-same-even"),
        pytest.param([Conv2D(3, 3, padding=(0, 2), bias=False)], (1, 6, 6), id="conv-no-bias"),
        pytest.param([Conv2D(3, 2), MaxPool2D(3, stride=2)], (2, 10, 9), id="pool-overlapping"),
        pytest.param([MaxPool2D((2, 3), stride=(1, 2))], (2, 7, 8), id="pool-stride-pair"),
        pytest.param([Conv2D(3, 3), Tanh(), MaxPool2D(2), Logistic()], (1, 9, 9), id="activations"),
        pytest.param([Conv2D(2, 3), Identity(), ReLU()], (1, 5, 5), id="identity-relu"),
    ],
)
def test_layer_options(layers, image_shape):
    """Each stack ends with Flatten -> Dropout -> Dense: Flatten in NCHW order."""
    layers = layers + [Flatten(), Dropout(0.5), Dense(5), ReLU(), Dense(3, bias=False)]
    model = _network_of(layers, image_shape, 3)
    X = np.random.RandomState(1).normal(size=(30, int(np.prod(image_shape)))).astype(np.float32)
    prediction = assert_regressor_matches(model, X)
    assert prediction.std() > 0


# ------------------------------------------------------------------- outputs


def test_binary(data):
    X, y, X_test, y_test = data
    model = NumpyCNNClassifier(**TINY).fit(X, y % 2)
    assert_classifier_matches(model, X_test)


def test_binary_model_has_one_logit_column(data):
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, np.where(y % 2, "odd", "even"))
    assert model.coefs_[-1].shape[1] == 1  # one logistic unit, as MLPClassifier
    label, proba = assert_classifier_matches(model, X_test)
    assert proba.shape == (len(X_test), 2)


def _multilabel_y(y):
    return np.column_stack([y % 2, y >= 5, y % 3 == 0]).astype(int)


def test_multilabel_model(data):
    """A sigmoid per label, and labels where the probability is above 0.5."""
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, _multilabel_y(y))
    label, proba = run(model, X_test, options={"zipmap": False})
    np.testing.assert_allclose(proba, model.predict_proba(X_test), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(label, model.predict(X_test))
    assert label.dtype == np.int64 and label.shape == (len(X_test), 3)
    zipped_label, zipped = run(model, X_test)  # zipmap: a {column: p} dict per sample
    np.testing.assert_array_equal(zipped_label, label)
    np.testing.assert_allclose([[row[c] for c in range(3)] for row in zipped], proba, atol=ATOL)


def test_zipmap(data):
    """By default (skl2onnx's zipmap) probabilities are one {class: p} dict per sample."""
    X, y, X_test, _ = data
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    model = NumpyCNNClassifier(**TINY).fit(X, names[y])
    label, proba = run(model, X_test)
    np.testing.assert_array_equal(label, model.predict(X_test))
    assert isinstance(proba, list) and set(proba[0]) == set(names)
    as_array = np.array([[row[c] for c in model.classes_] for row in proba])
    np.testing.assert_allclose(as_array, model.predict_proba(X_test), rtol=0, atol=ATOL)
    outputs = run(model, X_test, options={"zipmap": "columns"})
    columns = np.column_stack(outputs[1:])  # one output per class, in classes_ order
    np.testing.assert_allclose(columns, model.predict_proba(X_test), rtol=0, atol=ATOL)


def test_nocl_labels_are_indices(data):
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, y + 10)
    label, _ = run(model, X_test, options={"zipmap": False, "nocl": True})
    np.testing.assert_array_equal(label, model.predict(X_test) - 10)


# ----------------------------------------------------------------- regressors


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("two_d", [False, True], ids=["1d-y", "2d-y"])
def test_regressor(data, loss, two_d):
    X, y, X_test, _ = data
    target = np.column_stack([y, 9 - y]) if two_d else y
    model = NumpyCNNRegressor(**{**TINY, "loss": loss}).fit(X, target / 3)
    prediction = assert_regressor_matches(model, X_test)
    assert prediction.ndim == (2 if two_d else 1)
    if loss == "poisson":
        assert (prediction > 0).all()


# ------------------------------------------------------------------ pipelines


def test_classifier_pipeline(data):
    X, y, X_test, _ = data
    pipe = make_pipeline(StandardScaler(), NumpyCNNClassifier(**TINY)).fit(X, y)
    assert_classifier_matches(pipe, X_test)


def test_regressor_pipeline(data):
    X, y, X_test, _ = data
    pipe = make_pipeline(MinMaxScaler(), NumpyCNNRegressor(**TINY)).fit(X, y.astype(float))
    assert_regressor_matches(pipe, X_test)


# --------------------------------------------------------------------- errors


def test_layer_without_converter(data, monkeypatch):
    X, y, _, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, y)
    monkeypatch.delitem(skcnn.onnx.LAYER_CONVERTERS, MaxPool2D)
    with pytest.raises(NotImplementedError, match=r"layer 1, MaxPool2D\(pool_size=\(2, 2\).*skcnn\.layers\.MaxPool2D"):
        to_onnx(model, X[:1])


def test_subclass_needs_its_own_converter(data):
    class LeakyReLU(ReLU):
        pass

    model = _network_of([Conv2D(2, 3), LeakyReLU(), Flatten(), Dense(2)], (1, 5, 5), 2)
    with pytest.raises(NotImplementedError, match="layer 1, LeakyReLU.*register_layer_converter"):
        to_onnx(model, np.zeros((1, 25), np.float32))


def test_register_layer_converter(data, monkeypatch):
    """A converter registered for a class is the one the export uses."""
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, y)
    monkeypatch.setitem(skcnn.onnx.LAYER_CONVERTERS, ReLU, None)  # restored after the test
    calls = []

    @skcnn.onnx.register_layer_converter(ReLU)
    def relu(layer, graph, x):
        calls.append(layer)
        return graph.node("Relu", [x])

    assert_classifier_matches(model, X_test)
    assert len(calls) == 2  # after the conv block and the hidden layer
    with pytest.raises(TypeError, match="layer_class must be a layer class"):
        skcnn.onnx.register_layer_converter("ReLU")


def test_unfitted_model():
    with pytest.raises(NotFittedError):
        to_onnx(NumpyCNNClassifier(), np.zeros((1, 64), np.float32))


def test_wrong_number_of_features(data):
    X, y, _, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"input samples of shape \(60,\).*64 features"):
        to_onnx(model, X[:1, :60])


def test_float_classes(data):
    """Integral float labels come out as int64, as skl2onnx exports them."""
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(**TINY).fit(X, y.astype(float))
    label, _ = assert_classifier_matches(model, X_test)
    assert label.dtype == np.int64
