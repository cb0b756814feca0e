"""Which layers the estimator trains: a user's layer list, or the built-in network.

A network given as a list of ``(name, layer)`` pairs, as Pipeline's steps:

The estimator's ``layers`` parameter stays as the user passed it: these
functions check it, copy it for a fit (``fit`` never builds, trains or
otherwise changes the user's layer objects), check its shapes before any
training, and describe it as plain values, the architecture a continued fit
(``warm_start``, ``partial_fit``) must keep.
"""

import math
from numbers import Integral

from sklearn.base import clone

from .layers import ACTIVATIONS, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D

#: The name of the output layer the estimator appends to every network.
OUTPUT_NAME = "out"


def check_layer_list(layers, reserved):
    """Check the structure of ``layers``; return its ``(name, layer)`` pairs.

    ``reserved`` holds the names a layer may not take: the estimator's
    parameters (``set_params(name=...)`` would be ambiguous).
    """
    if not isinstance(layers, (list, tuple)) or len(layers) == 0:
        raise ValueError(
            "layers must be None or a non-empty list of (name, layer) pairs, as a "
            f"Pipeline's steps: [('conv1', Conv2D(32)), ('relu1', ReLU()), ...]. "
            f"Received layers={layers!r}."
        )
    pairs = []
    for i, item in enumerate(layers):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(
                f"layers[{i}] must be a (name, layer) pair with a str name, as a "
                f"Pipeline's steps: ('conv1', Conv2D(32)). Received layers[{i}]={item!r}."
            )
        name, layer = item
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise ValueError(
                f"Layer {name!r} is the class {layer.__name__}, not a layer: pass an "
                f"instance, {layer.__name__}(...)."
            )
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {name!r} must be a layer of skcnn.layers (an instance of "
                f"skcnn.layers.Layer). Received {layer!r} of type {type(layer).__name__}."
            )
        pairs.append((name, layer))
    names = [name for name, _ in pairs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Layer names must be unique; {duplicates!r} appear more than once in layers.")
    for name in names:
        if not name or "__" in name:
            raise ValueError(
                f"Layer name {name!r} is not valid: names must be non-empty and must not "
                "contain '__' (it separates a layer's name from its parameters, as in "
                "set_params(conv1__filters=16))."
            )
        if name == OUTPUT_NAME:
            raise ValueError(
                f"Layer name {name!r} is reserved for the output layer the estimator "
                "appends; rename that layer."
            )
        if name in reserved:
            raise ValueError(
                f"Layer name {name!r} is the name of an estimator parameter "
                f"(set_params({name}=...) would be ambiguous); rename that layer."
            )
    return pairs


def layer_params(layers):
    """The layers of ``layers`` by name and their parameters as ``name__param``.

    What Pipeline adds to ``get_params(deep=True)`` for its steps
    (scikit-learn's ``_BaseComposition._get_params``); nothing for a value
    that is not a list of pairs (``fit`` says what is wrong with it).
    """
    try:
        named = dict(layers)
    except (TypeError, ValueError):
        return {}
    out = dict(named)
    for name, layer in named.items():
        if hasattr(layer, "get_params") and not isinstance(layer, type):
            out.update((f"{name}__{k}", v) for k, v in layer.get_params(deep=True).items())
    return out


def replace_layers(layers, params):
    """``layers`` with the layers ``params`` names replaced (popped from
    ``params``): a new list, as ``_BaseComposition._set_params`` makes; the
    same object when ``params`` names none."""
    if not isinstance(layers, (list, tuple)):
        return layers
    try:
        names = {name for name, _ in layers}
    except (TypeError, ValueError):
        return layers
    new = {key: params.pop(key) for key in list(params) if "__" not in key and key in names}
    if not new:
        return layers
    return [(name, new.get(name, layer)) for name, layer in layers]


def copy_layers(pairs):
    """Fresh, unbuilt layers constructed from the parameters of ``pairs``'s."""
    return [(name, clone(layer, safe=False)) for name, layer in pairs]


def with_output_layer(pairs, n_outputs):
    """``pairs`` and the estimator's output layer: ``n_outputs`` linear units."""
    return list(pairs) + [(OUTPUT_NAME, Dense(n_outputs))]


def check_shapes(pairs, input_shape):
    """Check that each layer takes the output of the one before; errors name it.

    A layer that fails on ``(C, H, W)`` samples but takes flat ones (Dense)
    asks for a Flatten or a global pooling layer before it, rather than
    getting one silently: the list is the user's network, and the size of
    what a Flatten would feed it is often the mistake.
    """
    shape, source = tuple(input_shape), "the input"
    for name, layer in pairs:
        label = (
            f"The output layer the estimator appends ({layer!r})" if name == OUTPUT_NAME
            else f"Layer {name!r} ({layer!r})"
        )
        try:
            out = layer.compute_output_shape(shape)
        except ValueError as error:
            if len(shape) >= 2 and _takes_flat(layer, shape):
                fix = (
                    "end layers with ('flatten', Flatten())"
                    if name == OUTPUT_NAME
                    else f"insert ('flatten', Flatten()) before {name!r}"
                )
                axes = "(channels, height, width)" if len(shape) == 3 else "(channels, length)"
                raise ValueError(
                    f"{label} takes flat samples, but {source} gives samples of shape "
                    f"{shape} {axes}: {fix}, or a global pooling layer."
                ) from None
            raise ValueError(f"{label}: {error}") from error
        shape, source = tuple(out), f"layer {name!r}"
    return shape


def sample_ndim(pairs):
    """The rank of the samples the layers of ``pairs`` take: the
    ``input_ndim`` of the first layer that has one (3 for images
    ``(C, H, W)``, 2 for signals ``(C, L)``, 1 for flat samples), or None
    when no layer says (activations, Flatten, ... only)."""
    for _, layer in pairs:
        ndim = getattr(layer, "input_ndim", None)
        if ndim is not None:
            return ndim
    return None


def _takes_flat(layer, shape):
    try:
        layer.compute_output_shape((math.prod(shape),))
    except ValueError:
        return False
    return True


def layer_spec(pairs):
    """The architecture of ``pairs`` as plain values, for continued fits.

    One ``(name, class, fixed, free)`` per layer: ``fixed`` holds the
    parameters (``get_params(deep=True)``, nested objects by class) a
    continued fit must keep, ``free`` those it may change (the class's
    ``_warm_start_params``, as Dropout's rate).
    """
    spec = []
    for name, layer in pairs:
        params = layer.get_params(deep=True) if hasattr(layer, "get_params") else {}
        params = {k: _plain(v) for k, v in params.items()}
        free_names = getattr(layer, "_warm_start_params", ())
        fixed = tuple(sorted((k, v) for k, v in params.items() if k not in free_names))
        free = tuple(sorted((k, v) for k, v in params.items() if k in free_names))
        spec.append((name, f"{type(layer).__module__}.{type(layer).__qualname__}", fixed, free))
    return tuple(spec)


def _plain(value):
    """A value that compares by value: nested objects by their class."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        return f"{type(value).__module__}.{type(value).__qualname__}"
    return tuple(value) if isinstance(value, list) else value


def describe_change(old, new):
    """How the layer list ``new`` differs from ``old`` (specs or None), or None
    if a continued fit can go on (only ``free`` parameters changed)."""
    if old is None and new is None:
        return None
    if old is None or new is None:
        return (
            f"layers changed from {_summary(old)} to {_summary(new)}"
        )
    if [(n, c) for n, c, _, _ in old] != [(n, c) for n, c, _, _ in new]:
        return f"layers changed from {_summary(old)} to {_summary(new)}"
    for (name, _, old_fixed, _), (_, _, new_fixed, _) in zip(old, new):
        if old_fixed != new_fixed:
            before, after = dict(old_fixed), dict(new_fixed)
            key = next(k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k))
            return f"{name}__{key} changed from {before.get(key)!r} to {after.get(key)!r}"
    return None


def _summary(spec):
    if spec is None:
        return "None (the network of filters, hidden_layer_sizes, ...)"
    return "[" + ", ".join(f"{name}: {cls.rsplit('.', 1)[-1]}" for name, cls, _, _ in spec) + "]"


def continue_with(layers, spec):
    """Give the fitted ``layers`` the ``free`` parameters of ``spec`` (in order)."""
    for layer, (_, _, _, free) in zip(layers, spec):
        if free:
            layer._continue_with(**dict(free))


# ------------------------------------------------- the built-in network

# The parameters that build the network when ``layers`` is None.
NETWORK_PARAMS = (
    "filters", "kernel_size", "pool_size", "padding", "hidden_layer_sizes", "activation", "dropout",
)


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

    On a signal (samples of one row, or one column) the kernels, their
    padding and the pools act along the signal only: size 1 and no padding
    across it, where a 3 x 3 kernel would spend two thirds of its
    multiplications on padding for the same outputs. Images with both
    dimensions above 1 get the kernels as given.

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
    kernel_size, pool_size, padding = _along_signal(input_shape, kernel_size, pool_size, padding)
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


def _along_signal(input_shape, kernel_size, pool_size, padding):
    """Kernel, pool and padding of the built-in network for samples of
    ``input_shape`` ``(C, H, W)``: unchanged, except across an axis of
    length 1 (a signal), where they become 1, 1 and 0."""
    across = [size == 1 for size in input_shape[1:]]
    if not any(across):
        return kernel_size, pool_size, padding
    kernel = tuple(1 if one else k for k, one in zip(kernel_size, across))
    pool = tuple(1 if one else p for p, one in zip(pool_size, across))
    if not isinstance(padding, str):
        pads = (padding, padding) if isinstance(padding, Integral) else tuple(padding)
        padding = tuple(0 if one else int(p) for p, one in zip(pads, across))
    return kernel, pool, padding
