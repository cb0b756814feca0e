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

import skcnn.layers  # noqa: E402
import skcnn.onnx  # noqa: E402
from skcnn import NumpyCNNClassifier, NumpyCNNRegressor  # noqa: E402
from skcnn.layers import (  # noqa: E402
    AvgPool1D,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    Identity,
    LeakyReLU,
    Logistic,
    MaxPool1D,
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


# ------------------------------------------------------ layer lists: any stack


def _stack(*layers):
    """``layers`` as the ``(name, layer)`` pairs of the estimators' ``layers``."""
    return [(f"{type(layer).__name__.lower()}{i}", layer) for i, layer in enumerate(layers)]


# Stacks on the 8x8 digits (images, or 1 x 64 signals) covering every layer
# class of skcnn.layers, and the sizes where ONNX's and our conventions could
# part: pools that do not tile their input (floor mode drops the last row and
# column), strided and padded convolutions, batch norm in 2-D and 1-D (on
# features and on signals) with a non-default eps.
NEW_LAYER_STACKS = {
    "bn-maxpool-gap": _stack(
        Conv2D(6, 3, padding=1), BatchNorm2D(), ReLU(),
        MaxPool2D(3, stride=2),                         # 8x8 -> 3x3, row 7 dropped
        Conv2D(8, 3, stride=2, padding=1), BatchNorm2D(eps=1e-3), ReLU(),  # -> 2x2
        GlobalAvgPool2D(), Dense(16), BatchNorm1D(), ReLU(), Dropout(0.1),
    ),
    "avgpool-gmp": _stack(
        Conv2D(6, 2), BatchNorm2D(momentum=0.3), Tanh(),  # 8x8 -> 7x7
        AvgPool2D(2),                                   # 7x7 -> 3x3, row 6 dropped
        Conv2D(8, 2, bias=False), ReLU(),               # -> 2x2
        GlobalMaxPool2D(), BatchNorm1D(eps=1e-3), Dense(12), Logistic(), Dropout(0.2),
    ),
    "avgpool-overlapping": _stack(
        Conv2D(4, 3, padding="same"), BatchNorm2D(), LeakyReLU(0.1),
        AvgPool2D(3, stride=2),                         # 8x8 -> 3x3, row 7 dropped
        AvgPool2D((2, 3), stride=(1, 2)),               # 3x3 -> 2x1
        Flatten(), Dropout(0.1), Dense(16), BatchNorm1D(momentum=0.5), Identity(), ReLU(),
    ),
    # The digits' rows as 1 x 64 signals: the first layer is 1-D.
    "signal-maxpool-gap": _stack(
        Conv1D(6, 3, padding="same"), BatchNorm1D(), LeakyReLU(0.1),
        MaxPool1D(3, stride=2),                         # 64 -> 31, position 63 dropped
        Conv1D(8, 4, stride=2, padding=1, bias=False), ReLU(),  # -> 15
        GlobalAvgPool1D(), Dense(12), BatchNorm1D(), Tanh(),
    ),
    "signal-avgpool-gmp": _stack(
        Conv1D(4, 5, padding=2), ReLU(),
        AvgPool1D(2),                                   # 64 -> 32
        MaxPool1D(3),                                   # -> 10, positions 30, 31 dropped
        Conv1D(8, 2), BatchNorm1D(eps=1e-3),            # -> 9
        GlobalMaxPool1D(), Dense(12), ReLU(), Dropout(0.1),
    ),
    "signal-flatten": _stack(
        Conv1D(4, 2, padding="same"), MaxPool1D(2), BatchNorm1D(momentum=0.3), ReLU(),
        AvgPool1D(2, stride=1), Flatten(), Dense(16), ReLU(),
    ),
}
# Batch norm learns slowly from its initial state: a larger step and more
# epochs make its running statistics and parameters move far from 0 and 1.
LISTS = dict(max_iter=15, batch_size=50, learning_rate_init=0.02, random_state=0)


def assert_batchnorm_trained(model):
    """Every batch norm of ``model`` holds statistics and parameters far from
    their initial 0 and 1, so that a converter that ignored or swapped one
    would give other outputs."""
    layers = model[-1].layers_ if hasattr(model, "steps") else model.layers_
    norms = [layer for layer in layers if isinstance(layer, (BatchNorm1D, BatchNorm2D))]
    assert norms
    for layer in norms:
        for value, initial in ((layer.running_mean, 0), (layer.running_var, 1),
                               (layer.weight, 1), (layer.bias, 0)):
            assert np.abs(value - initial).max() > 0.05, layer
        # mean and variance unlike each other: swapping them must show
        assert np.abs(layer.running_mean - layer.running_var).max() > 0.05, layer


@pytest.mark.parametrize("stack", list(NEW_LAYER_STACKS))
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regressor"])
def test_layer_lists(data, stack, task):
    """Estimators built from ``layers=[...]`` export every layer of skcnn.layers."""
    X, y, X_test, _ = data
    if task == "regressor":
        model = NumpyCNNRegressor(layers=NEW_LAYER_STACKS[stack], **LISTS).fit(X, y / 3)
        assert assert_regressor_matches(model, X_test).std() > 0.5
    else:
        target = {"multiclass": y, "binary": y % 2, "multilabel": _multilabel_y(y)}[task]
        model = NumpyCNNClassifier(layers=NEW_LAYER_STACKS[stack], **LISTS).fit(X, target)
        label, _ = assert_classifier_matches(model, X_test)
        assert len(np.unique(label, axis=0)) > 1  # labels worth comparing
    assert_batchnorm_trained(model)


def test_the_stacks_hold_every_layer_class():
    """The stacks of ``test_layer_lists`` hold every public layer class (each
    class's converter alone is checked against onnxruntime by
    tests/layers/test_conformance.py)."""
    in_stacks = {type(layer) for stack in NEW_LAYER_STACKS.values() for _, layer in stack}
    assert sorted(c.__name__ for c in set(skcnn.layers.PUBLIC_LAYERS) - in_stacks) == []


def test_layer_list_pipeline(data):
    X, y, X_test, _ = data
    clf = NumpyCNNClassifier(layers=NEW_LAYER_STACKS["bn-maxpool-gap"], **LISTS)
    pipe = make_pipeline(StandardScaler(), clf).fit(X, y)
    assert_classifier_matches(pipe, X_test)
    assert_batchnorm_trained(pipe)


def test_layer_list_float64_model(data):
    """A float64 model with batch norm: its statistics rounded to float32 too."""
    X, y, X_test, _ = data
    model = NumpyCNNClassifier(layers=NEW_LAYER_STACKS["avgpool-gmp"], dtype=np.float64,
                               **LISTS).fit(X, y)
    assert model.layers_[1].running_var.dtype == np.float64
    assert_classifier_matches(model, X_test)


@pytest.mark.parametrize(
    "layers, image_shape",
    [
        pytest.param([Conv2D(4, 3, stride=2, padding=1)], (2, 9, 7), id="conv-stride-2"),
        pytest.param([Conv2D(4, (3, 2), stride=(1, 3))], (2, 9, 8), id="conv-stride-pair"),
        pytest.param([Conv2D(3, (2, 4), padding="same")], (3, 5, 6), id="conv-same-even"),
        pytest.param([Conv2D(3, 3, padding=(0, 2), bias=False)], (1, 6, 6), id="conv-no-bias"),
        pytest.param([Conv2D(3, 2), MaxPool2D(3, stride=2)], (2, 10, 9), id="pool-overlapping"),
        pytest.param([MaxPool2D((2, 3), stride=(1, 2))], (2, 7, 8), id="pool-stride-pair"),
        pytest.param([AvgPool2D((3, 2), stride=(2, 3))], (2, 8, 9), id="avgpool-stride-pair"),
        pytest.param([Conv2D(3, 3), Tanh(), MaxPool2D(2), Logistic()], (1, 9, 9), id="activations"),
        pytest.param([Conv2D(2, 3), Identity(), ReLU()], (1, 5, 5), id="identity-relu"),
    ],
)
def test_layer_options(layers, image_shape):
    """Layer options on images of several channels and sizes, each stack
    ending with Flatten -> Dropout -> Dense: Flatten in NCHW order."""
    layers = layers + [Flatten(), Dropout(0.5), Dense(5), ReLU(), Dense(3, bias=False)]
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, int(np.prod(image_shape)))).astype(np.float32)
    Y = X[:, :3] + rng.uniform(size=(40, 3))
    model = NumpyCNNRegressor(layers=_stack(*layers), image_shape=image_shape, max_iter=5,
                              random_state=0).fit(X[:30], Y[:30])
    assert model.layers_[-1].bias is not None and np.abs(model.layers_[-1].bias).max() > 0
    prediction = assert_regressor_matches(model, X[30:])
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
    label, proba = assert_classifier_matches(model, X_test)
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


@pytest.mark.parametrize(
    "task, options, outputs",
    [
        ("classifier", None, ["output_label", "output_probability"]),
        ("classifier", {"zipmap": False}, ["label", "probabilities"]),
        ("regressor", None, ["variable"]),
    ],
    ids=["zipmap", "no-zipmap", "regressor"],
)
def test_graph_interface(data, task, options, outputs):
    """The names of the input and outputs (skl2onnx's, as for MLPClassifier),
    and only operators of ONNX's standard domains: onnxruntime runs the graph
    without skcnn or scikit-learn."""
    X, y, _, _ = data
    estimator = NumpyCNNClassifier if task == "classifier" else NumpyCNNRegressor
    onx = to_onnx(estimator(**TINY).fit(X, y), X[:1], options=options)
    assert [i.name for i in onx.graph.input] == ["X"]
    assert [o.name for o in onx.graph.output] == outputs
    assert {node.domain for node in onx.graph.node} <= {"", "ai.onnx.ml"}


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


def test_subclass_needs_its_own_converter(data, monkeypatch):
    """A subclass is not exported with its parent's converter; once it has
    its own, the export uses it."""
    class MyReLU(ReLU):
        pass

    layers = _stack(Conv2D(2, 3), MyReLU(), Flatten(), Dense(2))
    model = NumpyCNNClassifier(layers=layers, image_shape=(1, 5, 5), max_iter=1, random_state=0)
    X = np.random.RandomState(0).rand(20, 25).astype(np.float32)
    model.fit(X, np.arange(20) % 2)
    with pytest.raises(NotImplementedError, match="layer 1, MyReLU.*register_layer_converter"):
        to_onnx(model, X[:1])
    monkeypatch.setitem(skcnn.onnx.LAYER_CONVERTERS, MyReLU, None)  # removed after the test
    skcnn.onnx.register_layer_converter(MyReLU)(skcnn.onnx.LAYER_CONVERTERS[ReLU])
    assert_classifier_matches(model, X)


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
