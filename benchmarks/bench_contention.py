"""skcnn and PyTorch beside a busy process, and float64 vs float32 input.

Issue 11 asks that fit and predict of the digits defaults be at most 1.4x
slower beside one busy process than alone, that net B keep its speed against
PyTorch there too, and that float64 input cost at most 1.15x float32 input.
This script measures, in one process, conditions taken in turns (A B A B:
alone, busy, alone, busy, ...), and prints the medians and the ratio of each
pair of neighbouring measurements, never an absolute time alone:

1. the digits defaults (``load_digits``, X / 16, all 1,797 images,
   ``NumpyCNNClassifier(random_state=0, max_iter=15)``): fit time and
   ``predict_proba`` time on the images tiled 5 times, alone and beside a
   busy process, for skcnn and for the same network in PyTorch, and
   ``predict_proba`` of skcnn's model with ``n_jobs=1`` (what one core gives);
2. net B (``_common.py``, trained as in ``bench_vs_torch.py``) on 8,000 MNIST
   images: seconds per epoch and predict time on 2,000 test images, alone and
   beside a busy process, skcnn and PyTorch;
3. the digits-defaults fit and a fit of the defaults on 2,000 MNIST images
   with X as float64 and as float32 (alone).

The busy process is ``python -c "while True: pass"``: one per busy
measurement, started by this script, given time to start spinning, and
terminated (and waited for) right after the measurement, in a ``finally``.

skcnn runs with its defaults (BLAS is not limited here: skcnn holds it at one
thread in its own calls); PyTorch with ``torch.set_num_threads(2)``, as in
``bench_vs_torch.py``. PyTorch is optional: without it the torch columns read
"n/a". Run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_contention.py

(see ``benchmarks/README.md``).
"""

import argparse
import copy
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager

import numpy as np
from _common import (
    N_CLASSES,
    TorchTrainer,
    fmt,
    load_average,
    load_mnist_split,
    machine_header,
    median,
    net_classifier,
    pair_ratios,
    ratio_cell,
    rotated,
    table,
    timed,
    torch,
    verdict,
)
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skcnn import NumpyCNNClassifier

TORCH_THREADS = 2
BUSY_COMMAND = [sys.executable, "-c", "while True: pass"]
# Time for the busy interpreter to start and reach its loop (it starts in
# about 20 ms; the rest is margin on a loaded machine).
BUSY_START_SECONDS = 0.3
CONDITIONS = ("alone", "busy")
# "skcnn_1": the same fitted skcnn model predicting with n_jobs=1, on one core.
SERIES = ("skcnn", "skcnn_1", "torch")
LABELS = {"skcnn": "skcnn", "skcnn_1": "skcnn, n_jobs=1", "torch": "PyTorch CPU"}
DIGITS_EPOCHS = 15
DIGITS_PREDICT_TILES = 5
DTYPE_MNIST_EPOCHS = 3
GOAL_BUSY_RATIO = 1.4
GOAL_FLOAT64_RATIO = 1.15
GOAL_NET_B_RATIO = 1.0
# Slowest / fastest measurement of one series above which the run is flagged.
NOISY_SPREAD = 1.5


# ------------------------------------------------------ the busy neighbour


@contextmanager
def busy_neighbour():
    """Run one busy process (a Python ``while True: pass``) for the ``with`` block.

    Yields its pid; it is terminated and waited for on the way out, whatever
    happens inside.
    """
    process = subprocess.Popen(BUSY_COMMAND)
    try:
        time.sleep(BUSY_START_SECONDS)
        if process.poll() is not None:
            raise RuntimeError(f"the busy process exited early (code {process.returncode})")
        yield process.pid
    finally:
        process.terminate()
        process.wait()


@contextmanager
def condition(name):
    """``"busy"``: beside a :func:`busy_neighbour`; any other name: nothing started."""
    if name == "busy":
        with busy_neighbour():
            yield
    else:
        yield


def alternate_conditions(task, frameworks, conditions, repeats, context=None):
    """Time ``task(framework, condition)`` in alternated rounds.

    Each round takes the conditions in order (A B), and within a condition
    every framework, the first one rotating from round to round. ``task``
    returns seconds; ``context(condition)``, if given, is entered around each
    call. Returns ``{(framework, condition): [seconds of round 0, 1, ...]}``.
    """
    times = {(name, cond): [] for name in frameworks for cond in conditions}
    for r in range(repeats):
        for cond in conditions:
            for name in rotated(frameworks, r):
                if context is None:
                    seconds = task(name, cond)
                else:
                    with context(cond):
                        seconds = task(name, cond)
                times[name, cond].append(seconds)
    return times


# ----------------------------------------------------------------- output


def contention_table(times, frameworks, what):
    """Alone vs busy, one row per (measurement, framework), and the ratio busy / alone."""
    rows = []
    for label in what:
        names = {name for name, _ in times[label]}
        for name in SERIES:
            if name == "torch" and "torch" not in frameworks:
                rows.append([label, LABELS[name], "n/a", "n/a", "n/a"])
                continue
            if name not in names:
                continue
            alone, busy = times[label][name, "alone"], times[label][name, "busy"]
            rows.append([
                label, LABELS[name], f"{median(alone):.3f}", f"{median(busy):.3f}",
                ratio_cell(pair_ratios(busy, alone)),
            ])
    return table(
        ["measurement", "framework", "alone: s (median)", "busy: s (median)",
         "busy / alone: median (each pair)"],
        rows,
    )


def versus_table(times, frameworks, what):
    """skcnn / PyTorch in each condition, round by round."""
    rows = []
    for label in what:
        row = [label]
        for cond in CONDITIONS:
            if "torch" not in frameworks:
                row.append("n/a")
                continue
            row.append(ratio_cell(pair_ratios(times[label]["skcnn", cond],
                                              times[label]["torch", cond])))
        rows.append(row)
    return table(
        ["measurement", "skcnn / PyTorch alone: median (each round)",
         "skcnn / PyTorch busy: median (each round)"],
        rows,
    )


def every_measurement(times, what):
    """Every measurement in round order, in seconds."""
    columns = [(label, key) for label in what for key in times[label]]
    n_rounds = len(next(iter(times[what[0]].values())))
    return table(
        ["round"] + [f"{label}: {LABELS.get(k[0], k[0])} {k[1]}" for label, k in columns],
        [[r + 1] + [f"{times[label][key][r]:.3f}" for label, key in columns]
         for r in range(n_rounds)],
    )


def noisy_series(times):
    """Names of the series whose slowest measurement took > NOISY_SPREAD x its fastest."""
    return [
        f"{label}: {LABELS.get(key[0], key[0])} {key[1]}"
        for label, series in times.items() for key, t in series.items()
        if max(t) > NOISY_SPREAD * min(t)
    ]


# ------------------------------------------------------------ the sections


def digits_data(n_images):
    """The digits as a user passes them (float64 rows, X / 16) and as PyTorch takes them."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:n_images] / 16, y[:n_images]
    X_torch = X.astype(np.float32).reshape(-1, 1, 8, 8)
    return X, y, X_torch


def digits_section(args, frameworks):
    """Fit and predict_proba of the digits defaults, alone vs busy, skcnn and PyTorch."""
    X, y, X_torch = digits_data(args.digits_images)
    X_predict, X_predict_torch = (np.tile(a, (DIGITS_PREDICT_TILES,) + (1,) * (a.ndim - 1))
                                  for a in (X, X_torch))
    epochs = args.digits_epochs

    def fit(name):
        if name == "skcnn":
            return NumpyCNNClassifier(random_state=0, max_iter=epochs).fit(X, y)
        return TorchTrainer.twin_of(NumpyCNNClassifier(), X_torch, y).fit(epochs)

    models = {name: fit(name) for name in frameworks}  # warm-up, and the models predicting
    models["skcnn_1"] = copy.deepcopy(models["skcnn"]).set_params(n_jobs=1)
    predicting = ["skcnn", "skcnn_1"] + frameworks[1:]
    inputs = {name: X_predict_torch if name == "torch" else X_predict for name in predicting}
    for name in predicting:
        models[name].predict_proba(inputs[name])
    print(f"\n## 1. Digits defaults: {len(X):,} images, {epochs} epochs\n")
    print(
        f"skcnn: `NumpyCNNClassifier(random_state=0, max_iter={epochs}).fit(X / 16, y)` "
        "(float64 rows, as `load_digits` gives them); `predict_proba` on the images tiled "
        f"{DIGITS_PREDICT_TILES} times ({len(X_predict):,} rows). PyTorch: the same network "
        "(conv 32 -> pool -> relu -> conv 64 -> pool -> relu -> dropout 0.5 -> dense 128 -> "
        "relu -> dropout 0.5 -> dense 10; Adam lr 2e-3, batches of 64, L2 1e-2 / 64 on the "
        "weights) on float32 tensors, its fit time including building the model, its "
        "`predict_proba` a softmax in batches of 1,000 under `torch.inference_mode()`. "
        "\"skcnn, n_jobs=1\": the same fitted skcnn model predicting on one core.\n",
        flush=True,
    )
    fit_times = alternate_conditions(lambda name, cond: timed(fit, name)[0],
                          frameworks, CONDITIONS, args.repeats, condition)
    predict_times = alternate_conditions(
        lambda name, cond: timed(models[name].predict_proba, inputs[name])[0],
        predicting, CONDITIONS, args.repeats, condition,
    )
    times = {"fit": fit_times, "predict_proba": predict_times}
    print_tables(times, frameworks)
    return times


def print_tables(times, frameworks):
    """The busy / alone table, the skcnn / PyTorch table and every measurement."""
    print(contention_table(times, frameworks, list(times)))
    print()
    print(versus_table(times, frameworks, list(times)))
    print("\nEvery measurement (seconds):\n")
    print(every_measurement(times, list(times)))


def net_b_section(args, frameworks):
    """Net B's epoch and predict time, alone vs busy, skcnn and PyTorch."""
    X, y, X_test, _ = load_mnist_split(args.n_train, args.n_test)
    classes = np.arange(N_CLASSES)
    models = {"skcnn": net_classifier("B")}
    if "torch" in frameworks:
        models["torch"] = TorchTrainer.of_net("B", X, y)
    epoch = {
        "skcnn": lambda: models["skcnn"].partial_fit(X, y, classes=classes),
        "torch": lambda: models.get("torch").partial_fit(),
    }
    for name in frameworks:  # warm-up: the first epoch builds the model
        epoch[name]()
        models[name].predict(X_test)
    print(f"\n## 2. Net B: {len(X):,} MNIST training images, {len(X_test):,} test images\n")
    print(
        "Net B and its PyTorch twin from `_common.py`, trained as in `bench_vs_torch.py` "
        "(batch 64, Adam lr 1e-3, float32, "
        "no dropout or L2). One epoch per measurement (`partial_fit` on all the training "
        "images), after one untimed epoch each; predict: the class of every test image.\n",
        flush=True,
    )
    times = {
        "epoch": alternate_conditions(lambda name, cond: timed(epoch[name])[0],
                           frameworks, CONDITIONS, args.repeats, condition),
        "predict": alternate_conditions(
            lambda name, cond: timed(models[name].predict, X_test)[0],
            frameworks, CONDITIONS, args.repeats, condition,
        ),
    }
    print_tables(times, frameworks)
    return times


def dtype_section(args):
    """skcnn's fits with float64 vs float32 input (alone), alternated."""
    X, y, _ = digits_data(args.digits_images)
    X_mnist, y_mnist, _, _ = load_mnist_split(args.dtype_mnist_images, 1)
    inputs = {
        "digits defaults": {"float64": X, "float32": X.astype(np.float32)},
        "MNIST defaults": {"float64": X_mnist.astype(np.float64), "float32": X_mnist},
    }
    max_iter = {"digits defaults": args.digits_epochs, "MNIST defaults": args.dtype_mnist_epochs}

    def fit(label, dtype):
        estimator = NumpyCNNClassifier(random_state=0, max_iter=max_iter[label])
        return timed(estimator.fit, inputs[label][dtype], y if label.startswith("digits")
                     else y_mnist)[0]

    for label in inputs:  # warm-up
        fit(label, "float32")
    print("\n## 3. float64 vs float32 input (alone)\n")
    print(
        f"skcnn's defaults (computing in float32) fitted on the same images as float64 and "
        f"as float32: the digits as in section 1 ({len(X):,} images, {args.digits_epochs} "
        f"epochs), and the first {len(X_mnist):,} MNIST images of shape (n, 1, 28, 28) "
        f"scaled to [0, 1] ({args.dtype_mnist_epochs} epochs).\n",
        flush=True,
    )
    dtypes = ("float32", "float64")
    times = {
        label: alternate_conditions(lambda _, dtype, label=label: fit(label, dtype), ["skcnn"], dtypes, args.repeats)
        for label in inputs
    }
    rows = []
    for label, t in times.items():
        f32, f64 = t["skcnn", "float32"], t["skcnn", "float64"]
        rows.append([label, f"{median(f32):.3f}", f"{median(f64):.3f}",
                     ratio_cell(pair_ratios(f64, f32))])
    print(table(["fit", "float32 X: s (median)", "float64 X: s (median)",
                 "float64 / float32: median (each pair)"], rows))
    print("\nEvery measurement (seconds):\n")
    print(every_measurement(times, list(times)))
    return times


def print_goals(digits, net_b, dtypes, frameworks):
    """The ratios against the goals of issue 11."""
    has_torch = "torch" in frameworks

    def busy_ratio(times, label, name="skcnn"):
        return median(pair_ratios(times[label][name, "busy"], times[label][name, "alone"]))

    def versus(times, label, cond):
        if not has_torch:
            return None
        return median(pair_ratios(times[label]["skcnn", cond], times[label]["torch", cond]))

    rows = [
        ["digits defaults fit: skcnn busy / alone", busy_ratio(digits, "fit"),
         GOAL_BUSY_RATIO],
        ["digits defaults predict_proba: skcnn busy / alone",
         busy_ratio(digits, "predict_proba"), GOAL_BUSY_RATIO],
    ]
    for label in net_b:
        rows += [[f"net B {label}: skcnn / PyTorch, {cond}", versus(net_b, label, cond),
                  GOAL_NET_B_RATIO] for cond in CONDITIONS]
    rows += [[f"{label} fit: float64 / float32 input",
              median(pair_ratios(t["skcnn", "float64"], t["skcnn", "float32"])),
              GOAL_FLOAT64_RATIO] for label, t in dtypes.items()]
    print("\n## Ratios against the goals of issue 11 (medians of the pairs)\n")
    print(table(
        ["ratio", "measured", "goal", "ok"],
        [[name, fmt(value, ".2f"), f"<= {goal}",
          verdict(None if value is None else value <= goal)] for name, value, goal in rows],
    ))
    one_core = median(pair_ratios(digits["predict_proba"]["skcnn", "busy"],
                                  digits["predict_proba"]["skcnn_1", "alone"]))
    print(
        f"\nskcnn's digits predict_proba beside the busy process / with n_jobs=1 alone "
        f"(one core, same round): {one_core:.2f}."
    )
    if has_torch:
        print(
            f"\nPyTorch beside the busy process, busy / alone: digits fit "
            f"{busy_ratio(digits, 'fit', 'torch'):.2f}, digits predict_proba "
            f"{busy_ratio(digits, 'predict_proba', 'torch'):.2f}, net B epoch "
            f"{busy_ratio(net_b, 'epoch', 'torch'):.2f}, net B predict "
            f"{busy_ratio(net_b, 'predict', 'torch'):.2f} (skcnn: "
            f"{busy_ratio(net_b, 'epoch'):.2f} and {busy_ratio(net_b, 'predict'):.2f} on net B)."
        )
    noisy = noisy_series({**digits, **{f"net B {k}": v for k, v in net_b.items()}, **dtypes})
    if noisy:
        print(
            f"\n**Noisy series** (slowest > {NOISY_SPREAD}x fastest): {'; '.join(noisy)}. "
            "In an alone series this means that other processes competed for the cores; "
            "beside the busy process, the slowdown itself varies from round to round. "
            "Compare the pairs, not the medians across runs."
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=5,
        help="alternated rounds (pairs A B) of every measurement (default 5)",
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="leave PyTorch out even if installed"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    args.digits_images, args.digits_epochs = 1797, DIGITS_EPOCHS
    args.n_train, args.n_test = 8000, 2000
    args.dtype_mnist_images, args.dtype_mnist_epochs = 2000, DTYPE_MNIST_EPOCHS
    if args.quick:
        args.digits_images, args.digits_epochs = 300, 2
        args.n_train, args.n_test = 256, 128
        args.dtype_mnist_images, args.dtype_mnist_epochs = 256, 1
        args.repeats = min(args.repeats, 1)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1. Received --repeats={args.repeats}.")
    return args


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    frameworks = ["skcnn"] if torch is None or args.no_torch else ["skcnn", "torch"]
    if torch is not None:
        torch.set_num_threads(TORCH_THREADS)
    print("# skcnn and PyTorch beside a busy process; float64 vs float32 input\n")
    print("\n\n".join(machine_header(TORCH_THREADS)))
    print(
        f"\nBLAS left at its default thread count (skcnn holds it at one thread in its own "
        f"calls); PyTorch on {TORCH_THREADS} threads. {args.repeats} alternated rounds: "
        "in each, every measurement alone, then beside a busy process "
        "(`python -c \"while True: pass\"`, one per measurement); the first framework "
        "rotates. Ratios are per round (pair), in bold their median.",
        flush=True,
    )
    digits = digits_section(args, frameworks)
    net_b = net_b_section(args, frameworks)
    dtypes = dtype_section(args)
    print_goals(digits, net_b, dtypes, frameworks)
    print(f"\nLoad average (1/5/15 min) at the end: {load_average()} (the busy processes "
          "started by this script count in it).")
    if "torch" not in frameworks:
        print("\nPyTorch is not installed (or --no-torch): torch columns read n/a.")


if __name__ == "__main__":
    main()
