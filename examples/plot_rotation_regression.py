"""
=============================================
Regression: the rotation angle of a digit
=============================================

This example trains :class:`skcnn.NumpyCNNRegressor` to read how far a
handwritten digit was turned. Each of the MNIST digits shipped with skcnn
(:func:`skcnn.datasets.load_mnist`) is rotated by an angle drawn uniformly
from -45 to 45 degrees (``scipy.ndimage.rotate``; scipy comes with
scikit-learn); the first 5,000 train and the next 1,000 test.

The CNN is compared with :class:`~sklearn.linear_model.Ridge` and
:class:`~sklearn.neural_network.MLPRegressor` on the same split, by the root
mean squared error in degrees (overall and, for the CNN, digit by digit),
and a scatter plot shows predicted against true angles.

Run ``python examples/plot_rotation_regression.py`` (a few minutes on two
cores); ``--quick`` trains on fewer images for a smoke test and
``--output-dir`` says where the PNG goes.
"""

import argparse
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import rotate
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.metrics import root_mean_squared_error
from sklearn.neural_network import MLPRegressor

from skcnn import NumpyCNNRegressor
from skcnn.datasets import load_mnist

# The command line: --quick for the small settings this gallery runs, --output-dir
# for where the PNGs go (examples/output/ by default).
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="fewer images, for tests")
parser.add_argument(
    "--output-dir", type=Path, help="where to save the PNG (default: examples/output/)"
)
args = parser.parse_args()
if args.output_dir is None:
    args.output_dir = Path(__file__).resolve().parent / "output"
args.output_dir.mkdir(parents=True, exist_ok=True)

# %%
# Data: rotated digits
# --------------------
# Bilinear interpolation (``order=1``) and the image size kept
# (``reshape=False``): the corners that rotate in are black, as the MNIST
# background.
n_train, n_test = (1000, 300) if args.quick else (5000, 1000)
images, labels = load_mnist(return_X_y=True)
images = images[: n_train + n_test].astype(np.float32) / 255
angles = np.random.default_rng(0).uniform(-45, 45, size=len(images))
X = np.stack([rotate(img, a, reshape=False, order=1) for img, a in zip(images, angles)])
X_train, X_test = X[:n_train], X[n_train:]
y_train, y_test = angles[:n_train], angles[n_train:]

# %%
# Three models on the same split
# ------------------------------
# Every model gets the images as flat rows of pixels; the CNN reads them as
# 28 x 28 images (``image_shape_``). Early stopping holds out 10 % of the
# training images for the CNN and the MLP alike. The CNN uses dropout, which
# the regressor leaves off by default (as MLPRegressor): on this task it
# lowers the test error by about a quarter (benchmarks/RESULTS.md).
models = {
    "Ridge": Ridge(alpha=10.0),
    "MLPRegressor": MLPRegressor(early_stopping=True, random_state=0),
    "NumpyCNNRegressor": NumpyCNNRegressor(early_stopping=True, dropout=0.5, random_state=0),
}
if args.quick:  # a smoke run: stopped early, warnings would be noise
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    models["MLPRegressor"].set_params(max_iter=30)
    models["NumpyCNNRegressor"].set_params(max_iter=15, filters=(8, 16))
flat_train, flat_test = X_train.reshape(n_train, -1), X_test.reshape(n_test, -1)
errors, predictions = {}, {}
for name, model in models.items():
    started = time.perf_counter()
    model.fit(flat_train, y_train)
    predictions[name] = model.predict(flat_test)
    errors[name] = root_mean_squared_error(y_test, predictions[name])
    print(f"{name}: test RMSE {errors[name]:.2f} degrees "
          f"({time.perf_counter() - started:.0f} s to fit)")
print(f"Target standard deviation: {y_test.std():.2f} degrees")
labels_test = labels[n_train : n_train + n_test]
per_digit = {
    digit: root_mean_squared_error(y_test[labels_test == digit],
                                   predictions["NumpyCNNRegressor"][labels_test == digit])
    for digit in range(10)
}
print("NumpyCNNRegressor test RMSE by digit: "
      + ", ".join(f"{digit}: {error:.1f}" for digit, error in per_digit.items()))
ratio = errors["NumpyCNNRegressor"] / errors["MLPRegressor"]
print(f"RMSE ratio NumpyCNNRegressor / MLPRegressor: {ratio:.2f}")

# %%
# Predicted against true angles
# -----------------------------
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
for ax, name in zip(axes, ["MLPRegressor", "NumpyCNNRegressor"]):
    ax.scatter(y_test, predictions[name], s=6, alpha=0.5)
    ax.plot([-45, 45], [-45, 45], color="black", linewidth=1)
    ax.set_title(f"{name}: RMSE {errors[name]:.1f} degrees")
    ax.set_xlabel("true angle (degrees)")
    ax.set_aspect("equal")
axes[0].set_ylabel("predicted angle (degrees)")
fig.suptitle(f"Rotation angle of {n_test} test digits ({n_train} for training)")
fig.tight_layout()
path = args.output_dir / "rotation_regression.png"
fig.savefig(path, dpi=100)
print(f"Saved {path}")
plt.show()
