"""The built-in network on 1-D signals: epoch time and test RMSE (issue 21).

Data: noisy sinusoids of length 128, ``sin(2 pi f t + phase) + noise`` with
``f`` drawn from U(1, 10) cycles per signal, the phase from U(0, 2 pi) and
Gaussian noise of standard deviation 0.5; the target is ``f``. 2,000 signals
to train, 500 to test, as 2-D float64 rows (read as ``1 x 128`` one-row
images).

Models:

- ``defaults``: ``NumpyCNNRegressor()``; on one-row samples the built-in
  network's kernels and pools act along the row: ``(1, 3)`` and ``(1, 2)``;
- ``kernel_size=(1, 3)``: the same network asked for explicitly;
- ``3 x 3 kernels``: the network the defaults built before issue 21 (3 x 3
  "same" kernels over one row, pools ``(1, 2)``), as a layer list;
- ``MLPRegressor()`` with its defaults.

Measured: seconds per epoch of the three CNNs, one ``partial_fit`` each in
turn, round after round (the first round, which builds the models, is left
out), median and ratio to ``kernel_size=(1, 3)``; then a whole ``fit`` of
every model (each stops by itself: 2,000 samples, no hold-out), its time,
epochs and test RMSE, for each seed.

Run::

    python benchmarks/bench_signals.py [--rounds 5] [--seeds 0 1] [--quick]
    python benchmarks/bench_signals.py --rounds 15 --seeds   # epoch times only
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from _common import cpu_model, load_average, numpy_blas, skcnn_version
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from skcnn import NumpyCNNRegressor
from skcnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU


def sinusoids(n, length=128, seed=0):
    rng = np.random.RandomState(seed)
    t = np.arange(length) / length
    f = rng.uniform(1, 10, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    X = np.sin(2 * np.pi * f[:, None] * t + phase[:, None]) + rng.normal(0, 0.5, (n, length))
    return X, f


def old_default_layers():
    """The built-in network for 1 x 128 samples before issue 21."""
    return [
        ("conv1", Conv2D(32, 3, padding="same")), ("pool1", MaxPool2D((1, 2))), ("relu1", ReLU()),
        ("conv2", Conv2D(64, 3, padding="same")), ("pool2", MaxPool2D((1, 2))), ("relu2", ReLU()),
        ("flatten", Flatten()), ("drop1", Dropout(0.5)), ("fc1", Dense(128)), ("relu3", ReLU()),
        ("drop2", Dropout(0.5)),
    ]


def cnns(seed, **extra):
    return {
        "defaults": NumpyCNNRegressor(random_state=seed, **extra),
        "kernel_size=(1, 3)": NumpyCNNRegressor(kernel_size=(1, 3), random_state=seed, **extra),
        "3 x 3 kernels (before)": NumpyCNNRegressor(
            layers=old_default_layers(), random_state=seed, **extra
        ),
    }


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="none: epoch times only")
    parser.add_argument("--quick", action="store_true", help="300 signals, 2 rounds, 3 epochs")
    args = parser.parse_args()
    n_train, n_test = (300, 100) if args.quick else (2000, 500)
    rounds = 2 if args.quick else args.rounds
    extra = {"max_iter": 3} if args.quick else {}

    X, y = sinusoids(n_train + n_test)
    X_train, X_test, y_train, y_test = X[:n_train], X[n_train:], y[:n_train], y[n_train:]
    print(f"skcnn {skcnn_version()}; {cpu_model()}; {numpy_blas()}; load {load_average()}")
    print(f"{n_train} train / {n_test} test sinusoids of length 128, target std {y_test.std():.2f}\n")

    models = cnns(0)
    times = {name: [] for name in models}
    for r in range(rounds + 1):
        names = list(models)
        names = names[r % len(names):] + names[: r % len(names)]  # who goes first rotates
        for name in names:
            started = time.perf_counter()
            models[name].partial_fit(X_train, y_train)
            if r:  # round 0 builds the models
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times["kernel_size=(1, 3)"])
    print("| model | seconds per epoch (median) | / kernel_size=(1, 3) | fastest-slowest epoch |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {med / base:.2f} | {min(ts):.3f}-{max(ts):.3f} |")

    if args.seeds:
        print("\n| seed | model | fit seconds | epochs | test RMSE | / MLPRegressor |")
        print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        fitted = {**cnns(seed, **extra), "MLPRegressor()": MLPRegressor(random_state=seed, **extra)}
        rows = []
        for name, model in fitted.items():
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train)
            rows.append((name, time.perf_counter() - started, model.n_iter_, rmse(model, X_test, y_test)))
        mlp = rows[-1][3]
        for name, seconds, epochs, error in rows:
            print(f"| {seed} | {name} | {seconds:.1f} | {epochs} | {error:.3f} | {error / mlp:.2f} |")
    print(f"\nload at the end: {load_average()}")


if __name__ == "__main__":
    main()
