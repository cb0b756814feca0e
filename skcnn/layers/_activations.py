"""Elementwise activation layers, and their names as the estimators' ``activation``."""

import numpy as np
from scipy.special import expit

from ._base import Layer


class _Activation(Layer):
    """Elementwise activation; subclasses give ``_apply`` and ``_slope``.

    ``_slope(out)`` is the derivative expressed through the output, so the
    forward pass keeps only its output. The outputs keep the input's memory
    layout (numpy's ``order='K'``).
    """

    def forward(self, X, training=False):
        out = self._apply(X)
        if training:
            self._cache = out
        return out

    def backward(self, dY, input_grad=True):
        out = self._pop_cache()
        if not input_grad:
            return None
        return dY * self._slope(out)


class ReLU(_Activation):
    """``max(x, 0)``; its derivative at 0 is 0, as in PyTorch."""

    def _apply(self, X):
        return np.maximum(X, 0)

    def _slope(self, out):
        return out > 0


class Tanh(_Activation):
    """Hyperbolic tangent."""

    def _apply(self, X):
        return np.tanh(X)

    def _slope(self, out):
        return 1 - out * out


class Logistic(_Activation):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow."""

    def _apply(self, X):
        return expit(X)

    def _slope(self, out):
        return out * (1 - out)


class Identity(_Activation):
    """No-op activation (``"identity"``, as in MLPClassifier)."""

    def _apply(self, X):
        return X

    def _slope(self, out):
        return np.ones((), dtype=out.dtype)


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Logistic, "identity": Identity}
