"""The full scikit-learn estimator contract, on several architectures.

No expected failures and no ``poor_score`` / ``non_deterministic`` tags: every
check of ``check_estimator`` runs and must pass.
"""

import numpy as np
import pytest
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn.layers import (
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Tanh,
)


def small_layer_list():
    """A network given as a layer list that takes any input (1 x n signals too)."""
    return [
        ("conv1", Conv2D(4, kernel_size=(1, 3), padding="same")),
        ("relu1", ReLU()),
        ("pool1", MaxPool2D(1)),
        ("flatten", Flatten()),
        ("drop", Dropout(0.2)),
        ("fc", Dense(16)),
        ("tanh", Tanh()),
    ]


def signal_layer_list():
    """The same network in 1-D layers: 2-D X's rows are ``(1, n_features)`` signals."""
    return [
        ("conv1", Conv1D(4, kernel_size=3, padding="same")),
        ("relu1", ReLU()),
        ("pool1", MaxPool1D(1)),
        ("flatten", Flatten()),
        ("fc", Dense(16)),
        ("tanh", Tanh()),
    ]


def batchnorm_layer_list(pool=True):
    """Batch normalization of images and of features: statistics weighted by
    the canonical batches' sample weights, one-sample fits refused. With
    ``pool=False`` Flatten keeps where a feature is (global average pooling
    mixes the 1 x n signals' positions: too weak for the regression checks)."""
    return [
        ("conv1", Conv2D(4, 3, padding="same")),
        ("bn1", BatchNorm2D()),
        ("relu1", ReLU()),
        ("gap", GlobalAvgPool2D()) if pool else ("flatten", Flatten()),
        ("fc", Dense(8)),
        ("bn2", BatchNorm1D()),
        ("relu2", ReLU()),
    ]


CONFIGURATIONS = [
    NumpyCNNClassifier(),
    NumpyCNNClassifier(filters=(8, 16), hidden_layer_sizes=(32,), solver="sgd"),
    NumpyCNNClassifier(filters=(4,), kernel_size=(1, 3), pool_size=1, activation="tanh"),
    NumpyCNNClassifier(filters=(6,), padding=1, activation="logistic", learning_rate_init=0.01),
    NumpyCNNClassifier(filters=(4,), hidden_layer_sizes=(16,), solver="lbfgs", dropout=0.0),
    NumpyCNNRegressor(),
    # A small sgd network with the regressor's defaults (issue 21: with the
    # classifier's dropout of 0.5 it failed check_regressors_train, R^2 0.10).
    NumpyCNNRegressor(filters=(4, 6), hidden_layer_sizes=(16,), solver="sgd"),
    NumpyCNNRegressor(filters=(4,), kernel_size=(1, 3), pool_size=1, activation="tanh"),
    # An MLP in float64, as MLPRegressor computes: in float32 one sample's
    # prediction may round its last bits differently from the same sample's
    # in a batch (BLAS takes other kernels for one row or one output), beyond
    # check_methods_subset_invariance's absolute 1e-7 for outputs near zero.
    NumpyCNNRegressor(filters=(), solver="lbfgs", dropout=0.0, dtype=np.float64),
    NumpyCNNClassifier(layers=small_layer_list()),
    NumpyCNNRegressor(layers=small_layer_list()),
    NumpyCNNClassifier(layers=signal_layer_list()),
    # Fewer, larger steps: the checks' small data sets converge as well, faster.
    # The classifier predicts with statistics of the training set, the
    # regressor with the moving averages.
    NumpyCNNClassifier(
        layers=batchnorm_layer_list(), max_iter=60, learning_rate_init=0.01,
        batchnorm_statistics="training_set",
    ),
    NumpyCNNRegressor(
        layers=batchnorm_layer_list(pool=False), max_iter=60, learning_rate_init=0.01
    ),
]
# loss="poisson" refuses negative targets, which check_regressor_multioutput
# feeds whatever the positive_only tag says (as MLPRegressor's would): its
# tests are in test_regressor.py.


@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_contract(estimator, check):
    check(estimator)


# The transformer checks scikit-learn runs on its own transformers besides
# check_estimator's (sklearn/tests/test_common.py): feature names out, and
# set_output's pandas containers. On a few kinds of network (the built-in one
# goes through them in test_transform.py's FeatureUnion and ColumnTransformer).
TRANSFORMER_CHECKS = [
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_get_feature_names_out_error,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
]
TRANSFORMER_CONFIGURATIONS = {
    "float64-mlp": NumpyCNNRegressor(filters=(), solver="lbfgs", dropout=0.0, dtype=np.float64),
    "1d-layers": NumpyCNNClassifier(layers=signal_layer_list()),
    "batch-norm": NumpyCNNRegressor(
        layers=batchnorm_layer_list(pool=False), max_iter=60, learning_rate_init=0.01
    ),
}


# The pandas checks mix DataFrames and arrays on purpose, and scikit-learn warns about it.
@pytest.mark.filterwarnings("ignore:X (has|does not have valid) feature names:UserWarning")
@pytest.mark.parametrize("kind", TRANSFORMER_CONFIGURATIONS)
@pytest.mark.parametrize("check", TRANSFORMER_CHECKS, ids=lambda check: check.__name__)
def test_transformer_contract(kind, check):
    pytest.importorskip("pandas")
    estimator = TRANSFORMER_CONFIGURATIONS[kind]
    check(type(estimator).__name__, estimator)


def test_no_escape_hatches():
    for est in CONFIGURATIONS:
        tags = get_tags(est)
        assert not tags.non_deterministic
        assert tags.input_tags.two_d_array and tags.input_tags.sparse
        assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]
        if isinstance(est, NumpyCNNClassifier):
            assert not tags.classifier_tags.poor_score
            assert tags.estimator_type == "classifier"
        else:
            assert not tags.regressor_tags.poor_score
            assert tags.estimator_type == "regressor"
