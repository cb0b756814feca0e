"""Network layers with PyTorch's semantics, for the estimator and for notebooks.

Every layer follows one small protocol:

- ``compute_output_shape(input_shape)`` maps the shape of one sample
  (without the batch axis) to the shape of one output sample, raising a
  ``ValueError`` for input the layer cannot take.
- ``build(input_shape, rng, dtype)`` does the same, and allocates and
  initializes the parameters. Shape errors surface here, before training.
- ``forward(X, training=False)`` maps a batch. With ``training=True`` the
  layer keeps what ``backward`` needs; inference stores nothing.
- ``backward(dY, input_grad=True)`` fills ``grads`` (same order as
  ``params``) and returns ``dX`` (``None`` when ``input_grad=False``, which
  skips the work for a network's first layer). Layers never update their own
  parameters: one optimizer owns every update.
- Layers whose training pass needs sums over the whole batch (``syncs_batch``:
  BatchNorm) also split it in two halves around a point where the shards of
  a batch meet (see :mod:`skcnn._normalization`); their state that is not a
  parameter (running statistics) is updated once per batch.

Images are ``(N, C, H, W)`` and convolution weights ``(out, in, kh, kw)``, as
in PyTorch. The arrays the convolutional layers return are NCHW-shaped views
of channels-last memory (PyTorch's ``channels_last``): index them as NCHW,
their values are the same; only the kernels below see the memory order.

Examples
--------
>>> import numpy as np
>>> from skcnn.layers import Conv2D, MaxPool2D, ReLU
>>> rng = np.random.RandomState(0)
>>> conv = Conv2D(4, kernel_size=3, padding="same")
>>> conv.build((1, 8, 8), rng, np.float64)
(4, 8, 8)
>>> X = rng.rand(2, 1, 8, 8)
>>> out = MaxPool2D(2).forward(ReLU().forward(conv.forward(X)))
>>> out.shape
(2, 4, 4, 4)
"""

import copy
import math
import numbers

import numpy as np
from scipy.special import expit

from ._functional import (
    Workspace,
    as_pair,
    conv2d_backward_input,
    conv2d_backward_weight,
    conv2d_forward,
    dropout_keep,
    maxpool2d_backward,
    maxpool2d_forward,
    mix_seed,
    output_length,
    resolve_padding,
    sample_keys,
)
from ._layer_params import ParamsMixin
from ._loss import SoftmaxCrossEntropy

__all__ = [
    "ACTIVATIONS",
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "Identity",
    "Layer",
    "Logistic",
    "MaxPool2D",
    "ReLU",
    "SoftmaxCrossEntropy",
    "Tanh",
]


def _nhwc(x):
    """Channels-last view of an NCHW-shaped array (free for our own outputs)."""
    return x.transpose(0, 2, 3, 1)


def _nchw(x):
    """NCHW-shaped view of a channels-last array."""
    return x.transpose(0, 3, 1, 2)


def _glorot_uniform(rng, shape, fan_in, fan_out, dtype):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)


def _check_image_shape(layer, input_shape):
    if len(input_shape) != 3:
        raise ValueError(
            f"{type(layer).__name__} expects samples of shape (C, H, W). "
            f"Received input_shape={tuple(input_shape)!r}."
        )
    return tuple(int(s) for s in input_shape)


def _check_float(value, name, valid, condition):
    """``value`` as a float; a ValueError naming ``name`` and the value unless
    it is a finite real number (not a bool) for which ``valid`` holds."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not valid(value)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a float {condition}. Received {name}={value!r}.")
    return float(value)


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


class Layer(ParamsMixin):
    """Base class: a layer without parameters that passes data through.

    A layer's trainable arrays are its attributes named in ``param_names``
    (None where absent, as a disabled bias): ``params`` reads them, so they
    live in one place, and pickling, worker processes and the estimator's
    ``coefs_`` all see the same arrays. ``grads`` holds one gradient array
    per entry of ``params``: scratch space, rebuilt on load.

    A layer's constructor arguments are its scikit-learn parameters
    (``get_params``, ``set_params``, ``sklearn.base.clone``; see
    :class:`skcnn._layer_params.ParamsMixin`), so that a list of layers can
    be an estimator's parameter, searched as ``conv1__filters``.
    """

    #: Attribute names of the trainable arrays, in the order of ``params``.
    param_names = ()
    #: Whether ``forward`` takes a ``seed`` (random layers: Dropout).
    takes_seed = False
    #: Whether training needs sums over the whole batch (BatchNorm): the
    #: shards of a batch then meet at this layer (see ``_normalization``).
    syncs_batch = False
    #: Whether ``weight`` and ``bias`` are connection weights and intercepts
    #: (Conv2D, Dense): the estimator's ``coefs_`` and ``intercepts_``, and
    #: what its L2 penalty ``alpha`` applies to. BatchNorm's scale and shift
    #: are not.
    has_coefs = False

    def __init__(self):
        self.grads = []
        self.input_shape = None
        self.output_shape = None
        self._cache = None
        self._workspace = None
        self.reuse_buffers = False

    @property
    def params(self):
        """The trainable arrays (the attributes named in ``param_names``)."""
        return [a for a in (getattr(self, name, None) for name in self.param_names) if a is not None]

    def bind(self, params, grads):
        """Use the arrays ``params`` (in the order of ``params``) and ``grads``."""
        params = iter(params)
        for name in self.param_names:
            if getattr(self, name, None) is not None:
                setattr(self, name, next(params))
        self.grads = list(grads)

    def compute_output_shape(self, input_shape):
        """The shape of one output sample; raises ValueError for a bad input shape."""
        return tuple(input_shape)

    def build(self, input_shape, rng, dtype):
        """Learn the input shape, allocate parameters, return the output shape."""
        self.output_shape = self.compute_output_shape(input_shape)
        self.input_shape = tuple(int(s) for s in input_shape)
        return self.output_shape

    def forward(self, X, training=False):
        """Map a batch ``X``; with ``training=True`` keep what backward needs."""
        return X

    def backward(self, dY, input_grad=True):
        """Fill ``grads`` and return the gradient with respect to the input."""
        return dY if input_grad else None

    def clear_cache(self):
        """Drop what the last training pass kept, and its reusable arrays."""
        self._cache = None
        self._workspace = None

    def replica(self):
        """A copy sharing this layer's parameters, with its own gradients and buffers.

        Replicas let several threads train one set of parameters on
        different samples at once (see ``skcnn._parallel``).
        """
        twin = copy.copy(self)
        twin.grads = [np.zeros_like(g) for g in self.grads]
        twin._cache = twin._workspace = None
        return twin

    def _ws(self, training):
        """The arrays reused across training batches, when ``reuse_buffers``.

        With ``reuse_buffers`` (set by the estimator's network, off by
        default), an array a layer returns in a training pass is overwritten
        by its next training pass; the network consumes it before that.
        Inference always allocates (None).
        """
        if not (training and getattr(self, "reuse_buffers", False)):
            return None
        if getattr(self, "_workspace", None) is None:
            self._workspace = Workspace()
        return self._workspace

    def __getstate__(self):
        # Gradients, caches and reusable arrays are scratch space, rebuilt on load.
        state = self.__dict__.copy()
        state["grads"] = state["_cache"] = state["_workspace"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.grads = [np.zeros_like(p) for p in self.params]

    def _set_params(self, weight):
        """Install ``weight`` and, with ``use_bias``, a zero bias (one per output)."""
        self.weight = weight
        if self.use_bias:
            self.bias = np.zeros(self.output_shape[0], dtype=weight.dtype)
        self.grads = [np.zeros_like(p) for p in self.params]

    def _pop_cache(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called without a preceding "
                "forward(X, training=True)."
            )
        cache, self._cache = self._cache, None
        return cache

    def __repr__(self):
        return f"{type(self).__name__}()"


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
        views (see :func:`skcnn._functional.block_views`). None, and always
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


class Flatten(Layer):
    """Flatten ``(C, H, W)`` samples to vectors in PyTorch's ``(C, H, W)`` order."""

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, X, training=False):
        if training:
            self._cache = X.shape
        return X.reshape(X.shape[0], -1)

    def backward(self, dY, input_grad=True):
        shape = self._pop_cache()
        if not input_grad:
            return None
        if len(shape) != 4:
            return dY.reshape(shape)
        n, c, h, w = shape
        # Hand the gradient back in the channels-last memory the layers below use.
        dx = _nchw(np.empty((n, h, w, c), dtype=dY.dtype))
        dx[...] = dY.reshape(shape)
        return dx


class Dense(Layer):
    """Fully connected layer ``X @ weight + bias`` (weight of shape (in, out)).

    Parameters
    ----------
    units : int
        Number of outputs.
    bias : bool, default=True
        Whether to add a learned bias.
    """

    param_names = ("weight", "bias")
    has_coefs = True

    def __init__(self, units, bias=True):
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive int. Received units={units!r}.")
        self.units = int(units)
        self.use_bias = bool(bias)
        self.weight = self.bias = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                "Dense expects flat samples of shape (n_features,); put a Flatten "
                f"layer before it. Received input_shape={tuple(input_shape)!r}."
            )
        return (self.units,)

    def build(self, input_shape, rng, dtype):
        self.output_shape = self.compute_output_shape(input_shape)
        fan_in = int(input_shape[0])
        self.input_shape = (fan_in,)
        self._set_params(_glorot_uniform(rng, (fan_in, self.units), fan_in, self.units, dtype))
        return self.output_shape

    def forward(self, X, training=False):
        out = X @ self.weight
        if self.use_bias:
            out += self.bias
        if training:
            self._cache = X
        return out

    def backward(self, dY, input_grad=True):
        X = self._pop_cache()
        np.matmul(X.T, dY, out=self.grads[0])
        if self.use_bias:
            np.matmul(np.ones(dY.shape[0], dtype=dY.dtype), dY, out=self.grads[1])
        return dY @ self.weight.T if input_grad else None

    def __repr__(self):
        return f"Dense({self.units})"


class Dropout(Layer):
    """Inverted dropout, as ``torch.nn.Dropout``.

    In training, each input is zeroed with probability ``rate`` and the others
    are scaled by ``1 / (1 - rate)``, so that the expected output is the
    input; at inference the layer is the identity.

    The masks are not drawn from a stream but hashed from a key per sample,
    a seed and the unit (see :func:`skcnn._functional.dropout_keep`):
    distinct samples get independent masks, identical samples the same one.
    In a :class:`Sequential` network the key hashes the sample's values at
    the network's input and the seed comes from the training call (both
    passed to ``forward``); a layer used alone hashes its own input and
    moves its own ``seed`` on at every pass. So an integer sample weight is
    exactly equivalent to repeating the sample, and the masks do not depend
    on how a batch is ordered or split across threads and processes.

    Parameters
    ----------
    rate : float in [0, 1), default=0.5
        Probability of zeroing an input.

    Attributes
    ----------
    seed : int
        Salt of the masks of a layer used alone (no ``seed`` passed to
        ``forward``): ``build`` draws it from its ``rng`` and every such
        training pass moves it on, so a sample gets a new mask every time.
    """

    takes_seed = True
    _warm_start_params = ("rate",)  # a continued fit may change the rate

    def __init__(self, rate=0.5):
        super().__init__()
        self.rate = _check_float(rate, "rate", lambda v: 0 <= v < 1, "in [0, 1)")
        self.seed = 0

    def build(self, input_shape, rng, dtype):
        self.seed = int(rng.randint(2**31 - 1))
        return super().build(input_shape, rng, dtype)

    def forward(self, X, training=False, seed=None, keys=None):
        """Drop units in training. ``seed`` (int) salts the masks of this
        pass and ``keys`` (uint64, one per sample) names the samples; by
        default the layer's own moving ``seed`` and a hash of ``X``."""
        if not training:
            return X
        flat = X.reshape(X.shape[0], -1)
        if keys is None:
            keys = sample_keys(flat)
        if seed is None:
            seed, self.seed = self.seed, mix_seed(self.seed)
        keep = dropout_keep(keys, flat.shape[1], self.rate, seed)
        mask = keep.reshape(X.shape) * X.dtype.type(1 / (1 - self.rate))
        self._cache = mask
        return X * mask

    def backward(self, dY, input_grad=True):
        mask = self._pop_cache()
        return dY * mask if input_grad else None

    def __repr__(self):
        return f"Dropout({self.rate})"


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


# Defined in their own modules (on the Layer above), public here.
from ._normalization import BatchNorm1D, BatchNorm2D  # noqa: E402
from ._pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D  # noqa: E402

# Saved models (pickle, skops) name these classes by their public module, so
# that they load whatever private module defines them.
for _cls in (BatchNorm1D, BatchNorm2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D):
    _cls.__module__ = __name__
del _cls
