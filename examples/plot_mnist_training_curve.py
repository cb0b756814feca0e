"""
=============================================
Training on MNIST with early stopping
=============================================

This example trains :class:`skcnn.NumpyCNNClassifier` on 8,000 MNIST digits
(from :func:`skcnn.datasets.load_mnist`) with ``early_stopping=True``: the
network holds out 10 % of the training data, measures its accuracy after
every epoch, stops when it has not improved for ``n_iter_no_change`` epochs
and keeps the weights of its best epoch.

:class:`~skcnn.inspection.TrainingCurveDisplay` draws what happened: the
training loss per epoch (left axis) and the validation accuracy (right
axis), with the best epoch circled. A loss that still falls while the
validation score stalls is the network starting to memorise its training
set.

Run ``python examples/plot_mnist_training_curve.py`` (about a minute on two
cores); ``--quick`` trains a small network on 1,000 digits for at most 10
epochs (a few seconds) and ``--output-dir`` says where the PNG goes.
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skcnn import NumpyCNNClassifier
from skcnn.datasets import load_mnist
from skcnn.inspection import TrainingCurveDisplay

# The command line: --quick for the small settings this gallery runs, --output-dir
# for where the PNGs go (examples/output/ by default).
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
parser.add_argument(
    "--output-dir", type=Path, help="where to save the PNG (default: examples/output/)"
)
args = parser.parse_args()
if args.output_dir is None:
    args.output_dir = Path(__file__).resolve().parent / "output"
args.output_dir.mkdir(parents=True, exist_ok=True)

# %%
# Data
# ----
# skcnn ships the 10,000 images of the MNIST test set; the first 8,000 train
# the network and the last 2,000 test it. Pixels are scaled to [0, 1].
X, y = load_mnist(return_X_y=True)
X = X.astype(np.float32) / 255
n_train = 1000 if args.quick else 8000
X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[8000:], y[8000:]

# %%
# Training with early stopping
# ----------------------------
# ``verbose=True`` prints one line per epoch: loss, validation score, time.
if args.quick:
    clf = NumpyCNNClassifier(
        filters=(8,), hidden_layer_sizes=(), learning_rate_init=0.01, max_iter=10
    )
else:
    clf = NumpyCNNClassifier(filters=(16, 32), hidden_layer_sizes=(64,), max_iter=30)
clf.set_params(early_stopping=True, n_iter_no_change=5, random_state=0, verbose=True)
clf.fit(X_train, y_train)
print(f"Best validation accuracy: {clf.best_validation_score_:.4f}")
print(f"Test accuracy: {clf.score(X_test, y_test):.4f} on {len(X_test)} images")

# %%
# The training curve
# ------------------
disp = TrainingCurveDisplay.from_estimator(clf)
disp.ax_.set_title(f"NumpyCNNClassifier on {n_train} MNIST digits (early stopping)")
path = args.output_dir / "mnist_training_curve.png"
disp.figure_.savefig(path, dpi=100)
print(f"Saved {path}")
plt.show()
