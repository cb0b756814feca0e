"""Arrays reused from one training batch to the next."""

import numpy as np


class Workspace:
    """Arrays reused from one training batch to the next.

    A training step allocates the same large arrays (padded input, im2col
    matrix, gradients) batch after batch. Fresh allocations of that size come
    from the kernel as new pages and page-fault on first touch, which costs
    more than the arithmetic on them (see benchmarks/RESULTS.md, "Design
    measurements"). ``ws(name, shape, dtype)``
    returns the same array for the same key (contents arbitrary). Kernels
    take ``ws=None`` to allocate normally: inference never shares arrays, so
    it stays safe to run from several threads.
    """

    def __init__(self):
        self._arrays = {}

    def __call__(self, name, shape, dtype, init=None):
        key = (name, tuple(shape), np.dtype(dtype).str)
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = np.empty(shape, dtype=dtype)
            if init is not None:
                init(array)
        return array

    def prefixed(self, prefix):
        """A workspace whose names live apart from this one's (same storage)."""
        return lambda name, shape, dtype, init=None: self(prefix + name, shape, dtype, init)


def workspace_array(ws, name, shape, dtype, init=None):
    """A new array, or ``ws``'s array for ``name``. ``init(array)`` runs on
    new arrays only: for parts that every user leaves as they are (zero
    borders, a column of ones), which a reused array then still holds."""
    if ws is not None:
        return ws(name, shape, dtype, init)
    array = np.empty(shape, dtype=dtype)
    if init is not None:
        init(array)
    return array


def filled_with(value):
    return lambda array: array.fill(value)
