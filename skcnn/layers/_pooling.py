"""Pooling layers: max, average and global pools (PyTorch's semantics).

Like the other image layers they take and return NCHW-shaped arrays over
channels-last memory; the global pools return ``(N, C)`` arrays. The 1-D
pools take signals ``(N, C, L)`` and compute as their 2-D twins on one-row
images ``(N, C, 1, L)``.
"""

import numpy as np

from .._functional.geometry import as_tuple, output_length
from .._functional.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from ._base import Layer, _as_image, _check_sample_shape, _from_image, _nchw, _nhwc
from ._conv import _PoolBlocks


class _Pool(Layer):
    """Window geometry of the max and average pools (floor mode, no
    padding), over ``input_ndim - 1`` spatial axes."""

    def __init__(self, pool_size=2, stride=None):
        super().__init__()
        n = self.input_ndim - 1
        self.pool_size = as_tuple(pool_size, "pool_size", n)
        self.stride = self.pool_size if stride is None else as_tuple(stride, "stride", n)

    @property
    def _geometry(self):
        """``(pool_size, stride)`` of the equivalent 2-D pool (window height 1 for 1-D)."""
        rows = (1,) * (2 - len(self.pool_size))
        return rows + self.pool_size, rows + self.stride

    def compute_output_shape(self, input_shape):
        c, *size = _check_sample_shape(self, input_shape)
        if any(p > s for p, s in zip(self.pool_size, size)):
            raise ValueError(
                f"{type(self).__name__}: pool_size={self.pool_size} is larger than the "
                f"input {tuple(size)}."
            )
        return (c,) + tuple(
            output_length(s, p, st) for s, p, st in zip(size, self.pool_size, self.stride)
        )

    def __repr__(self):
        return f"{type(self).__name__}(pool_size={self.pool_size}, stride={self.stride})"


class _MaxPool(_Pool):
    """Max-pooling on NCHW-shaped arrays (signals as one-row images)."""

    def takes_pool_blocks(self, input_shape):
        """The pool's windows, when they tile the input exactly."""
        pool, stride = self._geometry
        tiles = all(s % p == 0 for s, p in zip(input_shape[1:], self.pool_size))
        return pool if stride == pool and tiles else None

    def forward(self, X, training=False):
        blocked = isinstance(X, _PoolBlocks)  # from the convolution before (see Conv2D.pool_blocks)
        x = X.array if blocked else _nhwc(_as_image(X, self.input_ndim))
        pool, stride = self._geometry
        out = maxpool2d_forward(x, pool, stride, self._ws(training), blocked)
        if training:
            self._cache = (x, out, blocked)
        return _from_image(_nchw(out), self.input_ndim)

    def backward(self, dY, input_grad=True):
        x, out, blocked = self._pop_cache()
        if not input_grad:
            return None
        pool, stride = self._geometry
        dout = _nhwc(_as_image(dY, self.input_ndim))
        dx = maxpool2d_backward(dout, x, out, pool, stride, self._ws(True), blocked)
        return _PoolBlocks(dx) if blocked else _from_image(_nchw(dx), self.input_ndim)


class _AvgPool(_Pool):
    """Average pooling on NCHW-shaped arrays (signals as one-row images)."""

    def forward(self, X, training=False):
        x = _nhwc(_as_image(X, self.input_ndim))
        pool, stride = self._geometry
        out = avgpool2d_forward(x, pool, stride, self._ws(training))
        if training:
            self._cache = x.shape
        return _from_image(_nchw(out), self.input_ndim)

    def backward(self, dY, input_grad=True):
        shape = self._pop_cache()
        if not input_grad:
            return None
        pool, stride = self._geometry
        dout = _nhwc(_as_image(dY, self.input_ndim))
        dx = avgpool2d_backward(dout, shape, pool, stride, self._ws(True))
        return _from_image(_nchw(dx), self.input_ndim)


class MaxPool2D(_MaxPool):
    """2-D max-pooling (as ``torch.nn.MaxPool2d``, floor mode, no padding).

    The gradient of each window goes to exactly one input: the first maximum
    in row-major window order, as PyTorch does.

    Parameters
    ----------
    pool_size : int or tuple of (int, int), default=2
        Height and width of the window.
    stride : int, tuple of (int, int) or None, default=None
        Step between windows; ``None`` means ``pool_size``.
    """

    input_ndim = 3


class MaxPool1D(_MaxPool):
    """1-D max-pooling of signals (as ``torch.nn.MaxPool1d``, floor mode, no padding).

    ``(N, C, L)`` -> ``(N, C, L_out)``. The gradient of each window goes to
    its first maximum, as PyTorch does.

    Parameters
    ----------
    pool_size : int, default=2
        Length of the window.
    stride : int or None, default=None
        Step between windows; ``None`` means ``pool_size``.
    """

    input_ndim = 2


class AvgPool2D(_AvgPool):
    """2-D average pooling (as ``torch.nn.AvgPool2d``: floor mode, no padding).

    Each output is the mean of its window; backward spreads its gradient
    evenly over the window.

    Parameters
    ----------
    pool_size : int or tuple of (int, int), default=2
        Height and width of the window.
    stride : int, tuple of (int, int) or None, default=None
        Step between windows; ``None`` means ``pool_size``.
    """

    input_ndim = 3


class AvgPool1D(_AvgPool):
    """1-D average pooling of signals (as ``torch.nn.AvgPool1d``: floor mode, no padding).

    Parameters
    ----------
    pool_size : int, default=2
        Length of the window.
    stride : int or None, default=None
        Step between windows; ``None`` means ``pool_size``.
    """

    input_ndim = 2


def _pixels_by_channel(X):
    """An NCHW-shaped batch as channels-last ``(N, H*W, C)`` (a view when its
    memory is channels-last, as our layers' outputs are)."""
    x = np.ascontiguousarray(_nhwc(X))
    n, h, w, c = x.shape
    return x.reshape(n, h * w, c)


class _GlobalPool(Layer):
    """A statistic of every channel over all positions: ``(N, C, ...)`` -> ``(N, C)``."""

    def compute_output_shape(self, input_shape):
        c, *_ = _check_sample_shape(self, input_shape)
        return (c,)


class _GlobalAvgPool(_GlobalPool):
    def forward(self, X, training=False):
        X = _as_image(X, self.input_ndim)
        x = _pixels_by_channel(X)
        out = x.sum(axis=1)
        out /= x.shape[1]
        if training:
            self._cache = X.shape
        return out

    def backward(self, dY, input_grad=True):
        n, c, h, w = self._pop_cache()
        if not input_grad:
            return None
        dx = np.empty((n, h, w, c), dtype=dY.dtype)
        np.copyto(dx, (dY / (h * w))[:, None, None, :])
        return _from_image(_nchw(dx), self.input_ndim)


class _GlobalMaxPool(_GlobalPool):
    def forward(self, X, training=False):
        X = _as_image(X, self.input_ndim)
        x = _pixels_by_channel(X)
        if not training:
            return x.max(axis=1)
        winners = x.argmax(axis=1)  # (N, C): the first maximum
        self._cache = (X.shape, winners)
        return np.take_along_axis(x, winners[:, None, :], axis=1)[:, 0, :]

    def backward(self, dY, input_grad=True):
        (n, c, h, w), winners = self._pop_cache()
        if not input_grad:
            return None
        dx = np.zeros((n, h * w, c), dtype=dY.dtype)
        np.put_along_axis(dx, winners[:, None, :], dY[:, None, :], axis=1)
        return _from_image(_nchw(dx.reshape(n, h, w, c)), self.input_ndim)


class GlobalAvgPool2D(_GlobalAvgPool):
    """Mean of every channel over the image: ``(N, C, H, W)`` -> ``(N, C)``.

    As ``torch.nn.AdaptiveAvgPool2d(1)`` followed by a flatten.
    """

    input_ndim = 3


class GlobalAvgPool1D(_GlobalAvgPool):
    """Mean of every channel over the signal: ``(N, C, L)`` -> ``(N, C)``.

    As ``torch.nn.AdaptiveAvgPool1d(1)`` followed by a flatten.
    """

    input_ndim = 2


class GlobalMaxPool2D(_GlobalMaxPool):
    """Maximum of every channel over the image: ``(N, C, H, W)`` -> ``(N, C)``.

    As ``torch.nn.AdaptiveMaxPool2d(1)`` followed by a flatten. The gradient
    of each output goes to one input, the first maximum in row-major
    ``(H, W)`` order, as in :class:`~skcnn.layers.MaxPool2D` and
    ``AdaptiveMaxPool2d`` (``torch.amax`` would split it among ties instead).
    """

    input_ndim = 3


class GlobalMaxPool1D(_GlobalMaxPool):
    """Maximum of every channel over the signal: ``(N, C, L)`` -> ``(N, C)``.

    As ``torch.nn.AdaptiveMaxPool1d(1)`` followed by a flatten; the gradient
    goes to the first maximum, as there.
    """

    input_ndim = 2
