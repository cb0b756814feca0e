"""Convolution layers (PyTorch's ``Conv1d`` and ``Conv2d`` semantics and parameter layout).

A signal ``(C, L)`` is computed as the one-row image ``(C, 1, L)``: the same
kernels, on views, whose channels-last memory is the same for both.
"""

import math

import numpy as np

from .._functional.conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from .._functional.geometry import as_tuple, output_length, resolve_padding
from ._base import (
    Layer,
    _as_image,
    _check_sample_shape,
    _from_image,
    _glorot_uniform,
    _nchw,
    _nhwc,
)


class _PoolBlocks:
    """A convolution's output, or its gradient, in pool-blocked memory.

    Passed only between a convolution and the max-pool right after it, in a
    training pass of a :class:`~skcnn._network.Sequential` (see
    ``Conv2D.pool_blocks``). ``array`` is ``(N, ph, pw, Ho/ph, Wo/pw, C)``:
    block ``(i, j)`` holds window offset ``(i, j)`` of every pool window.
    """

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class _Conv(Layer):
    """What Conv1D and Conv2D share: everything but their number of spatial
    axes (``input_ndim - 1``), computed as 2-D convolutions on images."""

    param_names = ("weight", "bias")
    has_coefs = True
    gives_pool_blocks = True

    def __init__(self, filters, kernel_size=3, stride=1, padding="valid", bias=True):
        super().__init__()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(
                f"filters must be a positive int. Received filters={filters!r}."
            )
        n = self.input_ndim - 1
        self.filters = int(filters)
        self.kernel_size = as_tuple(kernel_size, "kernel_size", n)
        self.stride = as_tuple(stride, "stride", n)
        self.pads = resolve_padding(padding, self.kernel_size)
        if padding == "same" and self.stride != (1,) * n:
            raise ValueError(
                "padding='same' needs stride 1, as in PyTorch. "
                f"Received stride={stride!r}."
            )
        self.padding = padding
        self.use_bias = bool(bias)
        self.weight = self.bias = None
        self.pool_blocks = None

    @property
    def _geometry(self):
        """``(kernel_size, stride, pads)`` of the equivalent 2-D convolution
        (a 1-D one is a 2-D one of kernel height 1)."""
        rows = 2 - len(self.kernel_size)
        return (
            (1,) * rows + self.kernel_size,
            (1,) * rows + self.stride,
            ((0, 0),) * rows + tuple(self.pads),
        )

    def compute_output_shape(self, input_shape):
        c, *size = _check_sample_shape(self, input_shape)
        padded = tuple(s + before + after for s, (before, after) in zip(size, self.pads))
        if any(k > p for k, p in zip(self.kernel_size, padded)):
            raise ValueError(
                f"kernel_size={self.kernel_size} is larger than the padded input "
                f"{padded} of a {type(self).__name__} with padding={self.padding!r} on "
                f"input of shape {(c, *size)}. Use a smaller kernel or padding='same'."
            )
        return (self.filters,) + tuple(
            output_length(s, k, st, before, after)
            for s, k, st, (before, after) in zip(size, self.kernel_size, self.stride, self.pads)
        )

    def build(self, input_shape, rng, dtype):
        self.output_shape = self.compute_output_shape(input_shape)
        self.input_shape = tuple(int(s) for s in input_shape)
        c, o, k = self.input_shape[0], self.filters, math.prod(self.kernel_size)
        weight = _glorot_uniform(rng, (o, c) + self.kernel_size, c * k, o * k, dtype)
        self._set_params(weight)
        return self.output_shape

    def forward_flops(self):
        """A multiply and an add per output value and kernel weight."""
        return 2 * math.prod(self.output_shape) * math.prod(self.kernel_size) * self.input_shape[0]

    def scratch_size(self):
        """The im2col matrix: one row of kernel weights' inputs per output position."""
        return math.prod(self.output_shape[1:]) * math.prod(self.kernel_size) * self.input_shape[0]

    def _weight_offsets(self):
        """The weights as ``(kh, kw, O, C)``, a view of ``weight``."""
        (kh, kw), _, _ = self._geometry
        return self.weight.reshape(self.filters, -1, kh, kw).transpose(2, 3, 0, 1)

    def _weight_matrix(self):
        """Weights as the ``(kh*kw*C, O)`` matrix that multiplies im2col rows."""
        return self._weight_offsets().transpose(0, 1, 3, 2).reshape(-1, self.filters)

    def forward(self, X, training=False):
        X = _as_image(X, self.input_ndim)
        kernel, stride, pads = self._geometry
        blocks = self.pool_blocks if training and self.pool_blocks else (1, 1)
        out, saved = conv2d_forward(
            _nhwc(X), self._weight_matrix(), self.bias, kernel, stride, pads,
            self._ws(training), blocks,
        )
        if training:
            self._cache = (saved, X.shape[2:], blocks)
        if blocks != (1, 1):
            return _PoolBlocks(out)
        return _from_image(_nchw(out), self.input_ndim)

    def backward(self, dY, input_grad=True):
        saved, input_hw, blocks = self._pop_cache()
        kernel, stride, pads = self._geometry
        blocked = isinstance(dY, _PoolBlocks)
        if blocked:
            # Rows in the im2col order: right for the weight gradient; the
            # input gradient reorders them as it copies them.
            dout = dY.array
        else:
            dout = np.ascontiguousarray(_nhwc(_as_image(dY, self.input_ndim)))
        dout2 = dout.reshape(-1, self.filters)
        kh, kw = kernel
        c = self.weight.shape[1]
        # With a bias, the im2col matrix ends with a column of ones: the last
        # row is its gradient.
        dw = conv2d_backward_weight(
            saved, dout2, kernel, stride, self.use_bias, self._ws(True), blocks
        )
        weight_grad = dw[: kh * kw * c].reshape(kh, kw, c, self.filters).transpose(3, 2, 0, 1)
        self.grads[0][...] = weight_grad.reshape(self.grads[0].shape)
        if self.use_bias:
            self.grads[1][...] = dw[-1]
        if not input_grad:
            return None
        weight_offsets = np.ascontiguousarray(self._weight_offsets())
        dx = conv2d_backward_input(
            dout, weight_offsets, input_hw, stride, pads, self._ws(True), blocked
        )
        return _from_image(_nchw(dx), self.input_ndim)

    def __repr__(self):
        return (
            f"{type(self).__name__}({self.filters}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )


class Conv2D(_Conv):
    """2-D convolution (cross-correlation, as ``torch.nn.Conv2d``).

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int or tuple of (int, int), default=3
        Height and width of the kernel.
    stride : int or tuple of (int, int), default=1
        Step between windows.
    padding : {"valid", "same"}, int or tuple of (int, int), default="valid"
        Zero padding. ``"same"`` keeps the spatial size (stride 1 only) with
        PyTorch's split: ``k // 2`` on each side for odd kernels.
    bias : bool, default=True
        Whether to add a learned bias per output channel.

    Attributes
    ----------
    weight : ndarray of shape (filters, in_channels, kh, kw)
        Set by ``build``.
    bias : ndarray of shape (filters,) or None
        Set by ``build``; None when ``bias=False``.
    pool_blocks : tuple of (int, int) or None
        Set by ``Sequential.build`` when the next layer is a max-pool whose
        windows tile this layer's output (``takes_pool_blocks``): in a
        training pass the two layers then exchange the output and its
        gradient in pool-blocked memory, so that pooling reads and writes
        contiguous blocks instead of strided views. None, and always at
        inference: NCHW-shaped arrays.
    """

    input_ndim = 3


class Conv1D(_Conv):
    """1-D convolution over signals (cross-correlation, as ``torch.nn.Conv1d``).

    Takes ``(N, C, L)`` batches and returns ``(N, filters, L_out)``, computed
    by the kernels of :class:`Conv2D` on one-row images.

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int, default=3
        Length of the kernel.
    stride : int, default=1
        Step between windows.
    padding : {"valid", "same"} or int, default="valid"
        Zero padding at both ends. ``"same"`` keeps the length (stride 1
        only) with PyTorch's split: ``k // 2`` on each side for odd kernels,
        the extra zero at the end for even ones.
    bias : bool, default=True
        Whether to add a learned bias per output channel.

    Attributes
    ----------
    weight : ndarray of shape (filters, in_channels, kernel_size)
        Set by ``build``; ``torch.nn.Conv1d``'s layout.
    bias : ndarray of shape (filters,) or None
        Set by ``build``; None when ``bias=False``.
    pool_blocks : tuple of (int, int) or None
        As for :class:`Conv2D`, with a :class:`MaxPool1D` after it.

    Examples
    --------
    >>> import numpy as np
    >>> from skcnn.layers import Conv1D
    >>> conv = Conv1D(4, kernel_size=5, padding="same")
    >>> conv.build((2, 50), np.random.RandomState(0), np.float64)
    (4, 50)
    >>> conv.weight.shape
    (4, 2, 5)
    """

    input_ndim = 2
