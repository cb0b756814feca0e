"""The network seen: summary() as text and HTML, and the estimator's diagram."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils import estimator_html_repr

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._summary import LayerRow, NetworkSummary
from skcnn.layers import (
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool1D,
    ReLU,
)


def fit_quietly(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def bn_layers():
    return [("conv1", Conv2D(4, 3, padding="same")), ("bn1", BatchNorm2D()), ("relu1", ReLU()),
            ("gap", GlobalAvgPool2D()), ("fc", Dense(6)), ("bn2", BatchNorm1D()),
            ("relu2", ReLU())]


@pytest.fixture(scope="module")
def default_net(few_digits):
    """The built-in network with its default sizes, on digits (one epoch)."""
    return fit_quietly(NumpyCNNClassifier(max_iter=1, random_state=0), *few_digits)


def test_the_total_is_the_sum_of_the_layers_parameters(default_net):
    summary = default_net.summary()
    assert summary.fitted
    assert [row.name for row in summary.rows] == default_net.layer_names_
    assert [row.n_params for row in summary.rows] == [
        sum(p.size for p in layer.params) for layer in default_net.layers_
    ]
    assert summary.total_params == sum(p.size for p in default_net._network.params)
    assert summary.total_params == sum(a.size for a in default_net.coefs_ + default_net.intercepts_)
    # By hand: conv 1 -> 32 (3 x 3), conv 32 -> 64, dense 64 * 2 * 2 -> 128, dense 128 -> 10.
    by_hand = (9 * 32 + 32) + (32 * 9 * 64 + 64) + (256 * 128 + 128) + (128 * 10 + 10)
    assert summary.total_params == by_hand == 53_002
    assert summary.total_state == 0


def test_the_text_table(default_net):
    text = str(default_net.summary())
    lines = text.splitlines()
    assert lines[0] == "NumpyCNNClassifier: 12 layers on samples of shape (1, 8, 8), in float32"
    assert lines[1].split() == ["Name", "Layer", "Output", "shape", "Parameters"]
    conv1 = next(line for line in lines if line.startswith("conv1 "))
    assert "Conv2D(32, kernel_size=(3, 3)" in conv1 and "(32, 8, 8)" in conv1
    assert conv1.endswith(" 320")
    assert re.search(r"^pool2 +MaxPool2D.*\(64, 2, 2\) +0$", text, re.M)
    assert re.search(r"^fc1 +Dense\(128\) +\(128,\) +32,896$", text, re.M)
    assert re.search(r"^out +Dense\(10\) +\(10,\) +1,290$", text, re.M)
    assert lines[-1] == "Total trainable parameters: 53,002"
    assert repr(default_net.summary()) == text
    # Columns line up: every row's parameter count ends where the header's does.
    width = len(lines[1])
    assert all(len(line) == width for line in lines[3:-2])


def test_batch_norm_statistics_are_counted_apart(few_digits):
    X, y = few_digits
    reg = fit_quietly(NumpyCNNRegressor(layers=bn_layers(), max_iter=1, random_state=0),
                      X, y.astype(float))
    summary = reg.summary()
    rows = {row.name: row for row in summary.rows}
    assert rows["bn1"].n_params == 8 and rows["bn1"].n_state == 8
    assert rows["bn2"].n_params == 12 and rows["bn2"].n_state == 12
    assert summary.total_params == sum(p.size for p in reg._network.params) == 40 + 8 + 30 + 12 + 7
    assert summary.total_state == 20
    assert str(summary).splitlines()[-1] == "Not trainable (batch-norm running statistics): 20"


def test_any_output_shape_prints():
    # One-dimensional layers give (C, L) samples; a table takes any shape.
    rows = [
        LayerRow("conv", "Conv1D", "Conv1D(4, 3)", (4, 98), (1, 100), (("weight", (4, 1, 3)),)),
        LayerRow("flat", "Flatten", "Flatten()", (392,), (4, 98)),
        LayerRow("out", "Dense", "Dense(1)", (1,), (392,), (("weight", (392, 1)), ("bias", (1,)))),
    ]
    summary = NetworkSummary("a signal network", rows, fitted=True)
    text = str(summary)
    assert re.search(r"^conv +Conv1D\(4, 3\) +\(4, 98\) +12$", text, re.M)
    assert text.splitlines()[-1] == "Total trainable parameters: 405"


def test_a_signal_network(few_digits):
    # Conv1D layers: samples and outputs of shape (C, L).
    X, y = few_digits
    layers = [("conv1", Conv1D(3, 5)), ("relu", ReLU()), ("pool", MaxPool1D(2)), ("flat", Flatten())]
    clf = fit_quietly(NumpyCNNClassifier(layers=layers, image_shape=(1, 64), max_iter=1), X, y)
    text = str(clf.summary())
    assert "samples of shape (1, 64)" in text
    assert re.search(r"^conv1 +Conv1D\(3, .*\(3, 60\) +18$", text, re.M)
    assert re.search(r"^pool +MaxPool1D.*\(3, 30\) +0$", text, re.M)
    assert re.search(r"^flat +Flatten\(\) +\(90,\) +0$", text, re.M)
    assert clf.summary().total_params == 18 + 90 * 10 + 10
    assert '<div class="caption">(3, 60), 18 parameters</div>' in estimator_html_repr(clf)


def test_before_fit_the_layers_and_no_shapes():
    est = NumpyCNNClassifier(filters=(8,), hidden_layer_sizes=(), dropout=0.0)
    summary = est.summary()
    assert not summary.fitted and summary.total_params is None
    assert [row.name for row in summary.rows] == ["conv1", "pool1", "relu1", "flatten", "out"]
    text = str(summary)
    assert "not fitted" in text and "come with the data" in text
    assert "Output shape" not in text and "Parameters" not in text
    assert "Dense(one unit per class, one for two classes)" in text
    assert "Dense(one unit per target)" in str(NumpyCNNRegressor().summary())
    # The built-in network fits its kernels to the samples: known with image_shape.
    assert "on signals, kernels and pools act along them" in text
    signal = str(NumpyCNNClassifier(filters=(8,), image_shape=(1, 100)).summary())
    assert "kernel_size=(1, 3)" in signal and "act along them" not in signal
    layers = NumpyCNNRegressor(layers=bn_layers()).summary()
    assert [row.name for row in layers.rows] == [name for name, _ in bn_layers()] + ["out"]
    with pytest.raises(ValueError, match=r"Received filters=\(0,\)"):
        NumpyCNNClassifier(filters=(0,)).summary()


def test_html_table(default_net):
    html = default_net.summary()._repr_html_()
    assert "<table>" in html and html.count("<tr>") == 1 + 12 + 1
    assert "<td>conv1</td>" in html and "<td>(32, 8, 8)</td>" in html
    assert ">Total trainable parameters</th>" in html and ">53,002</th>" in html


def test_the_diagram_shows_the_layers_as_steps(default_net):
    html = estimator_html_repr(default_net)
    for name, layer in zip(default_net.layer_names_, default_net.layers_):
        assert f"<div>{name}: {type(layer).__name__}</div>" in html
    assert '<div class="caption">(32, 8, 8), 320 parameters</div>' in html
    assert '<div class="caption">(32, 4, 4)</div>' in html  # pool1: no parameters
    assert "weight (32, 1, 3, 3) + bias (32,) = 320 parameters" in html
    assert "<summary>Network</summary>" in html and ">53,002</th>" in html
    assert "100 of 128 features" in html  # transform's, named
    # In a Pipeline, the network shows inside its step.
    pipe = make_pipeline(NumpyCNNClassifier(filters=(4,)), SVC())
    assert "<div>conv1: Conv2D</div>" in estimator_html_repr(pipe)


def test_a_layer_list_hides_the_parameters_it_makes_unused(few_digits):
    est = NumpyCNNClassifier(layers=bn_layers(), max_iter=1, random_state=0)
    for model in (est, fit_quietly(est.__class__(**est.get_params(deep=False)), *few_digits)):
        html = estimator_html_repr(model)
        params = re.findall(r'<td class="param">(\w+)</td>', html)
        assert "max_iter" in params and "random_state" in params and "solver" in params
        for unused in ("filters", "kernel_size", "pool_size", "padding", "hidden_layer_sizes",
                       "activation", "dropout", "layers"):
            assert unused not in params
        assert "conv1__filters" not in html
        assert "<div>bn1: BatchNorm2D</div>" in html and "<div>out: Dense</div>" in html
    # The built-in network keeps them.
    params = re.findall(r'<td class="param">(\w+)</td>', estimator_html_repr(NumpyCNNClassifier()))
    assert "filters" in params and "dropout" in params


def test_before_fit_the_diagram_says_shapes_come_with_the_data():
    html = estimator_html_repr(NumpyCNNClassifier(filters=(8,)))
    assert "<div>conv1: Conv2D</div>" in html and "<div>out: Dense</div>" in html
    assert "come with the data" in html
    assert 'class="caption"' not in html  # no shapes yet


def test_invalid_parameters_still_display():
    est = NumpyCNNClassifier(filters="abc")
    html = estimator_html_repr(est)  # scikit-learn's plain diagram
    assert "NumpyCNNClassifier" in html
    assert np.all([s in html for s in ("filters", "abc")])
