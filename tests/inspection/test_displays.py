"""Tests of skcnn.inspection: the data each display extracts, and its plot."""

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="the displays plot with matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor  # noqa: E402
from skcnn.inspection import (  # noqa: E402
    ActivationsDisplay,
    FiltersDisplay,
    TrainingCurveDisplay,
)
from skcnn.layers import (  # noqa: E402
    Conv1D,
    Conv2D,
    Flatten,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
)

SMALL = dict(filters=(4, 6), hidden_layer_sizes=(16,), max_iter=3, random_state=0)


@pytest.fixture(scope="module")
def clf(few_digits):
    """A relu network of two conv blocks, trained with early stopping."""
    return NumpyCNNClassifier(early_stopping=True, **SMALL).fit(*few_digits)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _conv_positions(clf):
    return [i for i, layer in enumerate(clf.layers_) if isinstance(layer, Conv2D)]


# ------------------------------------------------------------ no matplotlib


def test_importing_skcnn_does_not_import_matplotlib():
    code = (
        "import sys, skcnn, skcnn.inspection, skcnn.datasets\n"
        "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_without_matplotlib_says_how_to_install_it():
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if not installed\n"
        "from skcnn.inspection import TrainingCurveDisplay\n"
        "try:\n"
        "    TrainingCurveDisplay([1.0, 0.5]).plot()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "TrainingCurveDisplay.plot requires matplotlib" in out.stdout
    assert 'pip install "skcnn[plot]"' in out.stdout


# -------------------------------------------------------------- filters


@pytest.mark.parametrize("layer", [0, 1, -1])
def test_filters_are_the_conv_weights(clf, layer):
    disp = FiltersDisplay.from_estimator(clf, layer=layer)
    expected = clf.coefs_[layer % 2]
    np.testing.assert_array_equal(disp.filters, expected)
    assert disp.filters is not expected  # a copy: later training does not change the display
    assert disp.layer_name == f"convolution layer {layer % 2} (conv{layer % 2 + 1})"


def test_filters_plot_one_axes_and_image_per_filter(clf):
    disp = FiltersDisplay.from_estimator(clf, layer=1)
    n_filters = clf.coefs_[1].shape[0]
    assert isinstance(disp.figure_, Figure)
    assert disp.axes_.shape == disp.im_.shape == (n_filters,)
    for ax, im, image in zip(disp.axes_, disp.im_, disp.images_):
        assert list(ax.images) == [im]
        np.testing.assert_array_equal(im.get_array(), image)
    assert disp.colorbar_ is not None
    # A zero weight sits in the middle of the shared color scale.
    vmin, vmax = disp.im_[0].get_clim()
    assert vmin == -vmax == -np.abs(disp.images_).max()


def test_filters_in_channel(clf):
    weights = clf.coefs_[1]
    disp = FiltersDisplay.from_estimator(clf, layer=1, in_channel=2, colorbar=False)
    np.testing.assert_array_equal(disp.images_, weights[:, 2])
    assert disp.colorbar_ is None
    disp = FiltersDisplay.from_estimator(clf, layer=1)
    np.testing.assert_allclose(disp.images_, weights.mean(axis=1))
    with pytest.raises(ValueError, match="in_channel=4 is out of range"):
        disp.plot(in_channel=4)


def test_filters_display_from_arrays():
    filters = np.random.RandomState(0).randn(5, 1, 3, 3)
    disp = FiltersDisplay(filters).plot(ncols=2)
    assert len(disp.axes_) == 5
    # 3 rows of 2: the sixth Axes of the grid is hidden, not drawn on.
    assert sum(ax.axison for ax in disp.figure_.axes if ax.images) == 5
    with pytest.raises(ValueError, match=r"Received an array of shape \(5, 9\)"):
        FiltersDisplay(filters.reshape(5, 9)).plot()


# ---------------------------------------------------------- activations


def test_activations_are_the_relu_maps_before_pooling(clf, few_digits):
    X, _ = few_digits
    for layer, position in enumerate(_conv_positions(clf)):
        disp = ActivationsDisplay.from_estimator(clf, X[0], layer=layer)
        outputs = clf.layer_outputs(X[:1])
        # relu blocks are built conv -> pool -> relu: the maps are relu(conv).
        np.testing.assert_array_equal(disp.activations, np.maximum(outputs[position][0], 0))
        # Pooled, they are exactly the block's output.
        assert isinstance(clf.layers_[position + 1], MaxPool2D)
        pooled = clf.layers_[position + 1].forward(disp.activations[None])
        np.testing.assert_array_equal(pooled, outputs[position + 2])
        assert disp.layer_name == f"convolution layer {layer} (conv{layer + 1}) + ReLU"


def test_activations_are_the_activation_layer_output(few_digits):
    X, y = few_digits
    clf = NumpyCNNClassifier(activation="tanh", **SMALL).fit(X, y)
    position = _conv_positions(clf)[1]
    disp = ActivationsDisplay.from_estimator(clf, X[3], layer=1)
    # tanh blocks are conv -> tanh -> pool: the maps are a layer output.
    expected = clf.layer_outputs(X[3:4])[position + 1][0]
    np.testing.assert_array_equal(disp.activations, expected)
    assert disp.layer_name == "convolution layer 1 (conv2) + Tanh"


def test_any_activation_layer_is_found_after_a_convolution(few_digits):
    """Activations are known by their class (skcnn.layers.Activation), not by
    the estimator's activation= choices: a LeakyReLU after a conv counts."""
    X, y = few_digits
    layers = [("conv", Conv2D(3, padding="same")), ("pool", MaxPool2D(2)),
              ("leaky", LeakyReLU(-0.5)), ("flat", Flatten())]
    clf = NumpyCNNClassifier(layers=layers, max_iter=2, random_state=0).fit(X, y)
    disp = ActivationsDisplay.from_estimator(clf, X[0])
    assert disp.layer_name == "convolution layer 0 (conv) + LeakyReLU"
    conv_out = clf.layer_outputs(X[:1])[0][0]
    np.testing.assert_array_equal(disp.activations, clf.layers_[2].forward(conv_out))


def test_the_displays_draw_signals_as_one_row_images(few_digits):
    X, y = few_digits
    layers = [("conv", Conv1D(3, 5)), ("leaky", LeakyReLU()), ("pool", MaxPool1D(2)),
              ("flat", Flatten())]
    clf = NumpyCNNClassifier(layers=layers, max_iter=2, random_state=0).fit(X, y)
    assert clf.image_shape_ == (1, 64)
    maps = ActivationsDisplay.from_estimator(clf, X[0])
    assert maps.activations.shape == (3, 1, 60) and len(maps.axes_) == 3
    np.testing.assert_array_equal(maps.activations[:, 0], clf.layer_outputs(X[:1])[1][0])
    filters = FiltersDisplay.from_estimator(clf)
    np.testing.assert_array_equal(filters.filters[:, :, 0], clf.layers_[0].weight)
    assert filters.images_.shape == (3, 1, 5)


def test_activations_plot_one_axes_and_image_per_map(clf, few_digits):
    disp = ActivationsDisplay.from_estimator(clf, few_digits[0][0], layer=0)
    n_maps = clf.coefs_[0].shape[0]
    assert disp.activations.shape == (n_maps, 8, 8)
    assert isinstance(disp.figure_, Figure)
    assert disp.axes_.shape == disp.im_.shape == (n_maps,)
    for ax, im, fmap in zip(disp.axes_, disp.im_, disp.activations):
        assert list(ax.images) == [im]
        np.testing.assert_array_equal(im.get_array(), fmap)
    assert disp.im_[0].get_clim() == (disp.activations.min(), disp.activations.max())


@pytest.mark.parametrize(
    "shape", [(64,), (1, 64), (8, 8), (1, 8, 8), (1, 1, 8, 8)], ids=str
)
def test_activations_accept_one_sample_in_every_form(clf, few_digits, shape):
    x = few_digits[0][5]
    expected = ActivationsDisplay.from_estimator(clf, x).activations
    disp = ActivationsDisplay.from_estimator(clf, x.reshape(shape))
    np.testing.assert_array_equal(disp.activations, expected)


@pytest.mark.parametrize("shape", [(2, 64), (2, 8, 8), (2, 1, 8, 8)], ids=str)
def test_activations_refuse_several_samples(clf, few_digits, shape):
    X = few_digits[0][:2].reshape(shape)
    with pytest.raises(ValueError, match="X must hold one sample, but it holds 2"):
        ActivationsDisplay.from_estimator(clf, X)


@pytest.mark.parametrize("shape", [(63,), (4, 16), (1, 2, 8, 8)], ids=str)
def test_activations_refuse_a_wrong_shape(clf, shape):
    with pytest.raises(ValueError, match=r"is not one sample of the model.*\(1, 8, 8\)"):
        ActivationsDisplay.from_estimator(clf, np.zeros(shape))


def test_activations_display_from_arrays():
    with pytest.raises(ValueError, match=r"\(n_channels, H, W\)"):
        ActivationsDisplay(np.zeros((4, 4))).plot()
    disp = ActivationsDisplay(np.arange(3 * 5 * 6.0).reshape(3, 5, 6)).plot(cmap="gray")
    assert len(disp.axes_) == 3


# -------------------------------------------------------- training curve


def test_training_curve_with_validation_scores(clf):
    disp = TrainingCurveDisplay.from_estimator(clf)
    assert disp.loss_curve == clf.loss_curve_
    assert disp.validation_scores == clf.validation_scores_
    assert isinstance(disp.figure_, Figure) and isinstance(disp.ax_, Axes)
    n = len(clf.loss_curve_)
    np.testing.assert_array_equal(disp.line_.get_xdata(), np.arange(1, n + 1))
    np.testing.assert_array_equal(disp.line_.get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(disp.score_line_.get_ydata(), clf.validation_scores_)
    best = int(np.argmax(clf.validation_scores_))
    assert disp.best_marker_.get_xdata()[0] == best + 1
    assert disp.score_ax_.figure is disp.figure_


def test_training_curve_without_validation_scores(few_digits):
    clf = NumpyCNNClassifier(**SMALL).fit(*few_digits)
    assert clf.validation_scores_ is None
    disp = TrainingCurveDisplay.from_estimator(clf, mark_best=False)
    assert disp.validation_scores is None
    assert disp.score_ax_ is disp.score_line_ is disp.best_marker_ is None
    np.testing.assert_array_equal(disp.line_.get_ydata(), clf.loss_curve_)


def test_training_curve_of_mlp_classifier(few_digits):
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(*few_digits)
    disp = TrainingCurveDisplay.from_estimator(mlp)
    np.testing.assert_array_equal(disp.loss_curve, mlp.loss_curve_)
    lbfgs = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=3).fit(*few_digits)
    message = "MLPClassifier has no loss_curve_: solver='lbfgs' records no loss per epoch"
    with pytest.raises(ValueError, match=message):
        TrainingCurveDisplay.from_estimator(lbfgs)


def test_training_curve_of_a_model_that_is_no_network(few_digits):
    pipe = make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=50)).fit(*few_digits)
    message = (
        "LogisticRegression has no loss_curve_: expected a NumpyCNNClassifier or "
        "MLPClassifier, or a Pipeline ending in one."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainingCurveDisplay.from_estimator(pipe)


def test_training_curve_display_from_arrays():
    with pytest.raises(ValueError, match="loss_curve must be a non-empty 1-D"):
        TrainingCurveDisplay([]).plot()
    disp = TrainingCurveDisplay([3.0, 2.0, 1.5], [0.5, 0.7, 0.6]).plot()
    assert disp.best_marker_.get_xdata()[0] == 2
    # A diverged epoch's loss and score (inf, NaN) are no best epoch.
    disp = TrainingCurveDisplay([3.0, 2.0, np.inf], [0.5, 0.7, np.nan]).plot()
    assert disp.best_marker_.get_xdata()[0] == 2
    assert TrainingCurveDisplay([np.inf], [np.nan]).plot().best_marker_ is None


# ------------------------------------------------------------------ ax=


def test_ax_is_honoured(clf, few_digits):
    fig, (ax_curve, ax_filters, ax_maps) = plt.subplots(1, 3)
    curve = TrainingCurveDisplay.from_estimator(clf, ax=ax_curve)
    assert curve.ax_ is ax_curve and curve.figure_ is fig
    # One Axes is split into a grid of inset Axes, one per image.
    filters = FiltersDisplay.from_estimator(clf, ax=ax_filters)
    assert filters.figure_ is fig
    assert set(filters.axes_) <= set(ax_filters.child_axes)
    assert not ax_filters.axison
    maps = ActivationsDisplay.from_estimator(clf, few_digits[0][0], ax=ax_maps)
    assert maps.figure_ is fig and set(maps.axes_) <= set(ax_maps.child_axes)


def test_ax_as_an_array_of_axes(clf, few_digits):
    fig, grid = plt.subplots(2, 3)
    disp = FiltersDisplay.from_estimator(clf, layer=0, ax=grid)  # 4 filters, 6 Axes
    assert list(disp.axes_) == list(grid.ravel()[:4])
    assert [ax.axison for ax in grid.ravel()[4:]] == [False, False]
    with pytest.raises(ValueError, match="ax holds 4 Axes but there are 6 images"):
        ActivationsDisplay.from_estimator(clf, few_digits[0][0], layer=1, ax=grid.ravel()[:4])
    with pytest.raises(TypeError, match="ax must be None, a matplotlib Axes"):
        FiltersDisplay.from_estimator(clf, ax=["not an Axes"])


# --------------------------------------------------------------- errors


@pytest.mark.parametrize("display", ["filters", "activations"])
def test_layer_out_of_range(clf, few_digits, display):
    def make(estimator, layer):
        if display == "filters":
            return FiltersDisplay.from_estimator(estimator, layer=layer)
        return ActivationsDisplay.from_estimator(estimator, few_digits[0][0], layer=layer)

    message = "layer=2 is out of range: the model has 2 convolution layers ('conv1', 'conv2')"
    with pytest.raises(ValueError, match=re.escape(message)):
        make(clf, 2)
    with pytest.raises(ValueError, match="layer=-3 is out of range"):
        make(clf, -3)
    for bad in [1.0, True, None]:
        with pytest.raises(TypeError, match=f"layer must be an int.*or a str.*Received layer={bad!r}"):
            make(clf, bad)
    message = "layer='pool1' is a MaxPool2D, not a convolution layer: the model has 2"
    with pytest.raises(ValueError, match=re.escape(message)):
        make(clf, "pool1")
    message = "layer='conv3' is no layer of the model (layer_names_): the model has 2"
    with pytest.raises(ValueError, match=re.escape(message)):
        make(clf, "conv3")
    mlp_like = NumpyCNNClassifier(filters=(), hidden_layer_sizes=(8,), max_iter=1).fit(*few_digits)
    with pytest.raises(ValueError, match="the model has 0 convolution layers"):
        make(mlp_like, 0)


@pytest.mark.parametrize("display", ["filters", "activations"])
def test_layer_by_name_is_the_layer_by_index(clf, few_digits, display):
    X = few_digits[0][0]
    for number, name in enumerate(["conv1", "conv2"]):
        if display == "filters":
            by_name = FiltersDisplay.from_estimator(clf, layer=name)
            by_index = FiltersDisplay.from_estimator(clf, layer=number)
            np.testing.assert_array_equal(by_name.filters, by_index.filters)
        else:
            by_name = ActivationsDisplay.from_estimator(clf, X, layer=name)
            by_index = ActivationsDisplay.from_estimator(clf, X, layer=number)
            np.testing.assert_array_equal(by_name.activations, by_index.activations)
        assert by_name.layer_name == by_index.layer_name
        assert f"({name})" in by_name.layer_name


def test_a_layer_list_model_is_described_by_its_layer_names(few_digits):
    # filters=(32, 64) is the unused default of a layer-list model: messages
    # name the list's convolution layers, never the filters parameter.
    from skcnn.layers import Dense, Flatten, ReLU

    layers = [("edges", Conv2D(3, 3, padding="same")), ("act", ReLU()),
              ("pool", MaxPool2D(2)), ("flat", Flatten()), ("fc", Dense(8))]
    model = NumpyCNNClassifier(layers=layers, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(*few_digits)
    disp = FiltersDisplay.from_estimator(model, layer="edges")
    assert disp.layer_name == "convolution layer 0 (edges)"
    np.testing.assert_array_equal(disp.filters, model.coefs_[0])
    maps = ActivationsDisplay.from_estimator(model, few_digits[0][0], layer="edges")
    assert maps.layer_name == "convolution layer 0 (edges) + ReLU"
    for bad in (1, "fc"):
        with pytest.raises(ValueError) as error:
            FiltersDisplay.from_estimator(model, layer=bad)
        assert "the model has 1 convolution layer ('edges')" in str(error.value)
        assert "filters" not in str(error.value)


def test_unfitted_estimator(few_digits):
    clf = NumpyCNNClassifier()
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(clf)
    with pytest.raises(NotFittedError):
        FiltersDisplay.from_estimator(clf)
    with pytest.raises(NotFittedError):
        ActivationsDisplay.from_estimator(clf, few_digits[0][0])


def test_pipeline_stands_for_its_classifier(few_digits):
    X, y = few_digits
    pipe = make_pipeline(MinMaxScaler(), NumpyCNNClassifier(**SMALL)).fit(X * 16, y)
    net = pipe[-1]
    np.testing.assert_array_equal(FiltersDisplay.from_estimator(pipe).filters, net.coefs_[0])
    disp = ActivationsDisplay.from_estimator(pipe, X[0] * 16)
    expected = ActivationsDisplay.from_estimator(net, pipe[0].transform(X[:1] * 16))
    np.testing.assert_array_equal(disp.activations, expected.activations)
    assert TrainingCurveDisplay.from_estimator(pipe).loss_curve == net.loss_curve_


# ------------------------------------------------------- searches

DISPLAYS = {
    "TrainingCurveDisplay": lambda est, X: TrainingCurveDisplay.from_estimator(est),
    "FiltersDisplay": lambda est, X: FiltersDisplay.from_estimator(est),
    "ActivationsDisplay": lambda est, X: ActivationsDisplay.from_estimator(est, X[0]),
}


def _search(estimator, param_grid, **kwargs):
    return GridSearchCV(estimator, param_grid, cv=2, **kwargs)


@pytest.fixture(scope="module")
def search(few_digits):
    return _search(NumpyCNNClassifier(**SMALL), {"batch_size": [32]}).fit(*few_digits)


@pytest.mark.parametrize("display", DISPLAYS)
def test_search_is_refused_with_what_to_pass(search, few_digits, display):
    X = few_digits[0]
    args = "search.best_estimator_" + (", X" if display == "ActivationsDisplay" else "")
    message = (
        f"{display}.from_estimator needs the fitted network, not the GridSearchCV that "
        "chose it. Pass the refitted NumpyCNNClassifier, search.best_estimator_: "
        f"{display}.from_estimator({args})."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        DISPLAYS[display](search, X)
    # The advice works.
    assert DISPLAYS[display](search.best_estimator_, X).figure_ is not None


def test_search_of_a_pipeline_is_refused_with_what_to_pass(few_digits):
    X, y = few_digits
    pipe = make_pipeline(MinMaxScaler(), NumpyCNNClassifier(**SMALL))
    search = _search(pipe, {"numpycnnclassifier__batch_size": [32]}).fit(X * 16, y)
    message = (
        "TrainingCurveDisplay.from_estimator needs the fitted network, not the GridSearchCV "
        "that chose it. Pass the refitted Pipeline, search.best_estimator_: "
        "TrainingCurveDisplay.from_estimator(search.best_estimator_)."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        TrainingCurveDisplay.from_estimator(search)
    disp = TrainingCurveDisplay.from_estimator(search.best_estimator_)
    assert disp.loss_curve == search.best_estimator_[-1].loss_curve_


def test_pipeline_ending_in_a_search_is_refused_with_what_to_pass(few_digits):
    X, y = few_digits
    search = _search(NumpyCNNClassifier(**SMALL), {"batch_size": [32]})
    pipe = make_pipeline(MinMaxScaler(), search).fit(X * 16, y)
    message = (
        "FiltersDisplay.from_estimator needs the fitted network, not the GridSearchCV that "
        "chose it. Pass the refitted NumpyCNNClassifier, pipe[-1].best_estimator_: "
        "FiltersDisplay.from_estimator(pipe[-1].best_estimator_)."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        FiltersDisplay.from_estimator(pipe)
    # With X, the message says that X goes through the steps before the search.
    call = "ActivationsDisplay.from_estimator(pipe[-1].best_estimator_, pipe[:-1].transform(X))."
    with pytest.raises(TypeError, match=re.escape(call)):
        ActivationsDisplay.from_estimator(pipe, X[0] * 16)
    net = pipe[-1].best_estimator_
    disp = ActivationsDisplay.from_estimator(net, pipe[:-1].transform(X[:1] * 16))
    assert disp.activations.shape == (SMALL["filters"][0], 8, 8)


def test_search_without_refit_is_refused_with_what_to_do(few_digits):
    search = _search(NumpyCNNClassifier(**SMALL), {"batch_size": [32]}, refit=False).fit(*few_digits)
    message = (
        "TrainingCurveDisplay.from_estimator needs a fitted network, and search is a "
        "GridSearchCV fitted with refit=False, which keeps none. Fit the GridSearchCV "
        "with refit=True, then pass search.best_estimator_."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        TrainingCurveDisplay.from_estimator(search)


def test_the_displays_draw_a_regressor(few_digits):
    X, y = few_digits
    reg = NumpyCNNRegressor(early_stopping=True, **SMALL).fit(X, y.astype(float))
    curve = TrainingCurveDisplay.from_estimator(reg)
    assert list(curve.loss_curve) == reg.loss_curve_
    assert list(curve.validation_scores) == reg.validation_scores_
    filters = FiltersDisplay.from_estimator(reg, layer=1)
    np.testing.assert_array_equal(filters.filters, reg.coefs_[1])
    maps = ActivationsDisplay.from_estimator(reg, X[0], layer=0)
    assert maps.activations.shape == (SMALL["filters"][0], 8, 8)

