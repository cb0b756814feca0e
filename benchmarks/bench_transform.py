"""The CNN reused as a transformer (issue 23): its features for another
estimator, and the memory ``transform`` takes.

Two measurements, each a markdown table:

- **scores**: on digits (``load_digits``, X / 16), ``--splits`` stratified
  75 / 25 splits (``random_state`` 0, 1, ...; the CNN's ``random_state`` is
  the split's): the test accuracy of ``NumpyCNNClassifier()`` (defaults),
  of ``make_pipeline(NumpyCNNClassifier(), SVC())`` (the same CNN, fitted
  on y, whose ``transform`` feeds an SVC with its defaults) and of
  ``SVC()`` on the pixels. The pipeline's CNN is the one fitted alone (the
  same bits: same data and seed), so the difference is the SVC's on its
  features. The CNN is fitted once per split.
- **memory**: in a fresh interpreter per call, how much the process grows
  while ``transform`` (and ``layer_outputs`` of one layer, and optionally of
  every layer) runs on the 10,000 shipped MNIST images (uint8, as
  ``load_mnist`` gives them, loaded before the measurement). The model is the
  default network fitted for one epoch on the first 2,000 images (its
  weights do not matter for memory). Two numbers, as ``bench_vs_torch.py``
  measures predict: the peak of the anonymous resident memory (``RssAnon``,
  sampled every 2 ms by a thread) minus its value before the call, and the
  kernel's peak RSS (``VmHWM``, reset just before the call) minus the RSS
  before it. The goal: ``transform`` grows peak RSS by under 300 MB.

Run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_transform.py

``--all-layers`` adds ``layer_outputs(X)`` of every layer (2.5 GB of result
on MNIST: it needs several GB of free memory). ``--quick``: 2 splits, 2,000
MNIST images, a smoke run whose numbers mean little.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from _common import load_average, machine_header, memory_growth, table
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skcnn import NumpyCNNClassifier
from skcnn.datasets import load_mnist

CALLS = {
    "transform": lambda model, X: model.transform(X),
    "layer_outputs_relu3": lambda model, X: model.layer_outputs(X, "relu3"),
    "layer_outputs_conv1": lambda model, X: model.layer_outputs(X, "conv1"),
    "layer_outputs_all": lambda model, X: model.layer_outputs(X),
}
LABELS = {
    "transform": "`transform(X)` (128 features)",
    "layer_outputs_relu3": '`layer_outputs(X, "relu3")` (the same values)',
    "layer_outputs_conv1": '`layer_outputs(X, "conv1")` (32 x 28 x 28 per image)',
    "layer_outputs_all": "`layer_outputs(X)` (every layer)",
}


# ------------------------------------------------------------------ scores


def scores(n_splits):
    """One row per split: accuracies of the CNN, CNN -> SVC and SVC on pixels."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    rows = []
    for seed in range(n_splits):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=seed
        )
        started = time.perf_counter()
        cnn = NumpyCNNClassifier(random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe = make_pipeline(cnn, SVC()).fit(X_train, y_train)
        seconds = time.perf_counter() - started
        cnn = pipe[0]  # fitted on (X_train, y_train): what fitting it alone gives
        rows.append((
            seed, cnn.score(X_test, y_test), pipe.score(X_test, y_test),
            SVC().fit(X_train, y_train).score(X_test, y_test), seconds,
        ))
        print(f"<!-- split {seed}: {rows[-1]} -->", flush=True)
    return rows


def print_scores(rows):
    n_test = 450
    cells = [
        [seed, f"{cnn:.4f}", f"{pipe:.4f}", f"{svc:.4f}", f"{round((pipe - cnn) * n_test):+d}",
         f"{seconds:.0f}"]
        for seed, cnn, pipe, svc, seconds in rows
    ]
    cnn, pipe, svc = (np.mean([row[i] for row in rows]) for i in (1, 2, 3))
    cells.append(["mean", f"{cnn:.4f}", f"{pipe:.4f}", f"{svc:.4f}",
                  f"{(pipe - cnn) * n_test:+.1f}", ""])
    print(table(["split", "CNN", "CNN -> SVC", "SVC on pixels",
                 "CNN -> SVC minus CNN (test images)", "fit (s)"], cells))
    wins = sum(row[2] > row[1] for row in rows)
    ties = sum(row[2] == row[1] for row in rows)
    print(
        f"\nCNN -> SVC above the CNN alone on {wins} of {len(rows)} splits, equal on {ties}."
    )


# ------------------------------------------------------- memory (subprocess)


def memory_worker(call, n_images):
    """Body of the subprocess: prints the growths (MB) during ``call`` on
    ``n_images`` MNIST images, the result's size, and whether the peak RSS
    could be reset."""
    images, labels = load_mnist(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NumpyCNNClassifier(max_iter=1, random_state=0).fit(images[:2000], labels[:2000])
    X = images[:n_images]
    result, anon, rss, exact = memory_growth(lambda: CALLS[call](model, X))
    arrays = result if isinstance(result, list) else [result]
    size = sum(a.nbytes for a in arrays)
    print(f"{anon:.1f} {rss:.1f} {size / 2**20:.1f} {int(exact)}")


def measure_memory(call, n_images):
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker", call,
           "--n-images", str(n_images)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"<!-- memory worker {call} failed: {done.stderr.strip()[-500:]} -->")
        return None
    anon, rss, result, exact = done.stdout.split()[-4:]
    return float(anon), float(rss), float(result), bool(int(exact))


def print_memory(results, n_images):
    rows = []
    for call, found in results.items():
        if found is None:
            rows.append([LABELS[call], "failed", "", ""])
            continue
        anon, rss, result, exact = found
        rows.append([LABELS[call], f"{result:.1f}", f"{anon:.1f}",
                     f"{rss:.1f}{'' if exact else ' (lower bound)'}"])
    print(table([f"call on {n_images:,} MNIST images", "result (MB)", "RssAnon growth (MB)",
                 "peak RSS growth (MB)"], rows))
    found = results.get("transform")
    if found is not None:
        verdict = "met" if max(found[0], found[1]) < 300 else "NOT met"
        print(f"\nGoal `transform` peak growth < 300 MB: {verdict}.")


# ------------------------------------------------------------------ main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["scores", "memory", "both"], default="both")
    parser.add_argument("--splits", type=int, default=5, help="digits splits (default 5)")
    parser.add_argument("--n-images", type=int, default=10_000, help="MNIST images (default 10000)")
    parser.add_argument("--all-layers", action="store_true", help="also layer_outputs(X) of every layer")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker:
        memory_worker(args.memory_worker, args.n_images)
        return
    if args.quick:
        args.splits, args.n_images = 2, 2_000
    print("\n\n".join(machine_header()) + "\n")
    if args.part in ("scores", "both"):
        print("### CNN -> SVC on digits\n")
        print_scores(scores(args.splits))
        print()
    if args.part in ("memory", "both"):
        print("### Memory of transform on MNIST\n")
        calls = [c for c in CALLS if c != "layer_outputs_all" or args.all_layers]
        print_memory({call: measure_memory(call, args.n_images) for call in calls}, args.n_images)
    print(f"\nLoad average at the end: {load_average()}.")


if __name__ == "__main__":
    main()
