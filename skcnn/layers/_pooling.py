"""Pooling layers: max, average and global pools (PyTorch's semantics).

Like the other image layers they take and return NCHW-shaped arrays over
channels-last memory; the global pools return ``(N, C)`` arrays.
"""

import numpy as np

from .._functional.geometry import as_pair, output_length
from .._functional.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from ._base import Layer, _check_image_shape, _nchw, _nhwc
from ._conv import _PoolBlocks


class _Pool2D(Layer):
    """Window geometry shared by MaxPool2D and AvgPool2D (floor mode, no padding)."""

    def __init__(self, pool_size=2, stride=None):
        super().__init__()
        self.pool_size = as_pair(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else as_pair(stride, "stride")

    def compute_output_shape(self, input_shape):
        c, h, w = _check_image_shape(self, input_shape)
        ph, pw = self.pool_size
        if ph > h or pw > w:
            raise ValueError(
                f"{type(self).__name__}: pool_size={self.pool_size} is larger than the "
                f"input ({h}, {w})."
            )
        return (c, output_length(h, ph, self.stride[0]), output_length(w, pw, self.stride[1]))

    def __repr__(self):
        return f"{type(self).__name__}(pool_size={self.pool_size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
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

    def forward(self, X, training=False):
        blocked = isinstance(X, _PoolBlocks)  # from the Conv2D before (see Conv2D.pool_blocks)
        x = X.array if blocked else _nhwc(X)
        out = maxpool2d_forward(x, self.pool_size, self.stride, self._ws(training), blocked)
        if training:
            self._cache = (x, out, blocked)
        return _nchw(out)

    def backward(self, dY, input_grad=True):
        x, out, blocked = self._pop_cache()
        if not input_grad:
            return None
        dx = maxpool2d_backward(
            _nhwc(dY), x, out, self.pool_size, self.stride, self._ws(True), blocked
        )
        return _PoolBlocks(dx) if blocked else _nchw(dx)


class AvgPool2D(_Pool2D):
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

    def forward(self, X, training=False):
        x = _nhwc(X)
        out = avgpool2d_forward(x, self.pool_size, self.stride, self._ws(training))
        if training:
            self._cache = x.shape
        return _nchw(out)

    def backward(self, dY, input_grad=True):
        shape = self._pop_cache()
        if not input_grad:
            return None
        dx = avgpool2d_backward(_nhwc(dY), shape, self.pool_size, self.stride, self._ws(True))
        return _nchw(dx)


def _pixels_by_channel(X):
    """An NCHW-shaped batch as channels-last ``(N, H*W, C)`` (a view when its
    memory is channels-last, as our layers' outputs are)."""
    x = np.ascontiguousarray(_nhwc(X))
    n, h, w, c = x.shape
    return x.reshape(n, h * w, c)


class GlobalAvgPool2D(Layer):
    """Mean of every channel over the image: ``(N, C, H, W)`` -> ``(N, C)``.

    As ``torch.nn.AdaptiveAvgPool2d(1)`` followed by a flatten.
    """

    def compute_output_shape(self, input_shape):
        c, _, _ = _check_image_shape(self, input_shape)
        return (c,)

    def forward(self, X, training=False):
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
        return _nchw(dx)


class GlobalMaxPool2D(Layer):
    """Maximum of every channel over the image: ``(N, C, H, W)`` -> ``(N, C)``.

    As ``torch.nn.AdaptiveMaxPool2d(1)`` followed by a flatten. The gradient
    of each output goes to one input, the first maximum in row-major
    ``(H, W)`` order, as in :class:`~skcnn.layers.MaxPool2D` and
    ``AdaptiveMaxPool2d`` (``torch.amax`` would split it among ties instead).
    """

    def compute_output_shape(self, input_shape):
        c, _, _ = _check_image_shape(self, input_shape)
        return (c,)

    def forward(self, X, training=False):
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
        return _nchw(dx.reshape(n, h, w, c))
