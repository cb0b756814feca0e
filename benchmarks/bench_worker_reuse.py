"""A loop of partial_fit calls, outside and inside ``skcnn.reuse_workers()``.

Each call trains one epoch of 6,400 MNIST images (100 batches of 64, two
shards each: long enough to start worker processes) of a network heavy
enough to train its shards side by side (conv 16, conv 32, dense 64). The
two loops alternate round after round, each from no kept workers, and the
script prints each loop's seconds, the number of worker starts, and the
median ratio outside / inside. Since workers are kept between calls by
default, the ratio should be about 1; before, every call outside the block
started its workers anew.

Run::

    nice python benchmarks/bench_worker_reuse.py [--rounds 5] [--calls 10]
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from _machine import cpu_model, load_average, skcnn_version
from sklearn.exceptions import ConvergenceWarning

import skcnn
from skcnn import NumpyCNNClassifier
from skcnn._training import processes
from skcnn.datasets import load_mnist

CLASSES = np.arange(10)


def make():
    return NumpyCNNClassifier(
        filters=(16, 32), hidden_layer_sizes=(64,), batch_size=64, random_state=0
    )


def count_starts():
    """A list that gets one item per set of worker processes started."""
    starts = []
    original = processes.ShardProcesses.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        starts.append(len(self.workers))

    processes.ShardProcesses.__init__ = spy
    return starts


def loop(X, y, calls, starts):
    """Seconds and worker starts of ``calls`` partial_fit calls of a new model."""
    processes.stop_kept_workers()  # each loop starts from no kept workers
    clf, before = make(), len(starts)
    started = time.perf_counter()
    for _ in range(calls):
        clf.partial_fit(X, y, classes=CLASSES)
    return time.perf_counter() - started, len(starts) - before, clf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y = load_mnist(return_X_y=True)
    X = (X[:6400].reshape(-1, 1, 28, 28) / 255).astype(np.float32)
    y = y[:6400]
    starts = count_starts()
    print(f"skcnn {skcnn_version()} on {cpu_model()}; load at start {load_average()}\n")
    make().partial_fit(X, y, classes=CLASSES)  # warm up: imports and the fork server
    times = {"outside": [], "inside": []}
    models = {}
    print("| round | loop | s | worker starts |\n|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for where in times:
            if where == "inside":
                with skcnn.reuse_workers():
                    seconds, n_starts, models[where] = loop(X, y, args.calls, starts)
            else:
                seconds, n_starts, models[where] = loop(X, y, args.calls, starts)
            times[where].append(seconds)
            print(f"| {round_} | {where} | {seconds:.2f} | {n_starts} |", flush=True)
    ratios = [a / b for a, b in zip(times["outside"], times["inside"])]
    same = all(
        np.array_equal(a, b) for a, b in zip(models["outside"].coefs_, models["inside"].coefs_)
    )
    print(f"\noutside / inside: median {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}); same models: {same}")
    print(f"load at end {load_average()}")


if __name__ == "__main__":
    main()
