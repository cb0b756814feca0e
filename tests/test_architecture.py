"""A network given as a list of (name, layer) pairs (the ``layers`` parameter)."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._architecture import build_cnn_layers
from skcnn._training.parallel import forward_flops, MIN_FLOPS_PER_SAMPLE
from skcnn.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU


def layer_list(filters=4):
    return [
        ("conv1", Conv2D(filters, kernel_size=3, padding="same")),
        ("pool1", MaxPool2D(2)),
        ("relu1", ReLU()),
        ("flatten", Flatten()),
        ("drop1", Dropout(0.2)),
        ("fc1", Dense(8)),
        ("relu2", ReLU()),
        ("drop2", Dropout(0.2)),
    ]


def small(**params):
    return NumpyCNNClassifier(**{"layers": layer_list(), "max_iter": 2, "random_state": 0, **params})


def assert_same_model(a, b):
    assert len(a.coefs_) == len(b.coefs_)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_


# ------------------------------------------------------- parameters, clone


def test_get_params_exposes_layers_and_their_parameters_as_pipeline_does():
    clf = small()
    params = clf.get_params()
    assert params["conv1"] is clf.layers[0][1]
    assert params["conv1__filters"] == 4 and params["conv1__kernel_size"] == 3
    assert params["fc1__units"] == 8 and params["drop1__rate"] == 0.2
    assert params["pool1__stride"] is None  # as passed, not as resolved
    assert "conv1" not in clf.get_params(deep=False)


def test_set_params_sets_a_layer_parameter_or_replaces_a_layer():
    clf = small()
    conv = clf.layers[0][1]
    clf.set_params(conv1__filters=16, fc1__units=5)
    assert conv.filters == 16 and clf.get_params()["conv1__filters"] == 16
    assert clf.layers[5][1].units == 5
    new = Conv2D(6, kernel_size=5, padding="same")
    clf.set_params(conv1=new)
    assert clf.layers[0] == ("conv1", new) and clf.get_params()["conv1__kernel_size"] == 5
    # Derived settings follow a new parameter: the pool's default stride.
    clf.set_params(pool1__pool_size=1)
    assert clf.layers[1][1].stride == (1, 1)
    with pytest.raises(ValueError, match="Invalid parameter 'units' for Conv2D"):
        clf.set_params(conv1__units=3)
    with pytest.raises(ValueError, match="filters must be a positive int. Received filters=0"):
        clf.set_params(conv1__filters=0)
    assert clf.layers[0][1].filters == 6  # a refused value changes nothing
    # A new list is set first: the other keys may name its layers.
    fresh = layer_list()
    clf.set_params(layers=fresh, conv1__filters=3, max_iter=4)
    assert clf.layers is fresh and fresh[0][1].filters == 3 and clf.max_iter == 4
    replaced = clf.set_params(relu1=ReLU()).layers
    assert replaced is not fresh and fresh[2][1] is not replaced[2][1]  # the user's list is kept


def test_clone_copies_every_layer_and_no_fitted_state(few_digits):
    X, y = few_digits
    clf = small().fit(X, y)
    twin = clone(clf)
    for (name, a), (name_b, b) in zip(clf.layers, twin.layers):
        assert name == name_b and a is not b and type(a) is type(b)
        assert a.get_params() == b.get_params()
    assert not hasattr(twin, "layers_")
    assert all(getattr(layer, "weight", None) is None for _, layer in twin.layers)
    assert_same_model(clf, twin.fit(X, y))


def test_fit_trains_copies_and_never_changes_the_listed_layers(few_digits):
    X, y = few_digits
    clf = small()
    before = joblib.hash(clf.layers)
    clf.fit(X, y)
    assert joblib.hash(clf.layers) == before
    assert clf.layer_names_ == [name for name, _ in clf.layers] + ["out"]
    assert len(clf.layers_) == len(clf.layers) + 1
    for (_, listed), fitted in zip(clf.layers, clf.layers_):
        assert fitted is not listed and type(fitted) is type(listed)
        assert fitted.get_params() == listed.get_params()
    assert isinstance(clf.layers_[-1], Dense) and clf.layers_[-1].units == 10
    assert all(getattr(layer, "weight", None) is None for _, layer in clf.layers)
    # A second fit builds new copies too.
    first = clf.layers_
    clf.fit(X, y)
    assert not any(a is b for a, b in zip(first, clf.layers_))


def test_the_list_of_the_default_builder_gives_the_same_model(few_digits):
    X, y = few_digits
    legacy = NumpyCNNClassifier(
        filters=(4,), hidden_layer_sizes=(8,), dropout=0.2, max_iter=2, random_state=0
    ).fit(X, y)
    listed = small().fit(X, y)
    assert listed.layer_names_ == legacy.layer_names_
    assert_same_model(legacy, listed)


def test_grid_search_over_a_layer_parameter(few_digits):
    X, y = few_digits
    search = GridSearchCV(
        small(max_iter=3), {"conv1__filters": [2, 6]}, cv=2, error_score="raise"
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert [p["conv1__filters"] for p in search.cv_results_["params"]] == [2, 6]
    best = search.best_estimator_
    assert best.layers_[0].filters == search.best_params_["conv1__filters"]
    assert best.layers_[0].weight.shape[0] == search.best_params_["conv1__filters"]


def test_regressor_takes_a_layer_list(digits):
    X, _ = digits
    y = X[:, 27:29].mean(axis=1)
    reg = NumpyCNNRegressor(layers=layer_list(), max_iter=3, random_state=0).fit(X[:300], y[:300])
    assert reg.layers_[-1].units == 1 and reg.predict(X[:5]).shape == (5,)


def test_a_layer_list_model_pickles_and_its_layers_keep_their_parameters(few_digits):
    X, y = few_digits
    clf = small().fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert [layer.get_params() for layer in loaded.layers_] == [
        layer.get_params() for layer in clf.layers_
    ]


# ---------------------------------------------------- other layer classes


class Scale(Layer):
    """A layer the estimator does not know: multiplies by ``factor``."""

    def __init__(self, factor=2.0):
        super().__init__()
        self.factor = factor

    def forward(self, X, training=False):
        return X * X.dtype.type(self.factor)

    def backward(self, dY, input_grad=True):
        return dY * dY.dtype.type(self.factor) if input_grad else None


class ChannelMax(Layer):
    """A global max-pooling of the test's own: (C, H, W) -> (C,)."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"ChannelMax takes (C, H, W). Received {input_shape!r}.")
        return (int(input_shape[0]),)

    def forward(self, X, training=False):
        X = np.ascontiguousarray(X)
        out = X.max(axis=(2, 3))
        if training:
            self._cache = (X, out)
        return out

    def backward(self, dY, input_grad=True):
        X, out = self._pop_cache()
        mask = X == out[:, :, None, None]
        mask = mask / mask.sum(axis=(2, 3), keepdims=True)
        return mask * dY[:, :, None, None] if input_grad else None


def test_any_layer_class_works_and_a_flat_output_needs_no_flatten(few_digits):
    X, y = few_digits
    layers = [
        ("conv1", Conv2D(6, padding="same")),
        ("scale", Scale(0.5)),
        ("relu1", ReLU()),
        ("gmax", ChannelMax()),
        ("fc", Dense(8)),
    ]
    clf = NumpyCNNClassifier(layers=layers, max_iter=2, random_state=0)
    assert clf.get_params()["scale__factor"] == 0.5
    clf.set_params(scale__factor=0.25).fit(X, y)
    assert clf.layers_[1].factor == 0.25 and clf.layers_[1] is not layers[1][1]
    assert clf.layers_[4].input_shape == (6,)
    assert clone(clf).get_params()["scale__factor"] == 0.25


# ------------------------------------------------------------- bad lists


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], r"layers must be None or a non-empty list of \(name, layer\) pairs"),
        (Conv2D(4), r"non-empty list of \(name, layer\) pairs.*Received layers=Conv2D"),
        ([Conv2D(4)], r"layers\[0\] must be a \(name, layer\) pair"),
        ([("conv1", Conv2D(4), "x")], r"layers\[0\] must be a \(name, layer\) pair"),
        ([(1, Conv2D(4))], r"layers\[0\] must be a \(name, layer\) pair with a str name"),
        ([("a", ReLU()), ("a", ReLU())], r"unique; \['a'\] appear more than once"),
        ([("conv__1", Conv2D(4))], r"'conv__1' is not valid.*must not contain '__'"),
        ([("", Conv2D(4))], r"'' is not valid"),
        ([("alpha", ReLU())], r"'alpha' is the name of an estimator parameter"),
        ([("out", ReLU())], r"'out' is reserved for the output layer"),
        ([("scaler", StandardScaler())], r"Layer 'scaler' must be a layer of skcnn.layers.*"
         r"Received StandardScaler\(\) of type StandardScaler"),
        ([("conv1", Conv2D)], r"Layer 'conv1' is the class Conv2D, not a layer: pass an instance"),
    ],
)
def test_bad_lists_are_refused_before_training(few_digits, layers, message):
    X, y = few_digits
    clf = NumpyCNNClassifier(layers=layers, max_iter=1)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "n_features_in_")


def test_a_dense_layer_on_images_asks_for_a_flatten_layer(few_digits):
    X, y = few_digits
    layers = [("conv1", Conv2D(4, padding="same")), ("relu1", ReLU()), ("fc", Dense(8))]
    with pytest.raises(
        ValueError,
        match=r"Layer 'fc' \(Dense\(8\)\) takes flat samples, but layer 'relu1' gives samples "
        r"of shape \(4, 8, 8\) \(channels, height, width\): insert \('flatten', Flatten\(\)\) "
        r"before 'fc', or a global pooling layer",
    ):
        NumpyCNNClassifier(layers=layers, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"Layer 'fc' .* but the input gives samples of shape"):
        NumpyCNNClassifier(layers=[("fc", Dense(8))], max_iter=1).fit(X, y)
    # The output layer the estimator appends needs flat input too.
    with pytest.raises(
        ValueError,
        match=r"The output layer the estimator appends \(Dense\(10\)\) takes flat samples, but "
        r"layer 'relu1' gives .*: end layers with \('flatten', Flatten\(\)\)",
    ):
        NumpyCNNClassifier(layers=layers[:2], max_iter=1).fit(X, y)


def test_shape_errors_name_the_layer(few_digits):
    X, y = few_digits
    layers = [
        ("conv1", Conv2D(4)), ("pool1", MaxPool2D(2)), ("conv2", Conv2D(4, kernel_size=5)),
        ("flatten", Flatten()),
    ]
    with pytest.raises(ValueError, match=r"Layer 'conv2' \(Conv2D\(4, kernel_size=\(5, 5\).*\): "
                       r"kernel_size=\(5, 5\) is larger than the padded input \(3, 3\)"):
        NumpyCNNClassifier(layers=layers, max_iter=1).fit(X, y)
    layers = [("flatten", Flatten()), ("conv1", Conv2D(4))]
    with pytest.raises(ValueError, match=r"Layer 'conv1' .*: Conv2D expects samples of shape"):
        NumpyCNNClassifier(layers=layers, max_iter=1).fit(X, y)


def test_parameters_a_layer_list_ignores_warn_when_set(few_digits):
    X, y = few_digits
    with pytest.warns(UserWarning, match=r"filters=\(8,\), dropout=0.0 are ignored: layers "
                      "defines the whole network"):
        small(filters=(8,), dropout=0.0).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small().fit(X, y)
    assert not [w for w in caught if "ignored" in str(w.message)]


# ------------------------------------------------------- continued fits


def test_a_continued_fit_refuses_another_list(few_digits):
    X, y = few_digits
    clf = small(warm_start=True).fit(X, y)
    before = pickle.dumps(clf)
    with pytest.raises(ValueError, match="conv1__filters changed from 4 to 8 since the model"):
        clf.set_params(conv1__filters=8).fit(X, y)
    clf.set_params(conv1__filters=4)
    with pytest.raises(ValueError, match=r"layers changed from \[conv1: Conv2D, pool1: "
                       r"MaxPool2D.*\] to \[conv1: Conv2D, relu1: ReLU"):
        clf.set_params(layers=[("conv1", Conv2D(4)), ("relu1", ReLU()), ("flat", Flatten())])
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"layers changed from \[conv1: .*\] to None"):
        clf.set_params(layers=None).fit(X, y)
    clf.set_params(layers=layer_list())
    assert pickle.dumps(clf) == before  # the refused calls changed nothing
    legacy = NumpyCNNClassifier(max_iter=1, warm_start=True, filters=(4,)).fit(X, y)
    with pytest.raises(ValueError, match=r"layers changed from None \(the network of filters"):
        with pytest.warns(UserWarning, match=r"filters=\(4,\) is ignored"):
            legacy.set_params(layers=layer_list()).fit(X, y)


def test_a_continued_fit_takes_new_dropout_rates(few_digits):
    X, y = few_digits
    clf = small(warm_start=True).fit(X, y)
    clf.set_params(drop1__rate=0.4).fit(X, y)
    assert len(clf.loss_curve_) == 4
    assert [layer.rate for layer in clf.layers_ if isinstance(layer, Dropout)] == [0.4, 0.2]
    assert clf.layers_[4].get_params() == {"rate": 0.4}
    clf.set_params(drop2=Dropout(0.1)).partial_fit(X, y)
    assert [layer.rate for layer in clf.layers_ if isinstance(layer, Dropout)] == [0.4, 0.1]
    assert clf.layers[4][1].rate == 0.4  # the list holds what the user set, nothing else


def test_layer_list_model_is_the_same_whatever_n_jobs(digits, parallel_training):
    # With batch norm: its statistics span the batch on one thread, on two
    # threads and on worker processes alike.
    from skcnn.layers import BatchNorm2D

    X, y = digits
    layers = [
        ("conv1", Conv2D(32, padding="same")), ("relu1", ReLU()),
        ("conv2", Conv2D(64, padding="same")), ("pool", MaxPool2D(2)), ("bn", BatchNorm2D()),
        ("relu2", ReLU()), ("flatten", Flatten()), ("drop", Dropout(0.3)),
    ]

    def fit(n_jobs):
        return NumpyCNNClassifier(layers=layers, max_iter=1, random_state=1, n_jobs=n_jobs).fit(
            X[:256], y[:256]
        )

    models = [fit(1), fit(2)]
    parallel_training(processes=True)
    models.append(fit(2))  # on worker processes from the first batch
    # Heavy enough that n_jobs=2 trains the shards side by side.
    assert forward_flops(models[1]._network) >= MIN_FLOPS_PER_SAMPLE
    assert_same_model(models[0], models[1])
    assert_same_model(models[0], models[2])
    for other in models[1:]:
        for a, b in zip(models[0]._model_arrays(), other._model_arrays(), strict=True):
            np.testing.assert_array_equal(a, b)  # running statistics included


def test_skops_trusts_every_type_of_a_layer_list_model(few_digits, tmp_path):
    sio = pytest.importorskip("skops.io")
    from skcnn import SKOPS_TRUSTED_TYPES
    from skcnn.augmentation import RandomFlip

    X, y = few_digits
    clf = small(augment=[RandomFlip()]).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params()["conv1__filters"] == 4


def test_lbfgs_refuses_random_layers_and_augmentation(few_digits):
    from skcnn.augmentation import RandomFlip

    X, y = few_digits
    with pytest.raises(ValueError, match=r"Layer 'drop1' \(Dropout\(0.2\)\) cannot be used with "
                       "solver='lbfgs'"):
        small(solver="lbfgs").fit(X, y)
    no_dropout = [pair for pair in layer_list() if not pair[0].startswith("drop")]
    with pytest.raises(ValueError, match=r"augment=\[RandomFlip\(.*\)\] cannot be used with "
                       "solver='lbfgs'"):
        small(solver="lbfgs", layers=no_dropout, augment=[RandomFlip()]).fit(X, y)
    # dropout=0.5, the default, is ignored with a layer list: no error.
    clf = small(solver="lbfgs", layers=no_dropout, max_iter=5).fit(X, y)
    assert clf.layer_names_[-1] == "out"


# ----------------------------------------- the built-in network on signals


def built(input_shape, **params):
    arch = dict(filters=(4, 6), kernel_size=(3, 3), pool_size=(2, 2), padding="same",
                hidden_layer_sizes=(8,), activation="relu", dropout=0.0)
    return [(name, type(layer).__name__, layer.get_params())
            for name, layer in build_cnn_layers(input_shape, 1, **{**arch, **params})]


@pytest.mark.parametrize(
    "input_shape, kernel, pool, padding",
    [
        ((1, 1, 128), (1, 3), (1, 2), "same"),
        ((3, 128, 1), (3, 1), (2, 1), "same"),
        ((1, 1, 50), (1, 5), (1, 2), (0, 2)),  # an int padding: none across the row
        ((2, 40, 1), (5, 1), (2, 1), (1, 0)),
    ],
)
@pytest.mark.filterwarnings("ignore:X holds samples of shape:UserWarning")  # columns could be channels last
def test_on_signals_kernels_and_pools_act_along_the_signal_only(input_shape, kernel, pool, padding):
    int_padding = padding if padding == "same" else max(padding)
    kernel_size = (5, 5) if max(kernel) == 5 else (3, 3)
    layers = built(input_shape, kernel_size=kernel_size, padding=int_padding)
    convs = [params for _, kind, params in layers if kind == "Conv2D"]
    pools = [params for _, kind, params in layers if kind == "MaxPool2D"]
    assert [p["kernel_size"] for p in convs] == [kernel] * 2
    assert [p["padding"] for p in convs] == [padding] * 2
    assert [p["pool_size"] for p in pools] == [pool] * 2
    # The same network as asking for those kernels: the same model, to the bit.
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((60,) + input_shape), rng.standard_normal(60)
    small = dict(filters=(4, 6), hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    default = NumpyCNNRegressor(**small, kernel_size=kernel_size, padding=int_padding).fit(X, y)
    asked = NumpyCNNRegressor(**small, kernel_size=kernel, pool_size=pool, padding=padding).fit(X, y)
    assert_same_model(default, asked)


def test_a_valid_kernel_fits_a_one_row_signal():
    X, y = np.random.RandomState(0).standard_normal((30, 20)), np.arange(30) % 2
    clf = NumpyCNNClassifier(filters=(3,), padding="valid", hidden_layer_sizes=(4,), max_iter=1).fit(X, y)
    assert clf.image_shape_ == (1, 1, 20) and clf.layers_[0].kernel_size == (1, 3)


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (3, 2, 9), (1, 28, 28)])
def test_images_get_the_network_they_always_got(input_shape):
    layers = built(input_shape, padding=1)
    assert [p["kernel_size"] for _, kind, p in layers if kind == "Conv2D"] == [(3, 3)] * 2
    assert [p["padding"] for _, kind, p in layers if kind == "Conv2D"] == [1] * 2
    assert [p["pool_size"] for _, kind, p in layers if kind == "MaxPool2D"][0] == (2, 2)
