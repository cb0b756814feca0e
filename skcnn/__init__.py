"""skcnn: a convolutional neural network in numpy, as a scikit-learn estimator."""

from ._classifier import NumpyCNNClassifier
from ._persistence import SKOPS_TRUSTED_TYPES

__version__ = "0.1.0"

__all__ = ["NumpyCNNClassifier", "SKOPS_TRUSTED_TYPES", "__version__"]
