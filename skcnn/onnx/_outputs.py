"""The ONNX nodes from the network's raw outputs to the estimator's predictions.

One function per task decides from the fitted model alone what its
``predict`` and ``predict_proba`` compute, so that the graph follows the
model, whichever output layout it was fitted with:

- a classifier with one output column per class: softmax, label the class of
  the largest logit (``ArgMax`` keeps the first of ties, as numpy);
- a binary classifier with one logit column (as MLPClassifier): probabilities
  ``[1 - sigmoid, sigmoid]``, label ``classes_[sigmoid > 0.5]``;
- a multilabel classifier (``_multilabel``): a sigmoid per column, labels
  ``proba > 0.5`` as int64 0/1;
- a regressor: the outputs themselves (``loss="squared_error"``) or their
  exponential (``loss="poisson"``), of shape ``(n,)`` when it was fitted on a
  1-D ``y``, as ``predict`` returns.
"""

import numpy as np
from onnx import TensorProto


def classifier_outputs(model, graph, logits, labels):
    """Add the label and probability nodes of a fitted classifier.

    Parameters
    ----------
    model : NumpyCNNClassifier
        The fitted classifier.
    graph : OnnxGraph
        Where the nodes go.
    logits : str
        Name of the ``(n, n_columns)`` float32 raw outputs of the network.
    labels : ndarray of shape (n_classes,)
        What ``label`` holds for each class: :func:`class_labels`, or the
        class indices (skl2onnx's option ``nocl``). Unused for multilabel.

    Returns
    -------
    label, proba : str
        Names of the labels (``(n,)``; ``(n, n_labels)`` int64 for
        multilabel) and of the ``(n, n_classes)`` probabilities.
    """
    kind = classifier_kind(model)
    if kind == "multilabel":
        proba = graph.node("Sigmoid", [logits])
        positive = graph.node("Greater", [proba, graph.constant("half", np.float32(0.5))])
        return graph.node("Cast", [positive], to=TensorProto.INT64), proba
    classes = graph.constant("classes", labels)
    if kind == "binary":
        positive_proba = graph.node("Sigmoid", [logits])
        # sigmoid(-z), as predict_proba computes 1 - p (no cancellation near 1)
        negative_proba = graph.node("Sigmoid", [graph.node("Neg", [logits])])
        proba = graph.node("Concat", [negative_proba, positive_proba], axis=1)
        positive = graph.node("Greater", [positive_proba, graph.constant("half", np.float32(0.5))])
        index = graph.node("Cast", [positive], to=TensorProto.INT64)
        index = graph.node("Reshape", [index, graph.constant("flat", np.array([-1], np.int64))])
    else:
        proba = graph.node("Softmax", [logits], axis=1)
        index = graph.node("ArgMax", [logits], axis=1, keepdims=0)
    return graph.node("Gather", [classes, index], axis=0), proba


def classifier_kind(model):
    """``"multilabel"``, ``"binary"`` (one logit column) or ``"softmax"``, as
    the classifier's own ``_multilabel`` and ``_logistic_outputs`` decide."""
    if model._multilabel:
        return "multilabel"
    return "binary" if model._logistic_outputs() else "softmax"


def class_labels(model):
    """``classes_`` as ONNX labels: int64 for integer, boolean and float labels
    (a classifier's float labels are integral: scikit-learn refuses others),
    as skl2onnx exports them, else strings."""
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iubf":
        return classes.astype(np.int64)
    return classes.astype(str)


def regressor_outputs(model, graph, out):
    """Add the prediction nodes of a fitted regressor; the prediction's name.

    Parameters
    ----------
    model : NumpyCNNRegressor
        The fitted regressor.
    graph : OnnxGraph
        Where the nodes go.
    out : str
        Name of the ``(n, n_outputs)`` float32 raw outputs of the network.

    Returns
    -------
    prediction : str
        ``(n,)`` for a model fitted on 1-D ``y``, else ``(n, n_outputs)``.
    """
    loss = fitted_loss(model)
    if loss == "poisson":
        out = graph.node("Exp", [out])  # the log link's inverse
    elif loss != "squared_error":
        raise NotImplementedError(
            f"Cannot export {type(model).__name__} to ONNX: no output transform "
            f"is known for loss={loss!r}."
        )
    if predicts_1d(model):
        out = graph.node("Reshape", [out, graph.constant("flat", np.array([-1], np.int64))])
    return out


def fitted_loss(model):
    """The loss the regressor was fitted with (``loss`` may have been set since)."""
    return model._architecture["loss"]


def predicts_1d(model):
    """Whether ``predict`` returns a 1-D array (the model was fitted on 1-D ``y``)."""
    return model._targets["ndim"] == 1

