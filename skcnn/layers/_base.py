"""The layer protocol (:class:`Layer`) and the helpers every layer family shares."""

import copy
import math
import numbers

import numpy as np

from .._constructor_params import ParamsMixin
from .._functional.workspace import Workspace


def _nhwc(x):
    """Channels-last view of an NCHW-shaped array (free for our own outputs)."""
    return x.transpose(0, 2, 3, 1)


def _nchw(x):
    """NCHW-shaped view of a channels-last array."""
    return x.transpose(0, 3, 1, 2)


def _glorot_uniform(rng, shape, fan_in, fan_out, dtype):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)


#: How a sample of each rank reads, for messages.
SAMPLE_AXES = {1: "(n_features,)", 2: "(C, L)", 3: "(C, H, W)"}


def _check_sample_shape(layer, input_shape):
    """``input_shape`` as ints, or a ValueError unless it has the rank
    ``layer.input_ndim`` (images ``(C, H, W)``, signals ``(C, L)``)."""
    if len(input_shape) != layer.input_ndim:
        raise ValueError(
            f"{type(layer).__name__} expects samples of shape "
            f"{SAMPLE_AXES[layer.input_ndim]}. Received input_shape={tuple(input_shape)!r}."
        )
    return tuple(int(s) for s in input_shape)


def _as_image(X, input_ndim):
    """A batch of signals ``(N, C, L)`` as the one-row images ``(N, C, 1, L)``
    (a view: channels-last signal memory ``(N, L, C)`` is channels-last image
    memory), so that signals run through the image kernels. Images, and the
    pool-blocked memory of ``Conv2D.pool_blocks``, pass as they are."""
    return X[:, :, None, :] if input_ndim == 2 and isinstance(X, np.ndarray) else X


def _from_image(Y, input_ndim):
    """Undo :func:`_as_image` on a layer's result: ``(N, C, 1, L)`` -> ``(N, C, L)``."""
    if input_ndim == 2 and isinstance(Y, np.ndarray) and Y.ndim == 4:
        return Y[:, :, 0, :]
    return Y


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


class Layer(ParamsMixin):
    """Base class: a layer without parameters that passes data through.

    A layer's trainable arrays are its attributes named in ``param_names``
    (None where absent, as a disabled bias): ``params`` reads them, so they
    live in one place, and pickling, worker processes and the estimator's
    ``coefs_`` all see the same arrays. ``grads`` holds one gradient array
    per entry of ``params``: scratch space, rebuilt on load.

    A layer's constructor arguments are its scikit-learn parameters
    (``get_params``, ``set_params``, ``sklearn.base.clone``), so that a list
    of layers can be an estimator's parameter, searched as ``conv1__filters``.
    """

    #: Attribute names of the trainable arrays, in the order of ``params``.
    param_names = ()
    #: Attribute names of the arrays training moves that are not parameters
    #: (BatchNorm's running statistics): state saved and restored with them.
    state_names = ()
    #: Whether ``forward`` takes a ``seed`` (random layers: Dropout).
    takes_seed = False
    #: Whether training needs sums over the whole batch (BatchNorm): the
    #: shards of a batch then meet at this layer (see :class:`BatchNorm2D`).
    syncs_batch = False
    #: Whether ``weight`` and ``bias`` are connection weights and intercepts
    #: (Conv2D, Dense): the estimator's ``coefs_`` and ``intercepts_``, and
    #: what its L2 penalty ``alpha`` applies to. BatchNorm's scale and shift
    #: are not.
    has_coefs = False
    #: The rank of the samples the layer takes: 3 for images ``(C, H, W)``,
    #: 2 for signals ``(C, L)``, 1 for flat samples; None for any rank. The
    #: first layer of a network that says decides how the estimator reads X
    #: (see ``skcnn._architecture.sample_ndim``).
    input_ndim = None
    #: Whether the layer can hand its training output to the next layer in
    #: pool-blocked memory (Conv2D, Conv1D; see ``takes_pool_blocks``).
    gives_pool_blocks = False

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

    # -- what a built layer costs, asked by the network and the estimator --

    def forward_flops(self):
        """Floating-point operations of one sample's forward pass in matrix
        products (a built layer): what decides whether a batch is worth
        splitting across threads. 0 for layers without them, whose
        elementwise work is cheap beside a product's."""
        return 0

    def scratch_size(self):
        """Elements per sample of the temporary arrays an inference pass
        allocates besides its output (a convolution's im2col matrix): with
        the outputs, what bounds the samples of a prediction batch."""
        return 0

    def takes_pool_blocks(self, input_shape):
        """The ``(bh, bw)`` blocks in which the layer can take its training
        input from a layer that ``gives_pool_blocks`` (see
        ``Conv2D.pool_blocks``), for samples of ``input_shape``; None when it
        takes only NCHW-shaped arrays, as most layers do."""
        return None

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
        different samples at once (see ``skcnn._training.parallel``).
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
