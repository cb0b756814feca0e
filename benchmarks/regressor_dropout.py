"""NumpyCNNRegressor's dropout rate on four regression tasks (issue 21).

Usage: ``python benchmarks/regressor_dropout.py [--tasks check digits signals rotation]
[--rates 0 0.1 0.2 0.5] [--quick]``. Prints one line per task and rate; the
scores are deterministic (bit-identical models), so only they are reported.
``--quick`` is a smoke run of seconds (tiny sizes, 2 epochs): its scores
mean nothing.

- ``check``: scikit-learn's ``check_regressors_train`` data (200 samples, 10
  standardized features, one informative, noise 20, standardized y): R^2 on
  the training data, as the check scores it, for the default network and for
  a small one (``filters=(4, 6), hidden_layer_sizes=(16,)``) with sgd and
  adam; MLPRegressor beside them. Seeds 0 to 2; a few minutes in all.
- ``digits``: scikit-learn's digits (X / 16, 2/3 to train, 1/3 to test,
  random_state=0) with two targets: each image's centre of mass (row and
  column, 2 outputs) and the digit's value as a number. The defaults, test
  RMSE, seeds 0 and 1; about a minute per fit on 2 cores.
- ``signals``: ``bench_signals.py``'s noisy sinusoids (``_common.sinusoids``)
  of length 128 (2,000 to train, 500 to test; the target is the frequency).
  The defaults, test RMSE, seeds 0 and 1; one to five minutes per fit.
- ``rotation``: ``examples/plot_rotation_regression.py``'s task (5,000
  shipped MNIST digits rotated by U(-45, 45) degrees to train, 1,000 to
  test) with ``early_stopping=True, random_state=0`` and the defaults
  otherwise; test RMSE in degrees; 5-15 minutes per fit.
"""

import argparse
import time
import warnings

import numpy as np
from _common import machine_line, sinusoids
from scipy.ndimage import rotate
from sklearn.datasets import load_digits, make_regression
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler, scale

from skcnn import NumpyCNNRegressor
from skcnn.datasets import load_mnist


def check_task(rates, quick):
    X, y = make_regression(200, 10, n_informative=1, bias=5.0, noise=20, random_state=42)
    X, y = StandardScaler().fit_transform(X), scale(y)
    for solver in ("sgd", "adam"):
        mlp = MLPRegressor(solver=solver, alpha=0.01, random_state=0, **quick)
        r2 = mlp.fit(X, y).score(X, y)
        print(f"check: MLPRegressor(solver={solver!r}): R^2 {r2:.3f}", flush=True)
    networks = {"default network": {}, "small network": dict(filters=(4, 6), hidden_layer_sizes=(16,))}
    for solver in ("sgd", "adam"):
        for name, params in networks.items():
            for rate in rates:
                scores = []
                for seed in (0, 1, 2):
                    reg = NumpyCNNRegressor(**params, solver=solver, dropout=rate,
                                            random_state=seed, **quick)
                    scores.append(reg.fit(X, y).score(X, y))
                print(f"check: {name}, {solver}, dropout={rate}: R^2 "
                      + ", ".join(f"{s:.3f}" for s in scores), flush=True)


def digits_task(rates, quick):
    X, digit = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8)
    mass = images.sum(axis=(1, 2))
    rows = (images.sum(axis=2) * np.arange(8)).sum(axis=1) / mass
    cols = (images.sum(axis=1) * np.arange(8)).sum(axis=1) / mass
    targets = {"centre of mass (2 outputs)": np.column_stack([rows, cols]),
               "digit value": digit.astype(float)}
    for task, Y in targets.items():
        Xa, Xb, Ya, Yb = train_test_split(X / 16, Y, test_size=0.33, random_state=0)
        if quick:
            Xa, Ya = Xa[:100], Ya[:100]
        for rate in rates:
            results = []
            for seed in (0, 1):
                reg = NumpyCNNRegressor(random_state=seed, dropout=rate, **quick).fit(Xa, Ya)
                P = reg.predict(Xb)
                results.append(f"RMSE {root_mean_squared_error(Yb, P):.4f} "
                               f"R^2 {r2_score(Yb, P):.4f} ({reg.n_iter_} epochs)")
            print(f"digits, {task}: dropout={rate}: " + "; ".join(results), flush=True)


def signals_task(rates, quick):
    n = 200 if quick else 2000
    X, f = sinusoids(n + 500)
    for rate in rates:
        results = []
        for seed in (0, 1):
            reg = NumpyCNNRegressor(random_state=seed, dropout=rate, **quick).fit(X[:n], f[:n])
            results.append(f"RMSE {root_mean_squared_error(f[n:], reg.predict(X[n:])):.3f} "
                           f"({reg.n_iter_} epochs)")
        print(f"signals: dropout={rate}: " + "; ".join(results), flush=True)


def rotation_task(rates, quick):
    n_train, n_test = (300, 100) if quick else (5000, 1000)
    images, _ = load_mnist(return_X_y=True)
    images = images[: n_train + n_test].astype(np.float32) / 255
    angles = np.random.default_rng(0).uniform(-45, 45, size=len(images))
    X = np.stack([rotate(img, a, reshape=False, order=1) for img, a in zip(images, angles)])
    X = X.reshape(len(X), -1)
    for rate in rates:
        reg = NumpyCNNRegressor(early_stopping=True, random_state=0, dropout=rate, **quick)
        started = time.perf_counter()
        reg.fit(X[:n_train], angles[:n_train])
        rmse = root_mean_squared_error(angles[n_train:], reg.predict(X[n_train:]))
        print(f"rotation: dropout={rate}: test RMSE {rmse:.2f} degrees, {reg.n_iter_} epochs "
              f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tasks = {"check": check_task, "digits": digits_task, "signals": signals_task,
             "rotation": rotation_task}
    parser.add_argument("--tasks", nargs="+", default=list(tasks), choices=list(tasks))
    parser.add_argument("--rates", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.5])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 2 epochs")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    warnings.simplefilter("ignore")  # ConvergenceWarning of the capped runs
    for task in args.tasks:
        tasks[task](args.rates, {"max_iter": 2} if args.quick else {})
