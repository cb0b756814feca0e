"""The cost of checkpointing the MNIST recipe every epoch (issue 24).

Fits the MNIST recipe (``_common.mnist_recipe``: four convolutions, batch
norm, dropout, augmentation, SGD) on the first 8,000 MNIST images, shortened
to ``--epochs`` epochs (3 by default; the recipe's 60 take about 9 minutes),
without and with ``Checkpoint(every=1)``, in turns round after round (the
first rotating), and prints per round the seconds of each fit and their
ratio, then the median ratio and its range. The goal: at most 1.05.

A fit of E epochs writes E + 2 checkpoints (its start, every epoch, its
end): 5 for 3 epochs, where the recipe's 60 epochs write 62, so the
shortened fit overstates the share of time spent writing. The script also
times the writes themselves (the fit's copy, its digests, serialization and
the atomic write with its fsync) and prints their seconds per write and as a
share of an epoch, and what a checkpoint of the recipe weighs in bytes in
each format. It checks that the fits with and without checkpoints end with
the same weights.

Run::

    nice python benchmarks/bench_checkpoint.py [--rounds 4] [--epochs 3] [--format skops] [--quick]

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
from _common import load_average, load_mnist_split, machine_line, mnist_recipe, rotated, table
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


def fit(X, y, epochs, path=None, format="skops"):
    """Seconds of one fit of the shortened recipe, and the model."""
    est = mnist_recipe(random_state=0, max_iter=epochs, verbose=False)
    if path is not None:
        est.set_callbacks(Checkpoint(path, every=1, format=format))
    started = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - started, est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--format", choices=("skops", "pickle"), default="skops")
    parser.add_argument("--dir", default=".", help="where the temporary directory goes")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 1 epoch on 1,000 images: a smoke run")
    args = parser.parse_args(argv)
    n_train = 1000 if args.quick else N_TRAIN
    if args.quick:
        args.rounds, args.epochs = 1, 1
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y, _, _ = load_mnist_split(n_train, 1)
    print(f"{machine_line()}\n", flush=True)
    writes = time_writes()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_checkpoint.") as directory:
        path = os.path.join(directory, f"run.{args.format}")
        times = {"without": [], "with": []}
        models = {}
        rows = []
        for round_ in range(args.rounds):
            for name in rotated(times, round_):
                seconds, models[name] = fit(
                    X, y, args.epochs, path if name == "with" else None, args.format
                )
                times[name].append(seconds)
            ratio = times["with"][-1] / times["without"][-1]
            rows.append((round_ + 1, f"{times['without'][-1]:.1f}", f"{times['with'][-1]:.1f}",
                         f"{ratio:.3f}", load_average()))
            print(table(("round", "fit without (s)", "fit with (s)", "with / without", "load"),
                        rows[-1:]).splitlines()[-1], flush=True)
        same = all(np.array_equal(a, b)
                   for a, b in zip(models["with"].coefs_, models["without"].coefs_))
        sizes = {}
        for format in ("skops", "pickle"):  # one more epoch of the model, in each format
            other = os.path.join(directory, f"size.{format}")
            models["with"].set_callbacks(Checkpoint(other, format=format))
            models["with"].set_params(max_iter=1, warm_start=True).fit(X, y)
            sizes[format] = os.path.getsize(other)
    ratios = [w / wo for w, wo in zip(times["with"], times["without"])]
    writes_per_fit = args.epochs + 2
    fit_writes = writes[: args.rounds * writes_per_fit]  # the timed fits' writes
    per_write = statistics.median(fit_writes)
    per_epoch = statistics.median(times["without"]) / args.epochs
    params = sum(p.size for p in models["without"]._network.params)
    print()
    print(table(("round", "fit without (s)", "fit with (s)", "with / without", "load"), rows))
    print()
    print(f"{args.epochs} epochs of {n_train:,} images, format={args.format!r}, "
          f"{args.rounds} rounds")
    print(f"with / without: median {statistics.median(ratios):.3f}, "
          f"range {min(ratios):.3f}-{max(ratios):.3f} (goal: at most 1.05)")
    print(f"one write: median {per_write * 1e3:.0f} ms (range {min(fit_writes) * 1e3:.0f}-"
          f"{max(fit_writes) * 1e3:.0f} ms), {per_write / per_epoch:.2%} of an epoch "
          f"({per_epoch:.1f} s); the recipe's 60 epochs: 62 writes, "
          f"{62 * per_write / (60 * per_epoch):.2%} of its fit")
    print(f"checkpoint of the recipe ({params:,} parameters, float32): "
          f"skops {sizes['skops']:,} bytes, pickle {sizes['pickle']:,} bytes")
    print(f"same weights with and without checkpoints: {'yes' if same else '**no**'}")


if __name__ == "__main__":
    main()
