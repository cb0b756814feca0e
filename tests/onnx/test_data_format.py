"""ONNX export of a model fitted with ``data_format="channels_last"``.

The graph takes what the estimator takes, rows or images in (H, W, C)
order, and transposes them to (C, H, W) after its input Reshape.
"""

import numpy as np
import pytest

pytest.importorskip("skl2onnx", reason="needs the 'onnx' extra: pip install '.[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the 'onnx' extra: pip install '.[onnx]'")

from skl2onnx import to_onnx  # noqa: E402

import skcnn.onnx  # noqa: E402, F401
from skcnn import NumpyCNNClassifier, NumpyCNNRegressor  # noqa: E402


def run(model, X):
    onx = to_onnx(model, X[:1], options={id(model): {"zipmap": False}} if hasattr(model, "classes_") else None)
    assert "Transpose" in {node.op_type for node in onx.graph.node}
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.parametrize("as_rows", [False, True])
def test_channels_last_models_export_with_a_transpose(as_rows):
    rng = np.random.RandomState(0)
    X = rng.rand(80, 6, 5, 3).astype(np.float32)  # (n, H, W, C), H != W: a wrong axis order shows
    y = (X[:, :3, :, 0].mean(axis=(1, 2)) > X[:, 3:, :, 2].mean(axis=(1, 2))).astype(int)
    params = dict(filters=(4,), hidden_layer_sizes=(8,), max_iter=5, random_state=0,
                  data_format="channels_last")
    if as_rows:
        X, params["image_shape"] = X.reshape(80, -1), (6, 5, 3)
    clf = NumpyCNNClassifier(**params).fit(X, y)
    label, proba = run(clf, X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5, rtol=0)
    reg = NumpyCNNRegressor(**params).fit(X, y.astype(float))
    (prediction,) = run(reg, X)
    np.testing.assert_allclose(prediction.ravel(), reg.predict(X), atol=1e-5, rtol=1e-5)
