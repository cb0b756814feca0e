"""How X and y are read: colour images, ``data_format``, misread layouts, text targets."""

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone

from skcnn import SKOPS_TRUSTED_TYPES, NumpyCNNClassifier, NumpyCNNRegressor

SAVED = Path(__file__).parent / "data" / "saved_0_1_0"


def tiny(cls=NumpyCNNClassifier, **params):
    return cls(**{"filters": (3,), "hidden_layer_sizes": (6,), "max_iter": 2, "random_state": 0,
                  "batch_size": 20, **params})


@pytest.fixture(scope="module")
def colour():
    """60 random 8 x 8 RGB images, channels last as PIL gives them, and labels."""
    rng = np.random.RandomState(0)
    return rng.rand(60, 8, 8, 3).astype(np.float32), np.arange(60) % 3


def assert_same_model(a, b):
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)


# ---------------------------------------------------------- data_format


def test_channels_last_input_is_the_model_of_its_channels_first_copy(colour):
    X_hwc, y = colour
    X_chw = np.moveaxis(X_hwc, -1, 1)
    reference = tiny().fit(X_chw, y)
    rows = X_hwc.reshape(60, -1)  # as X_hwc.reshape(n, -1) flattens them
    for X, params in [
        (X_hwc, {}),
        (rows, {"image_shape": (8, 8, 3)}),
        (sparse.csr_matrix(rows), {"image_shape": (8, 8, 3)}),
    ]:
        model = tiny(data_format="channels_last", **params).fit(X, y)
        assert model.image_shape_ == (3, 8, 8) and model.n_features_in_ == 192
        assert_same_model(model, reference)
        np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X_chw))
    # One channel reads the same either way.
    gray = X_hwc[..., 0]
    assert_same_model(tiny(data_format="channels_last").fit(gray, y), tiny().fit(gray, y))


def test_a_channels_last_model_names_the_layout_it_expects(colour):
    X_hwc, y = colour
    model = tiny(data_format="channels_last").fit(X_hwc, y)
    with pytest.raises(ValueError, match=re.escape(
        "X holds samples of shape (3, 8, 8), but the model was fitted on samples of shape "
        "(8, 8, 3) (data_format='channels_last')."
    )):
        model.predict(np.moveaxis(X_hwc, -1, 1))
    with pytest.raises(ValueError, match=r"data_format changed from 'channels_last' to 'channels_first'"):
        model.set_params(warm_start=True, data_format="channels_first").fit(X_hwc, y)
    assert model.image_shape_ == (3, 8, 8)  # a refused fit changes nothing


@pytest.mark.parametrize(
    "params, message",
    [
        ({"data_format": "NHWC"},
         r"data_format must be one of \['channels_first', 'channels_last'\]. Received data_format='NHWC'"),
        ({"data_format": None}, r"Received data_format=None"),
        ({"image_shape": (8, 8, 3, 1)}, r"\(height, width, channels\) with data_format='channels_last'"),
    ],
)
def test_bad_data_format_values(colour, params, message):
    X_hwc, y = colour
    with pytest.raises(ValueError, match=message):
        tiny(**params).fit(X_hwc, y)


def test_data_format_is_a_parameter_of_both_estimators():
    for cls in (NumpyCNNClassifier, NumpyCNNRegressor):
        est = cls(data_format="channels_last")
        assert est.get_params()["data_format"] == "channels_last"
        assert clone(est).data_format == "channels_last"
        assert "data_format='channels_last'" in repr(est)
        assert "data_format : {\"channels_first\", \"channels_last\"}" in cls.__doc__


@pytest.mark.parametrize("name", sorted(path.stem for path in SAVED.glob("*.pkl")))
def test_models_saved_before_data_format_get_its_default(name):
    assert b"data_format" not in (SAVED / f"{name}.pkl").read_bytes()
    with open(SAVED / f"{name}.pkl", "rb") as f:
        model = pickle.load(f)
    assert model.data_format == "channels_first"
    assert model.get_params()["data_format"] == "channels_first"
    assert "data_format" not in repr(model)  # the default is not shown
    assert repr(clone(model)) == repr(model)
    expected = np.load(SAVED / "expected.npz")
    np.testing.assert_array_equal(model.predict(expected["X"]), expected[f"{name}_predict"])
    sio = pytest.importorskip("skops.io")
    loaded = sio.load(SAVED / f"{name}.skops", trusted=SKOPS_TRUSTED_TYPES)
    assert loaded.get_params()["data_format"] == "channels_first"
    np.testing.assert_array_equal(loaded.predict(expected["X"]), expected[f"{name}_predict"])


# ------------------------------------------------- layouts probably misread


def messages(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [str(w.message) for w in caught if w.category is UserWarning]


def test_flattened_colour_images_read_as_a_signal_warn_with_the_fix():
    X = np.random.RandomState(0).rand(20, 32 * 32 * 3)  # 32 x 32 x 3, flattened
    y = np.arange(20) % 2
    (message,) = messages(lambda: tiny(max_iter=1).fit(X, y))
    assert "X has 3072 features per sample, read as one 1 x 3072 signal" in message
    assert "image_shape=(32, 32, 3) with data_format='channels_last'" in message
    assert "image_shape=(3, 32, 32) for rows in channel-first order" in message
    assert "image_shape=(1, 3072) reads them as a signal without this warning" in message
    assert messages(lambda: tiny(max_iter=1, image_shape=(1, 3072)).fit(X, y)) == []
    assert messages(lambda: tiny(max_iter=1, image_shape=(32, 32, 3), data_format="channels_last")
                    .fit(X, y)) == []


def test_image_shape_in_channels_last_order_warns_with_the_fix(colour):
    X_hwc, y = colour
    (message,) = messages(lambda: tiny(image_shape=(8, 8, 3)).fit(X_hwc.reshape(60, -1), y))
    assert message.startswith("image_shape=(8, 8, 3) is read as 8 channels of 8 x 3 images")
    assert "pass data_format='channels_last' with image_shape=(8, 8, 3)" in message
    assert "image_shape=(3, 8, 8)" in message


def test_four_d_images_in_the_other_layout_warn(colour):
    X_hwc, y = colour
    (message,) = messages(lambda: tiny().fit(X_hwc, y))
    assert "read as 8 channels of 8 x 3 images" in message
    assert "data_format='channels_last' (or np.moveaxis(X, -1, 1))" in message
    (message,) = messages(lambda: tiny(data_format="channels_last").fit(np.moveaxis(X_hwc, -1, 1), y))
    assert "read with data_format='channels_last' as 3 x 8 images with 8 channels" in message
    assert "leave data_format at 'channels_first'" in message


@pytest.mark.parametrize("n_features", [3, 30, 48, 64, 100, 128])
def test_signals_and_square_images_do_not_warn(n_features):
    X, y = np.random.RandomState(0).rand(10, n_features), np.arange(10) % 2
    assert messages(lambda: tiny(max_iter=1).fit(X, y)) == []


# ------------------------------------------------------ text targets


@pytest.mark.parametrize(
    "y, example",
    [
        (np.array(["small", "big"] * 10), "small"),
        (np.array(["1.5", "2"] * 10), "1.5"),  # digits are text too
        (np.array(["1", "2"] * 10, dtype=object), "1"),
        (["3", 4.0] * 10, "3"),
    ],
)
def test_the_regressor_refuses_text_targets_naming_y(y, example):
    X = np.random.RandomState(0).rand(20, 16)
    reg = tiny(NumpyCNNRegressor).fit(X, np.arange(20.0))
    before = reg.predict(X)
    message = (
        rf"NumpyCNNRegressor needs numeric targets, but y holds strings \(such as '{re.escape(example)}'\)\. "
        r"Convert y to numeric values explicitly \(y.astype\(float\)"
    )
    for call in (reg.fit, reg.partial_fit):
        with pytest.raises(ValueError, match=message):
            call(X, y)
    np.testing.assert_array_equal(reg.predict(X), before)
    # Numbers held in an object array are numbers.
    numbers = np.array(list(range(20)), dtype=object)
    np.testing.assert_array_equal(
        tiny(NumpyCNNRegressor).fit(X, numbers).predict(X), tiny(NumpyCNNRegressor).fit(X, np.arange(20.0)).predict(X)
    )


def test_inspection_takes_one_sample_in_the_model_layout(colour):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skcnn.inspection import ActivationsDisplay

    X_hwc, y = colour
    last = tiny(data_format="channels_last").fit(X_hwc, y)
    first = tiny().fit(np.moveaxis(X_hwc, -1, 1), y)
    shown = ActivationsDisplay.from_estimator(last, X_hwc[0]).activations
    np.testing.assert_array_equal(
        shown, ActivationsDisplay.from_estimator(first, np.moveaxis(X_hwc[0], -1, 0)).activations
    )
    with pytest.raises(ValueError, match=r"expected a row of 192 features or an image of shape \(8, 8, 3\)"):
        ActivationsDisplay.from_estimator(last, np.moveaxis(X_hwc[0], -1, 0))
    plt.close("all")


def test_signals_of_one_d_layers_read_channels_last_and_take_augmentation():
    from skcnn.augmentation import RandomFlip, RandomRotation, RandomShift
    from skcnn.layers import Conv1D, Flatten, MaxPool1D, ReLU

    def net():
        return [("conv1", Conv1D(3, 3)), ("relu", ReLU()), ("pool", MaxPool1D(2)), ("flat", Flatten())]

    def model(**params):
        return NumpyCNNClassifier(layers=net(), max_iter=2, batch_size=20, random_state=0, **params)

    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((40, 2, 16)).astype(np.float32), np.arange(40) % 2  # (n, C, L)
    first = model().fit(X, y)
    last = model(data_format="channels_last").fit(np.moveaxis(X, 1, -1), y)
    assert last.image_shape_ == first.image_shape_ == (2, 16)
    assert_same_model(last, first)
    augmented = model(augment=[RandomShift(2), RandomFlip()]).fit(X, y)
    assert augmented.loss_curve_ != first.loss_curve_
    with pytest.raises(ValueError, match=r"cannot rotate samples of shape \(2, 16\) \(channels, length\)"):
        model(augment=[RandomRotation(10)]).fit(X, y)
