"""The types a saved skcnn model holds, for ``skops.io.load(..., trusted=...)``."""

from . import augmentation, layers
from ._classifier import NumpyCNNClassifier
from ._network import Sequential
from ._regressor import NumpyCNNRegressor
from .optimizers import SGD, Adam


def _public_subclasses(module, base):
    """The public classes of ``module`` deriving from ``base`` (every layer or
    transform a model may hold, new ones included without a list to update)."""
    found = (getattr(module, name) for name in module.__all__)
    return [obj for obj in found if isinstance(obj, type) and issubclass(obj, base) and obj is not base]


_SAVED_CLASSES = (
    NumpyCNNClassifier, NumpyCNNRegressor, Sequential, SGD, Adam,
    *layers.PUBLIC_LAYERS,
    *_public_subclasses(augmentation, augmentation.Transform),
)

#: Fully qualified names of every skcnn type a fitted model contains: pass them
#: to ``skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)``.
SKOPS_TRUSTED_TYPES = [f"{cls.__module__}.{cls.__qualname__}" for cls in _SAVED_CLASSES]
