"""
=====================================================
What the network learned: filters and feature maps
=====================================================

A convolution layer slides small filters over its input; each filter
produces one feature map that is large where the image looks like the
filter. This example trains :class:`skcnn.NumpyCNNClassifier` on MNIST
digits and draws, with :mod:`skcnn.inspection`:

- :class:`~skcnn.inspection.FiltersDisplay`: the 5 x 5 filters of the first
  convolution layer, on one shared color scale (gray is a zero weight);
- :class:`~skcnn.inspection.ActivationsDisplay`: the feature maps that one
  test digit produces in the first and the second convolution layer, after
  the relu and before max-pooling. The first layer's maps are still
  recognisably the digit, each lighting up one kind of stroke or edge; the
  second layer's maps, built on pooled first-layer maps, are coarser and
  more selective.

The maps themselves, as arrays, are ``display.activations``; every layer's
output for any ``X`` is ``clf.layer_outputs(X)``.

Run ``python examples/plot_filters_and_activations.py``; ``--quick`` trains
a small network on 1,000 digits for 4 epochs (a few seconds) and
``--output-dir`` says where the PNGs go.
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skcnn import NumpyCNNClassifier
from skcnn.datasets import load_mnist
from skcnn.inspection import ActivationsDisplay, FiltersDisplay

# The command line: --quick for the small settings this gallery runs, --output-dir
# for where the PNGs go (examples/output/ by default).
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
parser.add_argument(
    "--output-dir", type=Path, help="where to save the PNGs (default: examples/output/)"
)
args = parser.parse_args()
if args.output_dir is None:
    args.output_dir = Path(__file__).resolve().parent / "output"
args.output_dir.mkdir(parents=True, exist_ok=True)

# %%
# Train on MNIST
# --------------
# Of skcnn's 10,000 MNIST digits, the last 2,000 test the network and the
# first 5,000 train it (1,000 with ``--quick``). 5 x 5 filters show more
# structure than 3 x 3 ones.
X, y = load_mnist(return_X_y=True)
X = X.astype(np.float32) / 255
n_train = 1000 if args.quick else 5000
X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[8000:], y[8000:]
if args.quick:
    clf = NumpyCNNClassifier(
        filters=(4, 8), kernel_size=5, hidden_layer_sizes=(), learning_rate_init=0.01,
        max_iter=4,
    )
else:
    clf = NumpyCNNClassifier(filters=(16, 32), kernel_size=5, hidden_layer_sizes=(64,), max_iter=6)
clf.set_params(random_state=0).fit(X_train, y_train)
accuracy = clf.score(X_test, y_test)
print(f"Test accuracy: {accuracy:.4f} on {len(X_test)} images, after {clf.n_iter_} epochs")

# %%
# The filters of the first layer
# ------------------------------
disp = FiltersDisplay.from_estimator(clf, layer=0)
path = args.output_dir / "mnist_filters.png"
disp.figure_.savefig(path, dpi=100)
print(f"Saved {path}")

# %%
# The feature maps of one test digit
# ----------------------------------
# One figure: the digit, then the maps of each convolution layer. Passing one
# Axes as ``ax`` makes a display split it into a grid of small Axes.
digit, label = X_test[10], y_test[10]  # a 3: curves, and horizontal strokes
fig, (ax_digit, ax_first, ax_second) = plt.subplots(
    1, 3, figsize=(13, 4.2), width_ratios=[1, 2.4, 2.4], layout="constrained"
)
ax_digit.imshow(digit, cmap="gray_r")
ax_digit.set_title(f"Input: a {label} (predicted {clf.predict(digit[None])[0]})")
ax_digit.set_axis_off()
first = ActivationsDisplay.from_estimator(clf, digit, layer=0, ax=ax_first)
second = ActivationsDisplay.from_estimator(clf, digit, layer=1, ax=ax_second)
print(f"Feature maps: layer 0 {first.activations.shape}, layer 1 {second.activations.shape}")
path = args.output_dir / "mnist_activations.png"
fig.savefig(path, dpi=100)
print(f"Saved {path}")
plt.show()
