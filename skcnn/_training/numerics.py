"""Floating-point housekeeping of the model's arrays."""

import numpy as np


def flush_subnormals(arrays):
    """Set the subnormal values of float ``arrays`` to zero, in place.

    Weights and optimizer moments that decay toward zero (units a ReLU
    never opens, pulled down by the L2 penalty) pass through the subnormal
    floats, on which a CPU computes many times slower than on normal ones
    (``benchmarks/RESULTS.md``, "Design measurements").
    """
    for a in arrays:
        tiny = np.finfo(a.dtype).tiny
        np.copyto(a, 0, where=np.abs(a) < tiny)
