"""Make the saved-model fixtures of skcnn 0.1.0 (run once, with that version).

The files beside this script were written by skcnn 0.1.0, before the package
layout of 0.2; ``tests/test_persistence.py`` checks that today's skcnn loads
them and predicts the outputs recorded in ``expected.npz``. Running this
script again with a later version would only rewrite them with that version.
"""

import pickle
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.datasets import load_digits

import skcnn
from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
from skcnn.augmentation import RandomFlip, RandomRotation, RandomShift
from skcnn.layers import (
    AvgPool2D, BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
    GlobalMaxPool2D, Logistic, MaxPool2D, ReLU, Tanh,
)

HERE = Path(__file__).parent


def models():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    yield "classifier_builtin", NumpyCNNClassifier(
        filters=(4,), hidden_layer_sizes=(16,), max_iter=3, random_state=0,
        augment=[RandomShift(1), RandomRotation(5), RandomFlip(horizontal=True)],
    ).fit(X, y)
    yield "classifier_layers_sgd", NumpyCNNClassifier(
        layers=[
            ("conv1", Conv2D(4, padding="same")), ("bn1", BatchNorm2D()), ("relu1", ReLU()),
            ("pool1", MaxPool2D()), ("conv2", Conv2D(6)), ("tanh", Tanh()), ("avg", AvgPool2D(1)),
            ("gap", GlobalAvgPool2D()), ("flatten", Flatten()), ("fc", Dense(8)),
            ("bn2", BatchNorm1D()), ("sig", Logistic()), ("drop", Dropout(0.2)),
        ],
        solver="sgd", max_iter=3, random_state=0,
    ).fit(X.reshape(-1, 1, 8, 8), y)
    yield "classifier_globalmax_lbfgs", NumpyCNNClassifier(
        layers=[("conv1", Conv2D(3)), ("gmp", GlobalMaxPool2D()), ("flatten", Flatten())],
        solver="lbfgs", max_iter=5, random_state=0,
    ).fit(X, y % 2)
    yield "regressor_builtin", NumpyCNNRegressor(
        filters=(4,), hidden_layer_sizes=(8,), max_iter=3, random_state=0,
    ).fit(X, y.astype(float))


def main():
    X, _ = load_digits(return_X_y=True)
    X = X[400:440] / 16
    expected = {"X": X}
    for name, model in models():
        with open(HERE / f"{name}.pkl", "wb") as f:
            pickle.dump(model, f)
        sio.dump(model, HERE / f"{name}.skops")
        expected[f"{name}_predict"] = model.predict(X)
        if hasattr(model, "predict_proba"):
            expected[f"{name}_predict_proba"] = model.predict_proba(X)
    np.savez(HERE / "expected.npz", **expected)
    print("saved with skcnn", skcnn.__version__)


if __name__ == "__main__":
    main()
