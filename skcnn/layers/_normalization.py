"""Batch normalization layers (``torch.nn.BatchNorm1d`` and ``BatchNorm2d``).

In training a batch is normalized with its own statistics, which span the
whole batch even when it is split into shards (``skcnn._training.parallel``): the
layer's training pass is cut in two halves around a *meeting point*. Each
shard computes partial sums of its part of the batch, whoever runs the batch
combines them in shard order (:meth:`_BatchNorm.merge`), and every shard
finishes with the batch's totals. Backward meets the same way. A batch that
is not split meets only itself (``forward(X, training=True)``).

The estimator trains on canonical batches (``skcnn._training.batches``): equal
samples merged into one whose sample weight counts them, and its sample
weights are frequencies (integer weights equal repeated samples). So the
batch's statistics weigh every sample by its weight, and a batch computes
what PyTorch computes on the same batch with every sample repeated.
"""

import numpy as np

from .._functional.batchnorm import (
    batchnorm_backward_input,
    batchnorm_grad_sums,
    batchnorm_moments,
    batchnorm_normalize,
    combine_moments,
)
from ._base import Layer, _check_float, _check_sample_shape, _nchw, _nhwc


class _BatchNorm(Layer):
    """Shared machinery of BatchNorm1D and BatchNorm2D, on ``(M, C)`` rows.

    Subclasses give ``_rows(X)`` (a batch as rows, one column per channel,
    and what ``_unrows`` needs to give arrays the batch's shape back).

    The meeting protocol (used by :class:`skcnn._network.Sequential`):
    ``forward_sums(X)`` returns partial moments, ``merge("forward",
    partials)`` combines them (and moves the running statistics once),
    ``forward_with(stats)`` normalizes; ``backward_sums(dY)`` and
    ``backward_with(sums)`` do the same for backward.
    """

    param_names = ("weight", "bias")
    state_names = ("running_mean", "running_var")
    syncs_batch = True

    def __init__(self, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum = _check_float(momentum, "momentum", lambda v: 0 <= v <= 1, "in [0, 1]")
        self.eps = _check_float(eps, "eps", lambda v: v > 0, "> 0")
        self.weight = self.bias = self.running_mean = self.running_var = None

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        c = self.input_shape[0]
        self.weight = np.ones(c, dtype=dtype)
        self.bias = np.zeros(c, dtype=dtype)
        self.running_mean = np.zeros(c, dtype=dtype)
        self.running_var = np.ones(c, dtype=dtype)
        self.grads = [np.zeros_like(p) for p in self.params]
        return self.output_shape

    # -- inference and a batch alone -------------------------------------

    def forward(self, X, training=False, sample_weight=None):
        """Normalize ``X``: with the batch's statistics in training (which
        also moves the running statistics), else with the running ones.

        ``sample_weight`` (training only; None: all ones) weighs the samples
        in the batch's statistics as frequencies, see ``forward_sums``.
        """
        if training:
            stats = self.merge("forward", [self.forward_sums(X, sample_weight)])
            return self.forward_with(stats)
        rows, shape = self._rows(X)
        scale = self.weight / np.sqrt(self.running_var + self.eps)
        out = rows * scale
        out += self.bias - self.running_mean * scale
        return self._unrows(out, shape)

    def backward(self, dY, input_grad=True):
        sums = self.backward_sums(dY)
        if not input_grad:
            self._cache = None
            return None
        return self.backward_with(self.merge("backward", [sums]))

    # -- the two halves of a training pass ---------------------------------

    def forward_sums(self, X, sample_weight=None):
        """Start a training pass: the partial moments ``(count, mean, m2)``
        of this part of the batch, per channel.

        ``sample_weight`` (one per sample, None: all ones) are frequencies,
        as the estimator's canonical batches make them (a sample of weight 3
        is 3 merged copies): the moments are those of the batch with every
        sample repeated that many times, ``count`` the weights' sum (times
        the pixels of a channel), and backward gives the copies' gradients
        summed. All ones compute exactly what no weights do.
        """
        rows, shape = self._rows(X)
        weights = self._row_weights(sample_weight, rows)
        moments, centered = batchnorm_moments(rows, self._ws(True), weights)
        self._cache = ("forward", centered, moments[1], shape, weights)
        return moments

    def forward_with(self, stats):
        """Finish the training forward pass with the batch's moments
        ``(count, mean, m2)`` (see ``merge``)."""
        centered, part_mean, shape, weights = self._take("forward")
        count, mean, m2 = stats
        dtype = centered.dtype
        invstd = (1.0 / np.sqrt(m2 / count + self.eps)).astype(dtype)
        out, xhat = batchnorm_normalize(
            centered, (mean - part_mean).astype(dtype), invstd, self.weight, self.bias,
            self._ws(True),
        )
        self._cache = ("backward", xhat, invstd, shape, count, weights)
        return self._unrows(out, shape)

    def backward_sums(self, dY):
        """Start backward: fill ``grads`` with this part's sums, and return
        them, ``(sum(dY), sum(dY * xhat))`` per channel."""
        xhat, invstd, shape, count, weights = self._take("backward")
        dout, _ = self._rows(dY)
        sum_dout, sum_dout_xhat = batchnorm_grad_sums(dout, xhat)
        self.grads[0][...] = sum_dout_xhat
        self.grads[1][...] = sum_dout
        self._cache = ("input_grad", dout, xhat, invstd, shape, count, weights)
        return sum_dout, sum_dout_xhat

    def backward_with(self, sums):
        """Finish backward with the batch's sums (see ``merge``); returns dX."""
        dout, xhat, invstd, shape, count, weights = self._take("input_grad")
        dtype = dout.dtype
        sum_dout, sum_dout_xhat = sums
        dx = batchnorm_backward_input(
            dout, xhat, self.weight * invstd, (sum_dout / count).astype(dtype),
            (sum_dout_xhat / count).astype(dtype), self._ws(True), weights,
        )
        return self._unrows(dx, shape)

    def merge(self, kind, partials, name=None):
        """Combine the parts' sums of one batch, in the order given.

        ``kind`` is ``"forward"`` (moments from ``forward_sums``: also moves
        the running statistics, so call it once per batch, on the layer that
        keeps them) or ``"backward"`` (sums from ``backward_sums``). ``name``
        (the layer's name in its network) names it in errors.
        """
        if kind == "backward":
            return tuple(sum(part[k] for part in partials) for k in range(2))
        count, mean, m2 = combine_moments(partials)
        if not count > 1:
            raise ValueError(self._too_small(count, name))
        m = self.momentum
        self.running_mean[...] = (1 - m) * self.running_mean + m * mean
        # PyTorch normalizes with the biased variance and tracks the unbiased
        # one; weighted, with the weights' sum as the number of values.
        self.running_var[...] = (1 - m) * self.running_var + m * (m2 / (count - 1))
        return count, mean, m2

    # -- statistics of a whole data set ("precise" batch norm) -----------

    def input_moments(self, X, sample_weight=None):
        """Moments ``(count, mean, m2)`` of ``X``, a part of a data set's
        input to this layer, per channel (float64; ``sample_weight`` as
        frequencies, see ``forward_sums``). Changes nothing: the parts of a
        data set combine with ``combine_moments``, in a fixed order, and
        ``set_running_stats`` takes the result."""
        rows, _ = self._rows(X)
        return batchnorm_moments(rows, None, self._row_weights(sample_weight, rows))[0]

    def set_running_stats(self, moments):
        """Replace the running statistics by the mean and the unbiased
        variance of ``moments`` ``(count, mean, m2)``."""
        count, mean, m2 = moments
        self.running_mean[...] = mean
        self.running_var[...] = m2 / (count - 1)

    def _row_weights(self, sample_weight, rows):
        """The weight of every row of ``rows`` (None: all ones)."""
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight).astype(rows.dtype, copy=False)
        if (w == 1).all():  # exactly the unweighted computation, as PyTorch's
            return None
        return np.repeat(w, rows.shape[0] // w.shape[0])

    def _too_small(self, count, name):
        """The error for a training batch of ``count`` (weighted) values per channel."""
        who = type(self).__name__ + ("" if name is None else f" {name!r}")
        pixels = int(np.prod(self.input_shape[1:]))
        of = "" if pixels == 1 else f" of {pixels} values per channel"
        return (
            f"{who} needs more than 1 {self._value} per training batch to normalize "
            f"with the batch's statistics; received {count / pixels:g} sample(s){of}, "
            "counted by their sample weights. Use larger batches (batch_size) or "
            "more samples, or sample weights that sum to more than 1 per batch."
        )

    def _take(self, stage):
        if self._cache is None or self._cache[0] != stage:
            step = {
                "forward": "forward_sums(X)",
                "backward": "forward(X, training=True)",
                "input_grad": "backward_sums(dY)",
            }[stage]
            raise RuntimeError(
                f"{type(self).__name__}: this step of a training pass needs a "
                f"preceding {step}."
            )
        cache, self._cache = self._cache[1:], None
        return cache

    def __repr__(self):
        return f"{type(self).__name__}(momentum={self.momentum!r}, eps={self.eps!r})"


class BatchNorm2D(_BatchNorm):
    """Batch normalization over the channels of images (``torch.nn.BatchNorm2d``).

    Each channel is normalized with the mean and biased variance of its
    values over the batch and the image (training), or with the running
    statistics (inference), then scaled by ``weight`` and shifted by
    ``bias``. Training moves the running statistics by
    ``running = (1 - momentum) * running + momentum * batch``, with the
    unbiased variance, as PyTorch does. The statistics span the whole batch
    even when training splits it into shards.

    Parameters
    ----------
    momentum : float in [0, 1], default=0.1
        Weight of the batch's statistics in the running ones.
    eps : float > 0, default=1e-5
        Added to the variance before its square root.

    Attributes
    ----------
    weight : ndarray of shape (channels,)
        Scale (PyTorch's gamma), trainable, initialized to 1.
    bias : ndarray of shape (channels,)
        Shift (beta), trainable, initialized to 0.
    running_mean : ndarray of shape (channels,)
        Not trainable: state moved by training, initialized to 0.
    running_var : ndarray of shape (channels,)
        Not trainable: state moved by training, initialized to 1.

    Notes
    -----
    In the estimators, sample weights are frequencies: the batch's mean and
    variance weigh each sample by its weight (canonical batches merge equal
    samples into one of summed weight), so a weighted batch computes what
    PyTorch computes on the batch with each sample repeated, and the
    unbiased running variance counts the weights' sum times the pixels of a
    channel. A training batch needs more than 1 value per channel (a total
    weight above 1 for ``1 x 1`` images); the estimator's running
    statistics are saved, restored and kept at the best early-stopping
    epoch with the parameters. ``solver="lbfgs"`` refuses the layer.

    Examples
    --------
    >>> import numpy as np
    >>> from skcnn.layers import BatchNorm2D
    >>> bn = BatchNorm2D()
    >>> bn.build((3, 4, 4), np.random.RandomState(0), np.float64)
    (3, 4, 4)
    >>> X = np.random.RandomState(1).normal(5, 2, size=(8, 3, 4, 4))
    >>> out = bn.forward(X, training=True)
    >>> bool(np.allclose(out.mean(axis=(0, 2, 3)), 0))
    True
    """

    _value = "value per channel (samples x height x width)"
    input_ndim = 3

    def compute_output_shape(self, input_shape):
        return _check_sample_shape(self, input_shape)

    def _rows(self, X):
        x = np.ascontiguousarray(_nhwc(X))  # free for our layers' channels-last outputs
        return x.reshape(-1, x.shape[3]), x.shape

    @staticmethod
    def _unrows(rows, shape):
        return _nchw(rows.reshape(shape))


class BatchNorm1D(_BatchNorm):
    """Batch normalization of features or signals (``torch.nn.BatchNorm1d``).

    As :class:`BatchNorm2D`, for flat samples ``(N, C)`` (after Flatten or
    Dense: each feature is normalized over the batch) or signals
    ``(N, C, L)`` (each channel over the batch and the length).

    Parameters
    ----------
    momentum : float in [0, 1], default=0.1
        Weight of the batch's statistics in the running ones.
    eps : float > 0, default=1e-5
        Added to the variance before its square root.

    Attributes
    ----------
    weight, bias, running_mean, running_var : ndarray of shape (features,)
        As for :class:`BatchNorm2D`, one per feature or channel.

    Notes
    -----
    As for :class:`BatchNorm2D`: sample weights count as repeated samples.
    A training batch needs more than 1 value per channel (a total sample
    weight above 1 for flat samples): a fit on one sample, or with
    ``batch_size=1``, raises a ValueError that names the layer.
    """

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(
                "BatchNorm1D expects flat samples of shape (n_features,) or signals "
                "of shape (C, L); use BatchNorm2D for images or put a Flatten layer "
                f"before it. Received input_shape={tuple(input_shape)!r}."
            )
        return tuple(int(s) for s in input_shape)

    @property
    def _value(self):
        if self.input_shape is not None and len(self.input_shape) == 2:
            return "value per channel (samples x length)"
        return "sample"

    def _rows(self, X):
        if X.ndim == 2:
            return np.ascontiguousarray(X), None
        # Signals: one row per position of channels-last memory (N, L, C),
        # free for our layers' outputs.
        x = np.ascontiguousarray(X.transpose(0, 2, 1))
        return x.reshape(-1, x.shape[2]), x.shape

    @staticmethod
    def _unrows(rows, shape):
        return rows if shape is None else rows.reshape(shape).transpose(0, 2, 1)
