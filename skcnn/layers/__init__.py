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
  a batch meet (see :mod:`skcnn.layers._normalization`); their state that is not a
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

from .._loss import SoftmaxCrossEntropy
from ._activations import ACTIVATIONS, Identity, Logistic, ReLU, Tanh
from ._base import Layer
from ._conv import Conv2D
from ._core import Dense, Dropout, Flatten
from ._normalization import BatchNorm1D, BatchNorm2D
from ._pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D

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
    "PUBLIC_LAYERS",
    "ReLU",
    "SoftmaxCrossEntropy",
    "Tanh",
]

#: Every public layer class, the base included: what saved models (skops'
#: trusted types), the ONNX export and the layer conformance tests cover.
#: Derived from ``__all__``; a test checks that every layer class defined in
#: this package is there.
PUBLIC_LAYERS = tuple(
    obj for obj in map(globals().get, __all__) if isinstance(obj, type) and issubclass(obj, Layer)
)

# Saved models (pickle, skops) name the layers by this public module, so that
# they load whichever private module defines them.
for _cls in PUBLIC_LAYERS:
    _cls.__module__ = __name__
del _cls
