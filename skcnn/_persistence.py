"""The types a saved skcnn model holds, for ``skops.io.load(..., trusted=...)``."""

from ._classifier import NumpyCNNClassifier
from ._network import Sequential
from ._regressor import NumpyCNNRegressor
from .augmentation import RandomFlip, RandomRotation, RandomShift
from .layers import (
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    Identity,
    Logistic,
    MaxPool2D,
    ReLU,
    Tanh,
)
from .optimizers import SGD, Adam

_SAVED_CLASSES = (
    NumpyCNNClassifier, NumpyCNNRegressor, Sequential, Conv2D, MaxPool2D, Flatten, Dropout, Dense,
    ReLU, Tanh, Logistic, Identity, SGD, Adam, RandomShift, RandomFlip, RandomRotation,
    BatchNorm1D, BatchNorm2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D,
)

#: Fully qualified names of every skcnn type a fitted model contains: pass them
#: to ``skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)``.
SKOPS_TRUSTED_TYPES = [f"{cls.__module__}.{cls.__qualname__}" for cls in _SAVED_CLASSES]
