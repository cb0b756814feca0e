"""Hyperparameter validation and image shapes (``skcnn._validation``)."""

import numpy as np
import pytest
from scipy import sparse

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._validation import (
    channels_first_rows,
    flatten_images,
    resolve_image_shape,
    validate_hyperparameters,
)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"filters": (0,)}, r"filters must be a tuple of positive ints. Received filters=\(0,\)"),
        ({"kernel_size": -3}, "Received kernel_size=-3"),
        ({"pool_size": (2, 0)}, r"Received pool_size=\(2, 0\)"),
        ({"padding": "full"}, "Received padding='full'"),
        ({"solver": "newton"}, "solver must be one of \\['adam', 'lbfgs', 'sgd'\\]. Received solver='newton'"),
        ({"max_fun": 0}, "max_fun must be a positive int. Received max_fun=0"),
        ({"learning_rate_init": 0.0}, "Received learning_rate_init=0.0"),
        ({"learning_rate_init": -1}, "Received learning_rate_init=-1"),
        ({"activation": "gelu"}, "Received activation='gelu'"),
        ({"batch_size": 0}, "Received batch_size=0"),
        ({"max_iter": 0}, "Received max_iter=0"),
        ({"validation_fraction": 1.0}, "Received validation_fraction=1.0"),
        ({"hidden_layer_sizes": (10, -1)}, r"Received hidden_layer_sizes=\(10, -1\)"),
        ({"image_shape": (8, 8, 1, 1)}, r"Received image_shape=\(8, 8, 1, 1\)"),
        ({"class_weight": "auto"}, "Received class_weight='auto'"),
        ({"dtype": np.int32}, "dtype must be np.float32 or np.float64. Received dtype="),
        ({"dtype": "float16"}, "Received dtype='float16'"),
        ({"n_jobs": 0}, "n_jobs must be None or a non-zero int. Received n_jobs=0"),
        ({"early_stopping": "yes"}, "Received early_stopping='yes'"),
    ],
)
def test_invalid_hyperparameters_name_argument_and_value(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        validate_hyperparameters(NumpyCNNClassifier(**params))
    # The estimator checks them at fit, before anything else.
    X, y = np.random.RandomState(0).rand(20, 64), np.arange(20) % 2
    with pytest.raises((ValueError, TypeError), match=match):
        NumpyCNNClassifier(**params).fit(X, y)


def test_regressor_parameters_are_checked_and_classifier_ones_absent():
    with pytest.raises(ValueError, match="Received loss='huber'"):
        validate_hyperparameters(NumpyCNNRegressor(loss="huber"))
    assert "class_weight" not in NumpyCNNRegressor().get_params()
    normalized = validate_hyperparameters(NumpyCNNRegressor(kernel_size=5, pool_size=(2, 1)))
    assert normalized["kernel_size"] == (5, 5) and normalized["pool_size"] == (2, 1)


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.dtype(np.float32)])
def test_dtype_is_normalized_to_its_name(dtype):
    assert validate_hyperparameters(NumpyCNNClassifier(dtype=dtype))["dtype"] == "float32"


@pytest.mark.parametrize(
    "image_shape, n_features, from_X, expected",
    [
        (None, 64, None, (1, 8, 8)),  # a perfect square: one square channel
        (None, 100, None, (1, 10, 10)),
        (None, 30, None, (1, 1, 30)),  # anything else: a 1 x n signal
        ((3, 10), 30, None, (1, 3, 10)),
        ((2, 3, 5), 30, None, (2, 3, 5)),
        (None, 48, (3, 4, 4), (3, 4, 4)),  # 3-D and 4-D X carry their own shape
    ],
)
def test_image_shape_resolution(image_shape, n_features, from_X, expected):
    assert resolve_image_shape(image_shape, n_features, from_X) == expected


def test_image_shape_mismatches_name_both_numbers():
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 values.*64 features"):
        resolve_image_shape((7, 7), 64)
    with pytest.raises(ValueError, match=r"does not match the shape \(3, 4, 4\)"):
        resolve_image_shape((1, 6, 8), 48, (3, 4, 4))


@pytest.mark.parametrize(
    "image_shape, n_features, from_X, data_format, sample_ndim, expected",
    [
        ((8, 8, 3), 192, None, "channels_last", 2, (3, 8, 8)),  # (H, W, C) rows
        ((8, 8), 64, None, "channels_last", 2, (1, 8, 8)),  # one channel either way
        (None, 192, (3, 8, 8), "channels_last", 2, (3, 8, 8)),
        ((3, 20), 60, None, "channels_first", 1, (3, 20)),  # 1-D layers: (C, L)
        ((20,), 20, None, "channels_first", 1, (1, 20)),
        ((20, 3), 60, None, "channels_last", 1, (3, 20)),
        (None, 64, None, "channels_first", 1, (1, 64)),  # no square rule for 1-D samples
    ],
)
def test_the_rule_for_reading_samples(image_shape, n_features, from_X, data_format, sample_ndim, expected):
    assert resolve_image_shape(image_shape, n_features, from_X, data_format, sample_ndim) == expected


@pytest.mark.parametrize(
    "shape, data_format, sample_ndim, expected",
    [
        ((5, 8, 8), "channels_first", 2, (1, 8, 8)),  # 3-D: one-channel images
        ((5, 3, 8, 8), "channels_first", 2, (3, 8, 8)),
        ((5, 8, 8, 3), "channels_last", 2, (3, 8, 8)),
        ((5, 3, 20), "channels_first", 1, (3, 20)),  # what 1-D layers read
        ((5, 20, 3), "channels_last", 1, (3, 20)),
    ],
)
def test_x_with_samples_of_its_own_shape(shape, data_format, sample_ndim, expected):
    rows, sample = flatten_images(np.zeros(shape), data_format, sample_ndim)
    assert sample == expected and rows.shape == (5, int(np.prod(expected)))


def test_x_of_another_rank_is_refused_with_the_shapes_read():
    with pytest.raises(ValueError, match=r"X must be 2-D \(n_samples, n_features\).*\(n_samples, H, W, C\)\. "
                       r"Received an array of shape \(2, 3, 4, 5, 6\)"):
        flatten_images(np.zeros((2, 3, 4, 5, 6)), "channels_last")


def test_channels_last_rows_are_permuted_to_channels_first():
    X_hwc = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
    rows = channels_first_rows(X_hwc.reshape(2, -1), (3, 4, 5), "channels_last")
    np.testing.assert_array_equal(rows, np.moveaxis(X_hwc, -1, 1).reshape(2, -1))
    csr = channels_first_rows(sparse.csr_matrix(X_hwc.reshape(2, -1)), (3, 4, 5), "channels_last")
    np.testing.assert_array_equal(csr.toarray(), rows)
    same = X_hwc.reshape(2, -1)
    assert channels_first_rows(same, (3, 4, 5), "channels_first") is same
