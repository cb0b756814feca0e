"""skcnn: a convolutional neural network in numpy, as a scikit-learn estimator."""

from ._classifier import NumpyCNNClassifier

__version__ = "0.1.0"

__all__ = ["NumpyCNNClassifier", "__version__"]
