"""A loop of partial_fit calls, outside and inside ``skcnn.reuse_workers()``.

Each call trains one epoch of 6,400 MNIST images (100 batches of 64, two
shards each: long enough to start worker processes) of a network heavy
enough to train its shards side by side (conv 16, conv 32, dense 64). The
two loops alternate round after round (the first rotating), each from no kept workers, and the
script prints each loop's seconds, the number of worker starts, and the
median ratio outside / inside. Since workers are kept between calls by
default, the ratio should be about 1; before, every call outside the block
started its workers anew.

Run::

    nice python benchmarks/bench_worker_reuse.py [--rounds 5] [--calls 10] [--quick]
"""

import argparse
import statistics
import warnings

import numpy as np
from _common import load_average, load_mnist_split, machine_line, rotated, table, timed
from sklearn.exceptions import ConvergenceWarning

import skcnn
from skcnn import NumpyCNNClassifier
from skcnn._training import processes

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
    seconds, _ = timed(lambda: [clf.partial_fit(X, y, classes=CLASSES) for _ in range(calls)])
    return seconds, len(starts) - before, clf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="1 round of 2 calls: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls = 1, 2
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y, _, _ = load_mnist_split(6400, 1)
    starts = count_starts()
    print(f"{machine_line()}\n", flush=True)
    make().partial_fit(X, y, classes=CLASSES)  # warm up: imports and the fork server
    times = {"outside": [], "inside": []}
    models, rows = {}, []
    for round_ in range(args.rounds):
        for where in rotated(times, round_):  # the first loop alternates
            if where == "inside":
                with skcnn.reuse_workers():
                    seconds, n_starts, models[where] = loop(X, y, args.calls, starts)
            else:
                seconds, n_starts, models[where] = loop(X, y, args.calls, starts)
            times[where].append(seconds)
            rows.append([round_ + 1, where, f"{seconds:.2f}", n_starts])
    print(table(["round", "loop", "s", "worker starts"], rows))
    ratios = [a / b for a, b in zip(times["outside"], times["inside"])]
    same = all(
        np.array_equal(a, b) for a, b in zip(models["outside"].coefs_, models["inside"].coefs_)
    )
    print(f"\noutside / inside: median {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}); same models: {same}")
    print(f"load at end {load_average()}")


if __name__ == "__main__":
    main()
