"""Central finite differences, shared by the gradient tests."""

import numpy as np


def numerical_gradient(f, array, eps=1e-6):
    """Central finite differences of the scalar ``f()`` with respect to ``array``.

    ``array`` is perturbed in place (and restored), so it must be the very
    array ``f`` reads.
    """
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        f_plus = f()
        array[index] = saved - eps
        f_minus = f()
        array[index] = saved
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad
