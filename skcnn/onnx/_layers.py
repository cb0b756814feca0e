"""ONNX nodes for each layer type: a registry ``layer class -> converter``.

A converter is ``convert(layer, graph, x) -> name``: it adds the nodes that
compute the fitted ``layer`` on the tensor named ``x`` to ``graph`` (see
:class:`skcnn.onnx.OnnxGraph`: ``graph.constant(hint, array)`` and
``graph.node(op_type, inputs, **attributes)``, each returning the name of
its output) and returns the name of the layer's output. Tensors are NCHW,
as the layers' arrays are indexed (their channels-last memory never shows
in the graph), and the graph computes in float32.

A new layer type is one function::

    @register_layer_converter(Swish)  # a layer class of one's own
    def _swish(layer, graph, x):
        return graph.node("Mul", [x, graph.node("Sigmoid", [x])])

ONNX's ``Conv``, ``MaxPool``, ``AveragePool`` and the global pools take one
spatial axis as they take two, so a 1-D layer and its 2-D twin share a
converter.
"""

from ..layers import (
    AvgPool1D,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    Identity,
    LeakyReLU,
    Logistic,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Tanh,
)

#: The converter of each layer class (exact classes: see ``converter_for``).
LAYER_CONVERTERS = {}


def register_layer_converter(layer_class):
    """Decorator registering ``convert(layer, graph, x) -> name`` for ``layer_class``.

    Parameters
    ----------
    layer_class : type
        The layer class the converter handles (not its subclasses).

    Returns
    -------
    decorator : callable
        Registers the function it decorates and returns it unchanged.
    """
    if not isinstance(layer_class, type):
        raise TypeError(
            f"layer_class must be a layer class. Received layer_class={layer_class!r}."
        )

    def decorator(convert):
        LAYER_CONVERTERS[layer_class] = convert
        return convert

    return decorator


def converter_for(layer, index, owner):
    """The converter of ``layer`` (position ``index`` in ``owner``'s layers).

    The lookup is by exact class: a subclass may compute something else
    (its own ``forward``), so it needs its own converter rather than its
    parent's. Raises a ``NotImplementedError`` naming the layer otherwise.
    """
    convert = LAYER_CONVERTERS.get(type(layer))
    if convert is None:
        raise NotImplementedError(
            f"Cannot export {owner} to ONNX: its layer {index}, {layer!r}, has no "
            f"ONNX converter for the class {type(layer).__module__}."
            f"{type(layer).__qualname__}. Register one with "
            "skcnn.onnx.register_layer_converter."
        )
    return convert


def check_layers(layers, owner):
    """Raise before any node is added if a layer of ``layers`` has no converter."""
    for index, layer in enumerate(layers):
        converter_for(layer, index, owner)


def convert_layers(layers, graph, x, owner):
    """Add every layer's nodes to ``graph``, in order; the name of the last output."""
    for index, layer in enumerate(layers):
        x = converter_for(layer, index, owner)(layer, graph, x)
    return x


@register_layer_converter(Conv1D)
@register_layer_converter(Conv2D)
def _conv(layer, graph, x):
    # pads as ONNX orders them: the starts of every spatial axis, then their
    # ends. "same" with an even kernel puts the extra zero at the end
    # (bottom, right), as PyTorch and resolve_padding do.
    pads = [before for before, _ in layer.pads] + [after for _, after in layer.pads]
    inputs = [x, graph.constant("conv_weight", layer.weight)]
    if layer.bias is not None:
        inputs.append(graph.constant("conv_bias", layer.bias))
    return graph.node(
        "Conv", inputs,
        kernel_shape=list(layer.kernel_size), strides=list(layer.stride), pads=pads,
    )


@register_layer_converter(MaxPool1D)
@register_layer_converter(MaxPool2D)
def _maxpool(layer, graph, x):
    # ONNX's default ceil_mode=0 is our floor mode: windows that do not fit
    # at the bottom or right are dropped.
    return graph.node(
        "MaxPool", [x], kernel_shape=list(layer.pool_size), strides=list(layer.stride)
    )


@register_layer_converter(AvgPool1D)
@register_layer_converter(AvgPool2D)
def _avgpool(layer, graph, x):
    # Floor mode (ONNX's default ceil_mode=0) and no padding, as ours and
    # PyTorch's defaults: every window lies inside the input, so
    # count_include_pad has nothing to count and each output is the mean of
    # its pool_size values.
    return graph.node(
        "AveragePool", [x], kernel_shape=list(layer.pool_size), strides=list(layer.stride)
    )


@register_layer_converter(GlobalAvgPool1D)
@register_layer_converter(GlobalAvgPool2D)
def _global_avgpool(layer, graph, x):
    return graph.node("Flatten", [graph.node("GlobalAveragePool", [x])], axis=1)  # (N, C)


@register_layer_converter(GlobalMaxPool1D)
@register_layer_converter(GlobalMaxPool2D)
def _global_maxpool(layer, graph, x):
    return graph.node("Flatten", [graph.node("GlobalMaxPool", [x])], axis=1)  # (N, C)


@register_layer_converter(BatchNorm1D)
@register_layer_converter(BatchNorm2D)
def _batchnorm(layer, graph, x):
    # Inference: (x - running_mean) / sqrt(running_var + eps) * weight + bias,
    # per channel (axis 1), as the layer's forward(X, training=False).
    # BatchNormalization takes the (N, C) and (N, C, L) input of BatchNorm1D
    # as it is.
    inputs = [
        x,
        graph.constant("bn_weight", layer.weight),
        graph.constant("bn_bias", layer.bias),
        graph.constant("bn_running_mean", layer.running_mean),
        graph.constant("bn_running_var", layer.running_var),
    ]
    return graph.node("BatchNormalization", inputs, epsilon=float(layer.eps))


@register_layer_converter(Flatten)
def _flatten(layer, graph, x):
    return graph.node("Flatten", [x], axis=1)  # NCHW tensors: PyTorch's (C, H, W) order


@register_layer_converter(Dense)
def _dense(layer, graph, x):
    inputs = [x, graph.constant("dense_weight", layer.weight)]  # (in, out): no transB
    if layer.bias is None:
        return graph.node("MatMul", inputs)
    return graph.node("Gemm", inputs + [graph.constant("dense_bias", layer.bias)])


@register_layer_converter(Dropout)
@register_layer_converter(Identity)
def _pass_through(layer, graph, x):
    return x  # Dropout is the identity at inference


def _elementwise(op_type):
    def convert(layer, graph, x):
        return graph.node(op_type, [x])

    convert.__name__ = f"_{op_type.lower()}"
    return convert


for _class, _op_type in ((ReLU, "Relu"), (Tanh, "Tanh"), (Logistic, "Sigmoid")):
    register_layer_converter(_class)(_elementwise(_op_type))


@register_layer_converter(LeakyReLU)
def _leaky_relu(layer, graph, x):
    return graph.node("LeakyRelu", [x], alpha=float(layer.negative_slope))
