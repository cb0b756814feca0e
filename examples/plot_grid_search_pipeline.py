"""
=====================================================
Tuning a CNN in a Pipeline with GridSearchCV
=====================================================

:class:`skcnn.NumpyCNNClassifier` is an ordinary scikit-learn estimator, so
it goes into a :class:`~sklearn.pipeline.Pipeline` after a scaler and its
hyperparameters are tuned by :class:`~sklearn.model_selection.GridSearchCV`
with the ``step__parameter`` names, in parallel with ``n_jobs``.

The pipeline scales the digits' pixels to [0, 1] with
:class:`~sklearn.preprocessing.MinMaxScaler` (fitted on each training fold
only), then the network reads every row of 64 features as an 8 x 8 image.
We search the size of the convolution blocks and the learning rate with
3-fold cross-validation, print the best parameters and plot the mean score
of every combination, with its standard deviation over the folds.

Run ``python examples/plot_grid_search_pipeline.py``; ``--quick`` searches a
smaller grid of small networks trained for 10 epochs (a few seconds) and
``--output-dir`` says where the PNG goes.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skcnn import NumpyCNNClassifier

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
# Data, pipeline and grid
# -----------------------
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0
)

pipe = Pipeline([
    ("scale", MinMaxScaler()),
    ("cnn", NumpyCNNClassifier(hidden_layer_sizes=(64,), random_state=0)),
])
if args.quick:
    param_grid = {
        "cnn__filters": [(4,), (8,)],
        "cnn__learning_rate_init": [0.002, 0.01],
        "cnn__max_iter": [10],
    }
else:
    param_grid = {
        "cnn__filters": [(8,), (16, 32)],
        "cnn__learning_rate_init": [0.0005, 0.002, 0.008],
        "cnn__max_iter": [25],
    }

# %%
# The search
# ----------
# Two workers on two cores; joblib limits each worker's BLAS to one thread,
# so they do not fight over the cores. Every candidate trains for the same
# budget of ``max_iter`` epochs; most use all of it and warn
# (ConvergenceWarning), which is expected here and silenced.
search = GridSearchCV(pipe, param_grid, cv=3, n_jobs=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print(f"Best parameters: {search.best_params_}")
print(f"Best cross-validation accuracy: {search.best_score_:.4f}")
accuracy = search.score(X_test, y_test)
print(f"Test accuracy: {accuracy:.4f} on {len(X_test)} images (the refitted best pipeline)")

# %%
# Scores of the grid
# ------------------
# One line per architecture, the learning rate on the x-axis (log scale).
results = search.cv_results_
fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
for filters in param_grid["cnn__filters"]:
    rows = [i for i, p in enumerate(results["params"]) if p["cnn__filters"] == filters]
    rates = np.array([results["params"][i]["cnn__learning_rate_init"] for i in rows])
    order = np.argsort(rates)
    mean = results["mean_test_score"][rows][order]
    std = results["std_test_score"][rows][order]
    ax.errorbar(rates[order], mean, yerr=std, marker="o", capsize=4, label=f"filters={filters}")
ax.set_xscale("log")
ax.set_xticks(param_grid["cnn__learning_rate_init"])
ax.set_xticklabels([f"{rate:g}" for rate in param_grid["cnn__learning_rate_init"]])
ax.minorticks_off()
ax.set_xlabel("learning_rate_init")
ax.set_ylabel("mean cross-validation accuracy (3 folds)")
ax.set_title("GridSearchCV over Pipeline(MinMaxScaler, NumpyCNNClassifier)")
ax.grid(alpha=0.3)
ax.legend()
path = args.output_dir / "grid_search_scores.png"
fig.savefig(path, dpi=100)
print(f"Saved {path}")
plt.show()
