"""The skl2onnx shape calculators and converters of the estimators, registered on import."""


import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx._parse import _parse_sklearn_classifier
from skl2onnx.common.data_types import (
    BooleanTensorType,
    DoubleTensorType,
    FloatTensorType,
    Int32TensorType,
    Int64TensorType,
    StringTensorType,
)
from sklearn.utils.validation import check_is_fitted

from .._classifier import NumpyCNNClassifier
from .._regressor import NumpyCNNRegressor
from .._validation import user_layout
from ._layers import check_layers, convert_layers
from ._outputs import class_labels, classifier_outputs, predicts_1d, regressor_outputs

_INPUT_TYPES = (FloatTensorType, DoubleTensorType, Int64TensorType, Int32TensorType, BooleanTensorType)


class OnnxGraph:
    """Where converters add nodes and constants, with names unique in the model.

    A thin layer over the skl2onnx ``scope`` (names) and ``container``
    (nodes, initializers) of the operator being converted; what a layer
    converter (see :func:`register_layer_converter`) uses.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
    container : skl2onnx.common._container.ModelComponentContainer
    """

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container

    def constant(self, hint, value):
        """Add a constant tensor (an initializer); return its name.

        Parameters
        ----------
        hint : str
            A readable stem of the name.
        value : array-like
            Float arrays are stored as float32 (the graph's precision),
            integer arrays as they are, strings as UTF-8 strings.

        Returns
        -------
        name : str
        """
        name = self.scope.get_unique_variable_name(hint)
        value = np.asarray(value)
        if value.dtype.kind == "U":
            data = [s.encode("utf-8") for s in value.ravel().tolist()]
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape), data)
            return name
        if value.dtype.kind == "f":
            value = value.astype(np.float32)
        tensor = numpy_helper.from_array(np.ascontiguousarray(value), name)
        self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        """Add a node of the default ONNX domain; return the name of its output.

        Parameters
        ----------
        op_type : str
            The ONNX operator, e.g. ``"Conv"``.
        inputs : list of str
            Names of its inputs.
        output : str, default=None
            Name of its (single) output; None makes a new one.
        **attributes
            The operator's attributes.

        Returns
        -------
        output : str
        """
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type, list(inputs), [output], name=self.scope.get_unique_operator_name(op_type),
            **attributes,
        )
        return output


# ------------------------------------------------- parser and shape calculators


def _check_convertible(operator):
    """Raise, before any node is written, for what the graph cannot compute."""
    model = operator.raw_operator
    name = type(model).__name__
    check_layers(model.layers_, name)  # layers_ raises NotFittedError first
    if len(operator.inputs) != 1:
        raise ValueError(f"{name} takes one input tensor. Received {len(operator.inputs)}.")
    input_type = operator.inputs[0].type
    if not isinstance(input_type, _INPUT_TYPES):
        raise TypeError(
            f"Cannot export {name} to ONNX for an input of type "
            f"{type(input_type).__name__}: pass a numeric X (float32 preferably)."
        )
    dims = input_type.shape[1:]
    expected = int(np.prod(model.image_shape_))
    if dims and all(isinstance(d, (int, np.integer)) for d in dims) and int(np.prod(dims)) != expected:
        raise ValueError(
            f"Cannot export {name} to ONNX for input samples of shape {tuple(dims)}: "
            f"the model was fitted on {expected} features (image_shape_="
            f"{model.image_shape_})."
        )


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    """skl2onnx's classifier parser (outputs label and probabilities, applies
    the zipmap and output_class_labels options), after checking that
    ``model`` is fitted (its parser reads ``classes_``)."""
    check_is_fitted(model)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def _classifier_shapes(operator):
    _check_convertible(operator)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    n_classes = len(model.classes_)  # the labels' count, for multilabel
    if model._multilabel:
        label = Int64TensorType([n, n_classes])
    else:
        strings = _labels(operator.scope_inst, model).dtype.kind == "U"
        label = (StringTensorType if strings else Int64TensorType)([n])
    operator.outputs[0].set_type(label)
    operator.outputs[1].type.shape = [n, n_classes]


def _regressor_shapes(operator):
    _check_convertible(operator)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type.shape = [n] if predicts_1d(model) else [n, model.n_outputs_]


# ------------------------------------------------------------------ converters


def _network(scope, operator, container):
    """The graph, and the name of the network's raw float32 outputs."""
    model = operator.raw_operator
    graph = OnnxGraph(scope, container)
    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, FloatTensorType):
        x = graph.node("Cast", [x], to=TensorProto.FLOAT)
    shape = tuple(model.image_shape_)
    if model._architecture["data_format"] == "channels_last" and shape[0] > 1:
        # Rows (or samples) in (H, W, C) order: the estimator permutes them to
        # (C, H, W) where it validates X; the graph reshapes and transposes.
        hwc = np.array((-1,) + user_layout(shape, "channels_last"), dtype=np.int64)
        x = graph.node("Reshape", [x, graph.constant("sample_shape", hwc)])
        x = graph.node("Transpose", [x], perm=[0, len(shape)] + list(range(1, len(shape))))
    else:
        images = np.array((-1,) + shape, dtype=np.int64)
        x = graph.node("Reshape", [x, graph.constant("image_shape", images)])
    return graph, convert_layers(model.layers_, graph, x, type(model).__name__)


def _write(graph, value, variable):
    """Write ``value`` to the operator's output ``variable``, in its float type."""
    if isinstance(variable.type, DoubleTensorType):
        graph.node("Cast", [value], output=variable.full_name, to=TensorProto.DOUBLE)
    else:
        graph.node("Identity", [value], output=variable.full_name)


def _labels(scope, model):
    """What the label output holds per class: the class indices with the
    option ``nocl``, else ``classes_`` as int64 or strings."""
    if scope.get_options(model, dict(nocl=False))["nocl"]:
        return np.arange(len(model.classes_), dtype=np.int64)
    return class_labels(model)


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    graph, logits = _network(scope, operator, container)
    labels = None if model._multilabel else _labels(scope, model)
    label, proba = classifier_outputs(model, graph, logits, labels)
    graph.node("Identity", [label], output=operator.outputs[0].full_name)
    _write(graph, proba, operator.outputs[1])


def _convert_regressor(scope, operator, container):
    graph, out = _network(scope, operator, container)
    _write(graph, regressor_outputs(operator.raw_operator, graph, out), operator.outputs[0])


update_registered_converter(
    NumpyCNNClassifier,
    "SkcnnNumpyCNNClassifier",
    _classifier_shapes,
    _convert_classifier,
    parser=_parse_classifier,
    options={
        "zipmap": [True, False, "columns"],
        "output_class_labels": [False, True],
        "nocl": [False, True],
    },
)
update_registered_converter(
    NumpyCNNRegressor, "SkcnnNumpyCNNRegressor", _regressor_shapes, _convert_regressor
)
