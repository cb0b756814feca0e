"""The cost of checkpointing the MNIST recipe every epoch (issue 24).

The MNIST recipe (``_common.mnist_recipe``: four convolutions, batch norm,
dropout, augmentation, SGD) trains on the first 8,000 MNIST images, in fits
shortened to a few epochs (the recipe's 60 take about 9 minutes). Two
comparisons, each printing its ratios and their median and range (the goal:
at most 1.05):

- **Whole fits**, ``--epochs`` epochs (3) without and with
  ``Checkpoint(every=1)``, in turns round after round (the first rotating).
  A fit of E epochs writes E + 2 checkpoints (its start, every epoch, its
  end): 5 for 3 epochs, where the recipe's 60 epochs write 62, so the
  shortened fit overstates the cost.
- **Epochs in turns**, one fit of ``2 * --pairs + 2`` epochs with
  ``Checkpoint(every=2)``: each even epoch, timed with its checkpoint, beside
  the odd epoch after it, timed without (the first epoch, which warms up, and
  the last, which also writes the fit's end, are left out). Neighbouring
  epochs share the machine's load, which whole fits a minute apart do not.

It also times the writes themselves (the estimator's copy, the digests,
serialization and the atomic write with its fsync) and prints their seconds
per write and as a share of an epoch, what a checkpoint of the recipe weighs
in bytes in each format, and whether the fits with and without checkpoints
ended with the same weights.

Run::

    nice python benchmarks/bench_checkpoint.py [--rounds 4] [--epochs 3] [--pairs 4]
        [--format skops] [--quick]

The checkpoints are written to a temporary directory under the current one
(``--dir`` to choose): a real disk, where fsync costs what it costs users.
"""

import argparse
import os
import statistics
import tempfile
import time
import warnings

import numpy as np
from _common import (
    load_average,
    load_mnist_split,
    machine_line,
    mnist_recipe,
    pair_ratios,
    rotated,
    table,
)
from sklearn.exceptions import ConvergenceWarning

from skcnn._training import checkpoint as _checkpoint
from skcnn.callbacks import Checkpoint

N_TRAIN = 8000


def time_writes():
    """Patch the checkpoint writer to add the seconds of every write to the
    returned list (the whole write: copy, digests, dumps, atomic write)."""
    seconds = []
    original = _checkpoint.CheckpointWriter._write

    def timed_write(self, *args):
        started = time.perf_counter()
        original(self, *args)
        seconds.append(time.perf_counter() - started)

    _checkpoint.CheckpointWriter._write = timed_write
    return seconds


class EpochClock:
    """A callback that notes the time at which every epoch begins, and the
    fit's end: an epoch's time then includes the hooks at its end (the
    checkpoint written there, by a Checkpoint set before the clock)."""

    def __init__(self):
        self.times = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, X=None):
        if context.task_name == "epoch":
            self.times.append(time.perf_counter())

    def on_fit_task_end(self, estimator, context, *, X=None):
        if context.task_name == "fit":
            self.times.append(time.perf_counter())
        return False


def fit(X, y, epochs, *callbacks):
    """Seconds of one fit of the shortened recipe, and the model."""
    est = mnist_recipe(random_state=0, max_iter=epochs, verbose=False)
    if callbacks:
        est.set_callbacks(*callbacks)
    started = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - started, est


def spread(ratios):
    return (f"median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-"
            f"{max(ratios):.3f} over {len(ratios)} pairs (goal: at most 1.05)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="pairs of whole fits")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of a whole fit")
    parser.add_argument("--pairs", type=int, default=4, help="pairs of epochs in turns")
    parser.add_argument("--format", choices=("skops", "pickle"), default="skops")
    parser.add_argument("--dir", default=".", help="where the temporary directory goes")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 1 epoch on 1,000 images: a smoke run")
    args = parser.parse_args(argv)
    n_train = 1000 if args.quick else N_TRAIN
    if args.quick:
        args.rounds, args.epochs, args.pairs = 1, 1, 1
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y, _, _ = load_mnist_split(n_train, 1)
    print(f"{machine_line()}\n", flush=True)
    fit(X[:256], y[:256], 1)  # warm up: imports, the fork server, worker processes
    writes = time_writes()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_checkpoint.") as directory:
        path = os.path.join(directory, f"run.{args.format}")
        times = {"without": [], "with": []}
        models = {}
        rows = []
        for round_ in range(args.rounds):
            for name in rotated(times, round_):
                checkpoint = [Checkpoint(path, every=1, format=args.format)]
                seconds, models[name] = fit(X, y, args.epochs, *(checkpoint if name == "with" else []))
                times[name].append(seconds)
            ratio = times["with"][-1] / times["without"][-1]
            rows.append((round_ + 1, f"{times['without'][-1]:.1f}", f"{times['with'][-1]:.1f}",
                         f"{ratio:.3f}", load_average()))
            print(table(("round", "fit without (s)", "fit with (s)", "with / without", "load"),
                        rows[-1:]).splitlines()[-1], flush=True)
        fit_writes = list(writes)  # the whole fits' writes
        clock = EpochClock()
        fit(X, y, 2 * args.pairs + 2, Checkpoint(path, every=2, format=args.format), clock)
        epoch_times = np.diff(clock.times)  # of epochs 1, 2, ...
        with_write = epoch_times[1 : 2 * args.pairs : 2]  # epochs 2, 4, ..., 2 * pairs
        without = epoch_times[2 : 2 * args.pairs + 1 : 2]  # epochs 3, 5, ..., 2 * pairs + 1
        epoch_ratios = list(with_write / without)
        same = all(np.array_equal(a, b)
                   for a, b in zip(models["with"].coefs_, models["without"].coefs_))
        sizes = {}
        for format in ("skops", "pickle"):  # one more epoch of the model, in each format
            other = os.path.join(directory, f"size.{format}")
            models["with"].set_callbacks(Checkpoint(other, format=format))
            models["with"].set_params(max_iter=1, warm_start=True).fit(X, y)
            sizes[format] = os.path.getsize(other)
    ratios = pair_ratios(times["with"], times["without"])
    per_write = statistics.median(fit_writes)
    per_epoch = statistics.median(without)
    params = sum(p.size for p in models["without"]._network.params)
    print()
    print(table(("round", "fit without (s)", "fit with (s)", "with / without", "load"), rows))
    print()
    print(table(("epochs", "with its checkpoint (s)", "without (s)", "with / without"),
                [(f"{2 * k + 2}, {2 * k + 3}", f"{a:.2f}", f"{b:.2f}", f"{a / b:.3f}")
                 for k, (a, b) in enumerate(zip(with_write, without))]))
    print()
    print(f"{n_train:,} images, format={args.format!r}")
    print(f"whole fits of {args.epochs} epochs, with / without: {spread(ratios)}")
    print(f"epochs in turns, with / without: {spread(epoch_ratios)}")
    print(f"one write: median {per_write * 1e3:.0f} ms (range {min(fit_writes) * 1e3:.0f}-"
          f"{max(fit_writes) * 1e3:.0f} ms over {len(fit_writes)}), {per_write / per_epoch:.2%} "
          f"of an epoch ({per_epoch:.1f} s without); the recipe's 60 epochs write 62: "
          f"{62 * per_write / (60 * per_epoch):.2%} of its fit")
    print(f"checkpoint of the recipe ({params:,} parameters, float32): "
          f"skops {sizes['skops']:,} bytes, pickle {sizes['pickle']:,} bytes")
    print(f"same weights with and without checkpoints: {'yes' if same else '**no**'}")


if __name__ == "__main__":
    main()
