"""Convolution layers (PyTorch's ``Conv2d`` semantics and parameter layout)."""

import numpy as np

from .._functional.conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from .._functional.geometry import as_pair, output_length, resolve_padding
from ._base import Layer, _check_image_shape, _glorot_uniform, _nchw, _nhwc


class _PoolBlocks:
    """A convolution's output, or its gradient, in pool-blocked memory.

    Passed only between a Conv2D and the MaxPool2D right after it, in a
    training pass of a :class:`~skcnn._network.Sequential` (see
    ``Conv2D.pool_blocks``). ``array`` is ``(N, ph, pw, Ho/ph, Wo/pw, C)``:
    block ``(i, j)`` holds window offset ``(i, j)`` of every pool window.
    """

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class Conv2D(Layer):
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
        Set by ``Sequential.build`` when the next layer is a MaxPool2D whose
        windows tile this layer's output: in a training pass the two layers
        then exchange the output and its gradient in pool-blocked memory, so
        that pooling reads and writes contiguous blocks instead of strided
        views (see :func:`skcnn._functional.pooling.block_views`). None, and always
        at inference: NCHW-shaped arrays.
    """

    param_names = ("weight", "bias")
    has_coefs = True

    def __init__(self, filters, kernel_size=3, stride=1, padding="valid", bias=True):
        super().__init__()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(
                f"filters must be a positive int. Received filters={filters!r}."
            )
        self.filters = int(filters)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.pads = resolve_padding(padding, self.kernel_size)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(
                "padding='same' needs stride 1, as in PyTorch. "
                f"Received stride={stride!r}."
            )
        self.padding = padding
        self.use_bias = bool(bias)
        self.weight = self.bias = None
        self.pool_blocks = None

    def compute_output_shape(self, input_shape):
        c, h, w = _check_image_shape(self, input_shape)
        (top, bottom), (left, right) = self.pads
        kh, kw = self.kernel_size
        if kh > h + top + bottom or kw > w + left + right:
            raise ValueError(
                f"kernel_size={self.kernel_size} is larger than the padded input "
                f"({h + top + bottom}, {w + left + right}) of a Conv2D with "
                f"padding={self.padding!r} on input of shape {(c, h, w)}. Use a "
                "smaller kernel or padding='same'."
            )
        return (
            self.filters,
            output_length(h, kh, self.stride[0], top, bottom),
            output_length(w, kw, self.stride[1], left, right),
        )

    def build(self, input_shape, rng, dtype):
        self.output_shape = self.compute_output_shape(input_shape)
        self.input_shape = tuple(int(s) for s in input_shape)
        c, o, (kh, kw) = self.input_shape[0], self.filters, self.kernel_size
        weight = _glorot_uniform(rng, (o, c, kh, kw), c * kh * kw, o * kh * kw, dtype)
        self._set_params(weight)
        return self.output_shape

    def _weight_matrix(self):
        """Weights as the ``(kh*kw*C, O)`` matrix that multiplies im2col rows."""
        o = self.filters
        return self.weight.transpose(2, 3, 1, 0).reshape(-1, o)

    def forward(self, X, training=False):
        blocks = self.pool_blocks if training and self.pool_blocks else (1, 1)
        out, saved = conv2d_forward(
            _nhwc(X), self._weight_matrix(), self.bias, self.kernel_size,
            self.stride, self.pads, self._ws(training), blocks,
        )
        if training:
            self._cache = (saved, X.shape[2:], blocks)
        return _PoolBlocks(out) if blocks != (1, 1) else _nchw(out)

    def backward(self, dY, input_grad=True):
        saved, input_hw, blocks = self._pop_cache()
        blocked = isinstance(dY, _PoolBlocks)
        if blocked:
            # Rows in the im2col order: right for the weight gradient; the
            # input gradient reorders them as it copies them.
            dout = dY.array
        else:
            dout = np.ascontiguousarray(_nhwc(dY))
        dout2 = dout.reshape(-1, self.filters)
        kh, kw = self.kernel_size
        c = self.weight.shape[1]
        # With a bias, the im2col matrix ends with a column of ones: the last
        # row is its gradient.
        dw = conv2d_backward_weight(
            saved, dout2, self.kernel_size, self.stride, self.use_bias, self._ws(True), blocks
        )
        self.grads[0][...] = dw[: kh * kw * c].reshape(kh, kw, c, self.filters).transpose(3, 2, 0, 1)
        if self.use_bias:
            self.grads[1][...] = dw[-1]
        if not input_grad:
            return None
        weight_offsets = np.ascontiguousarray(self.weight.transpose(2, 3, 0, 1))
        dx = conv2d_backward_input(
            dout, weight_offsets, input_hw, self.stride, self.pads, self._ws(True), blocked
        )
        return _nchw(dx)

    def __repr__(self):
        return (
            f"Conv2D({self.filters}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )
