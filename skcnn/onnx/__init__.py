"""Export fitted estimators to ONNX, to predict with onnxruntime.

Importing this module (``pip install "skcnn[onnx]"`` for skl2onnx and
onnxruntime) registers :class:`~skcnn.NumpyCNNClassifier` and
:class:`~skcnn.NumpyCNNRegressor` with skl2onnx, so that
``skl2onnx.to_onnx(model, X[:1].astype(np.float32))`` exports them, alone or
as the last step of a Pipeline after scikit-learn's preprocessing.

What the graph computes:

- Input: the rows ``X`` that ``predict`` takes, of shape ``(n, n_features)``
  (or ``(n, C, H, W)`` images), reshaped to ``(n,) + image_shape_``.
- Every layer of ``layers_``, each by the converter registered for its
  class (:func:`register_layer_converter`): every layer class of
  :mod:`skcnn.layers` has one (batch norm exports its running statistics,
  as ``predict`` uses them). A layer without one fails the export with a
  message naming it.
- Classifier outputs in skl2onnx's conventions, as for MLPClassifier:
  ``label`` (``predict``) and ``probabilities`` (``predict_proba``, an
  array) with the option ``{"zipmap": False}``; by default
  ``output_label`` and ``output_probability``, the latter a list of
  ``{class: probability}`` dicts (one output per class with
  ``{"zipmap": "columns"}``).
  Regressor: ``variable``, ``predict``'s values in its shape: ``(n,)`` for a
  model fitted on 1-D ``y``, ``(n, n_outputs)`` otherwise.

Precision: the graph computes in float32 whatever the model's ``dtype``
(onnxruntime's CPU convolution has no float64 kernel): a ``dtype=np.float64``
model exports its weights rounded to float32. A float64 input
(``to_onnx(model, X[:1])`` with a float64 ``X``) is accepted, cast to float32
at the start, and its outputs are float64, as skl2onnx's outputs follow the
input type.

Examples
--------
>>> import numpy as np
>>> import onnxruntime as ort
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_digits
>>> from skcnn import NumpyCNNClassifier
>>> import skcnn.onnx  # registers the converters
>>> X, y = load_digits(return_X_y=True)
>>> X = (X / 16).astype(np.float32)
>>> clf = NumpyCNNClassifier(filters=(4,), hidden_layer_sizes=(), max_iter=3,
...                          random_state=0).fit(X[:300], y[:300])
>>> onx = to_onnx(clf, X[:1], options={"zipmap": False})
>>> session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
>>> label, proba = session.run(None, {"X": X[300:310]})
>>> bool((label == clf.predict(X[300:310])).all())
True
>>> bool(np.allclose(proba, clf.predict_proba(X[300:310]), atol=1e-5))
True
"""

from ._export import OnnxGraph
from ._layers import LAYER_CONVERTERS, register_layer_converter

__all__ = ["LAYER_CONVERTERS", "OnnxGraph", "register_layer_converter"]
