"""Hyperparameter validation and image shapes (``skcnn._validation``)."""

import numpy as np
import pytest

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._validation import resolve_image_shape, validate_hyperparameters


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
