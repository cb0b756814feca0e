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
  a batch meet (see :class:`BatchNorm2D`); their state that is not a
  parameter (running statistics) is updated once per batch.

Images are ``(N, C, H, W)`` and convolution weights ``(out, in, kh, kw)``, as
in PyTorch; signals ``(N, C, L)`` and weights ``(out, in, k)`` for the 1-D
layers, which compute as their 2-D twins on one-row images. The arrays the
convolutional layers return are NCHW-shaped (NCL-shaped) views of
channels-last memory (PyTorch's ``channels_last``): index them as NCHW,
their values are the same; only the kernels below see the memory order.

Layers also answer for their costs (``forward_flops``, ``scratch_size``),
the rank of the samples they take (``input_ndim``) and whether they can take
a convolution's output in pool-blocked memory (``takes_pool_blocks``), so
that the network and the estimator never ask for a layer's class.

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

from .._loss import SoftmaxCrossEntropy
from ._activations import ACTIVATIONS, Activation, Identity, LeakyReLU, Logistic, ReLU, Tanh
from ._base import Layer
from ._conv import Conv1D, Conv2D
from ._core import Dense, Dropout, Flatten
from ._normalization import BatchNorm1D, BatchNorm2D
from ._pooling import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
)

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Logistic",
    "MaxPool1D",
    "MaxPool2D",
    "PUBLIC_LAYERS",
    "ReLU",
    "SoftmaxCrossEntropy",
    "Tanh",
]

#: The base classes of ``__all__``: what new layers derive from, not layers
#: a network holds.
BASES = (Layer, Activation)

#: Every public layer class a network may hold: what saved models (skops'
#: trusted types), the ONNX export and the layer conformance tests cover.
#: Derived from ``__all__``, without the ``BASES``; a test checks that every
#: layer class defined in this package with a public name is there.
PUBLIC_LAYERS = tuple(
    obj
    for obj in map(globals().get, __all__)
    if isinstance(obj, type) and issubclass(obj, Layer) and obj not in BASES
)

# Saved models (pickle, skops) name the layers by this public module, so that
# they load whichever private module defines them.
for _cls in PUBLIC_LAYERS + BASES:
    _cls.__module__ = __name__
del _cls
