"""The core layers: Flatten, Dense and Dropout."""

import math

import numpy as np

from .._random import dropout_keep, mix_seed, sample_keys
from ._base import Layer, _check_float, _glorot_uniform


class Flatten(Layer):
    """Flatten samples to vectors in PyTorch's order: ``(C, H, W)`` for
    images, ``(C, L)`` for signals."""

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
        if len(shape) < 3:
            return dY.reshape(shape)
        n, c, *size = shape
        # Hand the gradient back in the channels-last memory the layers below use.
        dx = np.moveaxis(np.empty((n, *size, c), dtype=dY.dtype), -1, 1)
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
    input_ndim = 1

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

    def forward_flops(self):
        return 2 * self.input_shape[0] * self.units

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
    a seed and the unit: distinct samples get independent masks, identical
    samples the same one. In an estimator's network the key hashes the sample's values at
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
        if keys is None:
            keys = sample_keys(X.reshape(X.shape[0], -1))
        if seed is None:
            seed, self.seed = self.seed, mix_seed(self.seed)
        keep = dropout_keep(keys, math.prod(X.shape[1:]), self.rate, seed)
        # The mask in X's memory layout (channels-last after a convolution),
        # so that the output keeps it too.
        mask = np.empty_like(X)
        np.multiply(keep.reshape(X.shape), X.dtype.type(1 / (1 - self.rate)), out=mask)
        self._cache = mask
        return X * mask

    def backward(self, dY, input_grad=True):
        mask = self._pop_cache()
        return dY * mask if input_grad else None

    def __repr__(self):
        return f"Dropout({self.rate})"
