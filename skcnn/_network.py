"""A stack of layers: forward and backward over them, in whole batches or in
shards that meet where batch statistics are needed."""

from ._random import mix_seed, sample_keys


class Sequential:
    """Layers applied in order, with parameters and gradients in a fixed order.

    Parameters
    ----------
    layers : list of Layer
    reuse_buffers : bool, default=False
        Let the layers reuse their large arrays from one training batch to the
        next (see ``Layer._ws``): faster, but an array returned by a training
        pass is only valid until the next one.
    names : list of str or None, default=None
        The layers' names (the estimator's ``layer_names_``), for errors.
    """

    names = None  # networks pickled before layers had names

    def __init__(self, layers, reuse_buffers=False, names=None):
        self.layers = list(layers)
        self.reuse_buffers = reuse_buffers
        self.names = None if names is None else list(names)
        for layer in self.layers:
            layer.reuse_buffers = reuse_buffers
        self.input_shape = self.output_shape = None

    def build(self, input_shape, rng, dtype):
        """Build every layer from the sample shape; return the output shape."""
        shape = self.input_shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.build(shape, rng, dtype)
        self.output_shape = shape
        # A convolution hands its training output to a max-pool whose
        # windows tile it in pool-blocked memory (see Conv2D.pool_blocks).
        for layer, following in zip(self.layers, self.layers[1:]):
            if layer.gives_pool_blocks:
                layer.pool_blocks = following.takes_pool_blocks(layer.output_shape)
        return shape

    @property
    def params(self):
        """The live parameter arrays, layer by layer."""
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self):
        """The gradient arrays, in the order of ``params``."""
        return [g for layer in self.layers for g in layer.grads]

    def forward(self, X, training=False, seed=None, sample_weight=None):
        """Run a batch through every layer.

        In training, random layers (``takes_seed``: Dropout) get the seed
        ``mix_seed(*seed, position)`` when ``seed`` (a tuple of ints naming
        the training call and batch) is given, and key their
        masks on the samples' values here, at the input, where equal samples
        are equal bits: the same batch and seed give the same masks in any
        replica, thread or process. Layers that need statistics of the
        whole batch (BatchNorm) take them from ``X`` alone, weighing the
        samples by ``sample_weight`` (frequencies; None: all ones): a batch
        split into shards runs ``forward_steps`` instead (see ``ShardedStep``).
        """
        if not training:
            for layer in self.layers:
                X = layer.forward(X)
            return X
        return self._alone(self.forward_steps(X, seed, sample_weight))

    def forward_steps(self, X, seed=None, sample_weight=None):
        """A training forward pass that stops where the batch's shards meet.

        A generator: at every layer with ``syncs_batch`` it yields the
        meeting point ``(layer index, "forward", partial sums of X)``, its
        samples weighted by ``sample_weight``, and expects back the batch's
        totals from :meth:`meet`; it returns the output. With one shard the
        point meets only itself (``forward``).
        """
        keys = None
        if any(layer.takes_seed for layer in self.layers):
            keys = sample_keys(X.reshape(X.shape[0], -1))
        for i, layer in enumerate(self.layers):
            if layer.takes_seed:
                X = layer.forward(X, True, None if seed is None else mix_seed(*seed, i), keys)
            elif layer.syncs_batch:
                totals = yield (i, "forward", layer.forward_sums(X, sample_weight))
                X = layer.forward_with(totals)
            else:
                X = layer.forward(X, training=True)
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
        self._alone(self.backward_steps(dY))

    def backward_steps(self, dY):
        """Backward as a generator that stops where the shards meet (as
        ``forward_steps``; a first layer needs no input gradient, so it
        does not meet)."""
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if layer.syncs_batch and i > 0:
                totals = yield (i, "backward", layer.backward_sums(dY))
                dY = layer.backward_with(totals)
            else:
                dY = layer.backward(dY, input_grad=i > 0)

    def training_pass(self, X, y, w, weight_sum, loss, seed=None):
        """Forward, loss and backward of one shard, as a generator that stops
        at every meeting point (see ``forward_steps``); returns the loss.

        ``loss(logits, y, w, weight_sum)`` returns the loss and its gradient
        (see ``ShardedStep``); BatchNorm weighs its statistics by ``w`` too."""
        logits = yield from self.forward_steps(X, seed, w)
        value, dlogits = loss(logits, y, w, weight_sum)
        yield from self.backward_steps(dlogits)
        return value

    def meet(self, points):
        """The batch's totals at a meeting point, from every shard's point
        (in shard order): what the shards' generators expect back.

        Call it once per batch and point, on the network whose layers keep
        the running statistics: a forward meeting moves them.
        """
        index, kind = points[0][:2]
        if any(point[:2] != (index, kind) for point in points):
            raise RuntimeError(f"Shards of one batch met at different points: {points!r}.")
        names = self.names
        name = None if names is None else names[index]
        return self.layers[index].merge(kind, [point[2] for point in points], name)

    def _alone(self, steps):
        """Run a pass whose shard is the whole batch: each point meets only itself."""
        totals = None
        while True:
            try:
                point = steps.send(totals)
            except StopIteration as stop:
                return stop.value
            totals = self.meet([point])

    def replica(self):
        """A network sharing these parameters, with its own gradients and buffers."""
        twin = Sequential(
            [layer.replica() for layer in self.layers], self.reuse_buffers,
            self.names,
        )
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

    @property
    def running_stats(self):
        """The arrays training moves that are not parameters (BatchNorm's
        running statistics), layer by layer: state to save and restore with
        the parameters."""
        return [getattr(layer, name) for layer in self.layers for name in layer.state_names]

    def __repr__(self):
        inner = ",\n".join(f"  {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n])"


def advance(passes, totals=None):
    """Run every generator of ``passes`` (``Sequential.training_pass``) to its
    next meeting point, sending it ``totals`` (None to start).

    Returns one ``(done, value)`` per pass: ``(False, meeting point)``, or
    ``(True, loss)`` once the pass has finished.
    """
    results = []
    for steps in passes:
        try:
            results.append((False, steps.send(totals)))
        except StopIteration as stop:
            results.append((True, stop.value))
    return results
