"""Elementwise activation layers, and their names as the estimators' ``activation``."""

import numpy as np
from scipy.special import expit

from ._base import Layer, _check_float


class Activation(Layer):
    """Base class of the elementwise activations.

    A subclass gives ``_apply(X)``, the function, and ``_derivative(saved)``,
    its derivative as a function of what the training pass keeps: the
    output (``derivative_from = "output"``, enough where the output tells
    the derivative, as for relu, tanh or the logistic) or the input
    (``"input"``, as for a leaky relu of any slope). The outputs keep the
    input's memory layout (numpy's ``order='K'``). Deriving from this class
    is also what makes a layer an activation for :mod:`skcnn.inspection`.
    """

    #: What ``_derivative`` takes: "output" or "input" of the forward pass.
    derivative_from = "output"

    def forward(self, X, training=False):
        out = self._apply(X)
        if training:
            self._cache = out if self.derivative_from == "output" else X
        return out

    def backward(self, dY, input_grad=True):
        saved = self._pop_cache()
        if not input_grad:
            return None
        return dY * self._derivative(saved)

    def _apply(self, X):
        raise NotImplementedError(f"{type(self).__name__} must define _apply(X).")

    def _derivative(self, saved):
        raise NotImplementedError(f"{type(self).__name__} must define _derivative(saved).")


class ReLU(Activation):
    """``max(x, 0)``; its derivative at 0 is 0, as in PyTorch."""

    def _apply(self, X):
        return np.maximum(X, 0)

    def _derivative(self, out):
        return out > 0


class LeakyReLU(Activation):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (as ``torch.nn.LeakyReLU``).

    The derivative at 0 is ``negative_slope``, as in PyTorch. It is computed
    from the input: with a negative or zero slope the output does not tell
    which side of 0 the input was.

    Parameters
    ----------
    negative_slope : float, default=0.01
        Slope for negative inputs (any finite float, as PyTorch allows).
    """

    derivative_from = "input"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = _check_float(
            negative_slope, "negative_slope", lambda v: True, "(any finite value)"
        )

    def _apply(self, X):
        out = X * X.dtype.type(self.negative_slope)
        np.copyto(out, X, where=X > 0)
        return out

    def _derivative(self, X):
        slope = np.full_like(X, self.negative_slope)
        np.copyto(slope, 1, where=X > 0)
        return slope

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope!r})"


class Tanh(Activation):
    """Hyperbolic tangent."""

    def _apply(self, X):
        return np.tanh(X)

    def _derivative(self, out):
        return 1 - out * out


class Logistic(Activation):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow."""

    def _apply(self, X):
        return expit(X)

    def _derivative(self, out):
        return out * (1 - out)


class Identity(Activation):
    """No-op activation (``"identity"``, as in MLPClassifier)."""

    def _apply(self, X):
        return X

    def _derivative(self, out):
        return np.ones((), dtype=out.dtype)


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Logistic, "identity": Identity}
