"""skcnn: a convolutional neural network in numpy, as scikit-learn estimators."""

from ._classifier import NumpyCNNClassifier
from ._persistence import SKOPS_TRUSTED_TYPES
from ._regressor import NumpyCNNRegressor
from ._training.processes import reuse_workers

__version__ = "0.2.0.dev0"  # CHANGELOG.md: 0.2.0 (unreleased)

__all__ = [
    "NumpyCNNClassifier", "NumpyCNNRegressor", "SKOPS_TRUSTED_TYPES", "reuse_workers", "__version__",
]
