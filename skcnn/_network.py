"""A stack of layers, and the conv-block architecture the estimator builds
(layer lists given by the user: ``_architecture.py``)."""

from ._architecture import with_output_layer
from ._functional import mix_seed, sample_keys
from .layers import ACTIVATIONS, Conv2D, Dense, Dropout, Flatten, MaxPool2D


class Sequential:
    """Layers applied in order, with parameters and gradients in a fixed order.

    Parameters
    ----------
    layers : list of Layer
    reuse_buffers : bool, default=False
        Let the layers reuse their large arrays from one training batch to the
        next (see ``Layer._ws``): faster, but an array returned by a training
        pass is only valid until the next one.
    """

    def __init__(self, layers, reuse_buffers=False):
        self.layers = list(layers)
        self.reuse_buffers = reuse_buffers
        for layer in self.layers:
            layer.reuse_buffers = reuse_buffers
        self.input_shape = self.output_shape = None

    def build(self, input_shape, rng, dtype):
        """Build every layer from the sample shape; return the output shape."""
        shape = self.input_shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.build(shape, rng, dtype)
        self.output_shape = shape
        for layer, following in zip(self.layers, self.layers[1:]):
            if isinstance(layer, Conv2D):
                layer.pool_blocks = _tiling_pool(layer, following)
        return shape

    @property
    def params(self):
        """The live parameter arrays, layer by layer."""
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self):
        """The gradient arrays, in the order of ``params``."""
        return [g for layer in self.layers for g in layer.grads]

    def forward(self, X, training=False, seed=None):
        """Run a batch through every layer.

        In training, random layers (``takes_seed``: Dropout) get the seed
        ``mix_seed(*seed, position)`` when ``seed`` (a tuple of ints naming
        the training call and batch) is given, and key their
        masks on the samples' values here, at the input, where equal samples
        are equal bits: the same batch and seed give the same masks in any
        replica, thread or process.
        """
        keys = None
        if training and any(layer.takes_seed for layer in self.layers):
            keys = sample_keys(X.reshape(X.shape[0], -1))
        for i, layer in enumerate(self.layers):
            if training and layer.takes_seed:
                X = layer.forward(X, True, None if seed is None else mix_seed(*seed, i), keys)
            else:
                X = layer.forward(X, training=training)
        return X

    def forward_all(self, X):
        """Inference pass returning the output of every layer, in order."""
        outputs = []
        for layer in self.layers:
            X = layer.forward(X)
            outputs.append(X)
        return outputs

    def backward(self, dY):
        """Back-propagate ``dY`` through every layer, filling their grads.

        The first layer's input gradient is not needed and not computed.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            dY = self.layers[i].backward(dY, input_grad=i > 0)

    def replica(self):
        """A network sharing these parameters, with its own gradients and buffers."""
        twin = Sequential([layer.replica() for layer in self.layers], self.reuse_buffers)
        twin.input_shape, twin.output_shape = self.input_shape, self.output_shape
        return twin

    def bind(self, params, grads):
        """Make the layers use the arrays ``params`` and ``grads`` (in the
        order of ``self.params``): views of shared memory in worker processes."""
        params, grads = iter(params), iter(grads)
        for layer in self.layers:
            count = len(layer.params)
            layer.bind([next(params) for _ in range(count)], [next(grads) for _ in range(count)])

    def clear_cache(self):
        for layer in self.layers:
            layer.clear_cache()

    def __repr__(self):
        inner = ",\n".join(f"  {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n])"


def _tiling_pool(conv, following):
    """The pool size of ``following`` if it is a MaxPool2D whose windows tile
    the output of ``conv`` exactly (see ``Conv2D.pool_blocks``), else None."""
    if not isinstance(following, MaxPool2D) or following.stride != following.pool_size:
        return None
    (ph, pw), (_, h, w) = following.pool_size, conv.output_shape
    return (ph, pw) if h % ph == 0 and w % pw == 0 else None


def build_cnn_layers(
    input_shape,
    n_outputs,
    filters,
    kernel_size,
    pool_size,
    padding,
    hidden_layer_sizes,
    activation,
    dropout=0.0,
):
    """The named layers of the estimator's network, for samples of ``input_shape``.

    Each entry of ``filters`` adds a block conv -> activation -> max-pool, then
    Flatten, one Dense + activation per hidden layer size, and a Dense output
    layer of ``n_outputs`` logits. With ``dropout > 0`` a Dropout layer of
    that rate comes before every Dense layer. A pool window larger than its
    input is clipped to the input, so pooling never shrinks a dimension
    below 1; a 1 x 1 pool is left out.

    With relu the block is built as conv -> pool -> relu: max-pool and relu
    commute exactly (values, and gradients, since relu'(0) = 0 and relu keeps
    the order and ties of positive values), and pooling first makes the
    activation touch 4x less data.

    Returns a list of ``(name, layer)`` pairs, as the estimator's ``layers``
    parameter: ``conv1``, ``pool1``, ``relu1``, ... per block, ``flatten``,
    ``drop1``, ``fc1``, ``relu3``, ... and ``out`` last (activations and
    dropouts numbered through the network).
    """
    act = ACTIVATIONS[activation]
    ph, pw = pool_size
    layers = []
    counts = {}

    def add(prefix, layer):
        counts[prefix] = counts.get(prefix, 0) + 1
        layers.append((f"{prefix}{counts[prefix]}", layer))

    shape = tuple(input_shape)
    for i, n_filters in enumerate(filters, start=1):
        conv = Conv2D(n_filters, kernel_size, padding=padding)
        shape = conv.compute_output_shape(shape)
        add("conv", conv)
        pool = (min(ph, shape[1]), min(pw, shape[2]))
        pool_layers = [] if pool == (1, 1) else [(f"pool{i}", MaxPool2D(pool))]
        if activation != "relu":
            add(activation, act())
        layers.extend(pool_layers)
        if activation == "relu":
            add(activation, act())
        for _, layer in pool_layers:
            shape = layer.compute_output_shape(shape)
    layers.append(("flatten", Flatten()))

    for units in hidden_layer_sizes:
        if dropout > 0:
            add("drop", Dropout(dropout))
        add("fc", Dense(units))
        add(activation, act())
    if dropout > 0:
        add("drop", Dropout(dropout))
    return with_output_layer(layers, n_outputs)
