"""
==================================================
Regression on signals: the frequency of a sinusoid
==================================================

This example trains :class:`skcnn.NumpyCNNRegressor` to read the frequency
of noisy sinusoids: 2,500 signals of 128 samples, ``sin(2 pi f t + phase)``
plus Gaussian noise, with ``f`` drawn from 1 to 10 cycles per signal and the
phase at random. Each signal is a row of 128 features, as it would go into
:class:`~sklearn.neural_network.MLPRegressor`; 128 is not a square number, so
the CNN reads every row as a ``1 x 128`` signal (``image_shape_``).

On such one-row samples the built-in network's kernels and pools act along
the signal only: the default ``kernel_size=3`` gives ``(1, 3)`` kernels and
``pool_size=2`` ``(1, 2)`` pools (see ``layers_``). A frequency is a shape in
time, wherever the wave starts: what a convolution finds at every position,
and what a dense network has to learn position by position. The CNN is
compared with MLPRegressor on the same split by the root mean squared error
in cycles, and a figure shows a few test signals with both predictions, and
predicted against true frequencies.

Run ``python examples/plot_signal_regression.py`` (two minutes or so on two
cores); ``--quick`` trains on fewer signals for a smoke test and
``--output-dir`` says where the PNG goes.
"""

import argparse
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import root_mean_squared_error
from sklearn.neural_network import MLPRegressor

from skcnn import NumpyCNNRegressor

# The command line: --quick for the small settings this gallery runs, --output-dir
# for where the PNGs go (examples/output/ by default).
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="fewer signals, for tests")
parser.add_argument(
    "--output-dir", type=Path, help="where to save the PNG (default: examples/output/)"
)
args = parser.parse_args()
if args.output_dir is None:
    args.output_dir = Path(__file__).resolve().parent / "output"
args.output_dir.mkdir(parents=True, exist_ok=True)

# %%
# Data: noisy sinusoids
# ---------------------
# The noise (standard deviation 0.5, half the wave's amplitude) hides single
# samples; the frequency shows in the wave as a whole.
n_train, n_test = (600, 200) if args.quick else (2000, 500)
length = 128
rng = np.random.default_rng(0)
t = np.arange(length) / length
frequency = rng.uniform(1, 10, size=n_train + n_test)
phase = rng.uniform(0, 2 * np.pi, size=n_train + n_test)
X = np.sin(2 * np.pi * frequency[:, None] * t + phase[:, None])
X += rng.normal(0, 0.5, size=X.shape)
X_train, X_test = X[:n_train], X[n_train:]
y_train, y_test = frequency[:n_train], frequency[n_train:]

# %%
# Two models on the same split
# ----------------------------
# Both get the same rows, and both keep their defaults; the CNN's are two
# blocks of convolution, max-pooling and relu (32 then 64 filters) and a
# dense layer of 128 units.
models = {
    "MLPRegressor": MLPRegressor(random_state=0),
    "NumpyCNNRegressor": NumpyCNNRegressor(random_state=0),
}
if args.quick:  # a smoke run: stopped early, warnings would be noise
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    models["MLPRegressor"].set_params(max_iter=20)
    models["NumpyCNNRegressor"].set_params(max_iter=12, filters=(8, 16))
errors, predictions = {}, {}
for name, model in models.items():
    started = time.perf_counter()
    model.fit(X_train, y_train)
    predictions[name] = model.predict(X_test)
    errors[name] = root_mean_squared_error(y_test, predictions[name])
    print(f"{name}: test RMSE {errors[name]:.2f} cycles "
          f"({time.perf_counter() - started:.0f} s to fit, {model.n_iter_} epochs)")
print(f"Target standard deviation: {y_test.std():.2f} cycles")
cnn = models["NumpyCNNRegressor"]
print(f"NumpyCNNRegressor reads each row as {cnn.image_shape_} (channels, height, width); "
      f"its first convolution: {cnn.layers_[0]!r}")
ratio = errors["NumpyCNNRegressor"] / errors["MLPRegressor"]
print(f"RMSE ratio NumpyCNNRegressor / MLPRegressor: {ratio:.2f}")

# %%
# Signals and predictions
# -----------------------
# Left: three test signals, their true frequency and what each model reads.
# Right: predicted against true frequency for every test signal.
fig = plt.figure(figsize=(11, 5))
grid = fig.add_gridspec(3, 2, width_ratios=(1.4, 1))
for row, i in enumerate(np.argsort(y_test)[[n_test // 10, n_test // 2, 9 * n_test // 10]]):
    ax = fig.add_subplot(grid[row, 0])
    ax.plot(t, X_test[i], linewidth=0.8)
    ax.set_title(
        f"true {y_test[i]:.2f} cycles; CNN {predictions['NumpyCNNRegressor'][i]:.2f}, "
        f"MLP {predictions['MLPRegressor'][i]:.2f}",
        fontsize=9,
    )
    ax.set_yticks([])
    if row < 2:
        ax.set_xticks([])
ax.set_xlabel("time (one signal)")
ax = fig.add_subplot(grid[:, 1])
for name, marker in [("MLPRegressor", "x"), ("NumpyCNNRegressor", "o")]:
    ax.scatter(y_test, predictions[name], s=8, alpha=0.5, marker=marker,
               label=f"{name}: RMSE {errors[name]:.2f}")
ax.plot([1, 10], [1, 10], color="black", linewidth=1)
ax.set(xlabel="true frequency (cycles per signal)", ylabel="predicted frequency")
ax.legend(loc="upper left", fontsize=8)
fig.suptitle(f"Frequency of {n_test} noisy test sinusoids ({n_train} for training)")
fig.tight_layout()
path = args.output_dir / "signal_regression.png"
fig.savefig(path, dpi=100)
print(f"Saved {path}")
plt.show()
