"""
===================================================
Scaling out with Dask: grid search and streaming
===================================================

:class:`~skcnn.NumpyCNNClassifier` is a plain scikit-learn estimator, so the
Dask tools built for scikit-learn work on it unchanged:

1. **Hyperparameter search on a cluster.** Under
   ``joblib.parallel_backend("dask")``, :class:`~sklearn.model_selection.GridSearchCV`
   sends every ``fit`` (one per candidate and CV split) to the cluster's
   workers instead of local processes.
2. **Training on data too large to load at once.**
   :class:`dask_ml.wrappers.Incremental` feeds a chunked dask array to the
   estimator's ``partial_fit``, one chunk at a time, on the workers. Every call
   of ``Incremental.partial_fit`` is one pass over all the chunks.

The "cluster" here is a :class:`distributed.LocalCluster` of two worker
processes bound to 127.0.0.1; with a real cluster only the line that creates
the :class:`~distributed.Client` changes (``Client("tcp://scheduler:8786")``),
and every worker needs skcnn installed (the functions of this script are sent
to them by value).
The data are the 8x8 digits of :func:`sklearn.datasets.load_digits`; for
streaming, each chunk is made of randomly shifted copies of the training
digits, generated on the worker that needs it.

At the end the script draws both results in one PNG, ``dask_cluster_scores.png``:
the cross-validation accuracy of every grid-search candidate, and the test
accuracy after every streaming pass (drawing needs matplotlib).

Run ``python examples/dask_cluster.py`` (about half a minute on two cores) or
add ``--quick`` for a smaller run; ``--output-dir`` says where the PNG goes.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import re
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import dask
import dask.array as da
import joblib
import numpy as np
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster, get_task_stream
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from skcnn import NumpyCNNClassifier

CLASSES = np.arange(10)


# %%
# The data
# --------
# A fixed, stratified split of the digits: the training part is the source of
# every chunk, the test part is never trained on.


def split_digits():
    """Digits scaled to [0, 1] as float32, split into X_train, X_test, y_train, y_test."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def shifted_digits(block, chunk_size, seed=0):
    """Chunk number ``block`` of the streamed training set.

    ``chunk_size`` training digits drawn at random, each shifted by at most one
    pixel in each direction (zero fill). This stands for "read chunk ``block``
    of a big data set from storage": it runs on a worker, when the chunk is
    needed, and the same ``block`` always gives the same chunk.
    """
    X_train, _, y_train, _ = split_digits()
    rng = np.random.default_rng([seed, block])
    pick = rng.integers(len(X_train), size=chunk_size)
    padded = np.pad(X_train[pick].reshape(-1, 8, 8), ((0, 0), (1, 1), (1, 1)))
    # windows[i, dy, dx] is image i shifted by (dy - 1, dx - 1): no loop over images.
    windows = sliding_window_view(padded, (8, 8), axis=(1, 2))
    dy, dx = rng.integers(3, size=(2, chunk_size))
    X = windows[np.arange(chunk_size), dy, dx].reshape(chunk_size, 64)
    return X, y_train[pick]


def lazy_training_set(n_chunks, chunk_size):
    """Dask arrays X of shape (n_chunks * chunk_size, 64) and y, built lazily.

    Nothing is computed here: each chunk is one delayed call of
    ``shifted_digits``, run on a worker when the scheduler gets to it, so the
    full array never exists on the client. A worker keeps the chunks it made
    until the training chain has used them, and Dask makes chunks as fast as
    free worker threads allow, so many can wait in worker memory at once; near
    its memory limit a worker spills them to disk (here, a temporary directory)
    and pauses. That is what lets data bigger than the cluster's memory
    stream through, at the cost of disk traffic.
    """
    chunks = [dask.delayed(shifted_digits, nout=2)(i, chunk_size) for i in range(n_chunks)]
    X = da.concatenate(
        [da.from_delayed(X_chunk, (chunk_size, 64), np.float32) for X_chunk, _ in chunks]
    )
    y = da.concatenate(
        [da.from_delayed(y_chunk, (chunk_size,), np.int64) for _, y_chunk in chunks]
    )
    return X, y


def calls_per_worker(task_stream, name):
    """How many calls of the task ``name`` each worker ran (from a task stream).

    joblib's Dask backend names its tasks ``batch_of_<function>_<n>_calls-...``;
    dask-ml's partial_fit chain names them ``("fit-<token>", i)``.
    """
    counts = Counter()
    for task in task_stream.data:
        key, index = task["key"], None
        if isinstance(key, tuple):  # a chunk's key: (name, index, ...)
            key, index = key[0], key[1]
        batch = re.match(rf"batch_of_{name}_(\d+)_calls", key)
        if batch:
            counts[task["worker"]] += int(batch.group(1))
        elif key.startswith(f"{name}-") and index is not None and index >= 0:
            counts[task["worker"]] += 1
    return dict(counts)


# %%
# 1. Grid search, every fit on the cluster
# ----------------------------------------
# ``GridSearchCV`` runs its fits through joblib; the "dask" backend sends them
# to the workers of the active Client. Only the final refit of the best
# candidate runs in this process. Small networks keep the example fast.


def grid_search(client, quick):
    X_train, X_test, y_train, y_test = split_digits()
    if quick:
        param_grid = {"learning_rate_init": [1e-3, 1e-2]}
        cv, max_iter = 2, 5
    else:
        param_grid = {"filters": [(8,), (16,)], "learning_rate_init": [1e-3, 1e-2]}
        cv, max_iter = 3, 15
    search = GridSearchCV(
        NumpyCNNClassifier(
            filters=(8,), hidden_layer_sizes=(), batch_size=32, max_iter=max_iter,
            random_state=0,
        ),
        param_grid,
        cv=cv,
    )
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        search.fit(X_train, y_train)
    print(f"Best parameters: {search.best_params_}")
    print(f"Best cross-validation accuracy: {search.best_score_:.3f}")
    print(f"Test accuracy of the refitted best model: {search.score(X_test, y_test):.3f}")
    print(f"Fits run by each worker: {calls_per_worker(tasks, '_fit_and_score')}")
    return search


# %%
# 2. Streaming a chunked dask array through partial_fit
# -----------------------------------------------------
# ``Incremental`` calls ``partial_fit`` on one chunk after the other (in a
# shuffled block order), each call a task on a worker; the model goes from
# task to task, pickled whenever the next chunk lives on another worker.
# ``partial_fit`` trains one epoch on the chunk it is given, so one
# ``Incremental.partial_fit`` is one pass over the data. Scoring on a dask
# array predicts chunk by chunk on the workers too.


def stream_training(client, quick):
    n_chunks, chunk_size, n_passes = (10, 500, 3) if quick else (40, 1000, 3)
    X, y = lazy_training_set(n_chunks, chunk_size)
    _, X_test, _, y_test = split_digits()
    X_test, y_test = da.from_array(X_test, chunks=150), da.from_array(y_test, chunks=150)
    print(f"Streaming {X.shape[0]} shifted digits in {n_chunks} chunks of {chunk_size}")

    model = Incremental(
        NumpyCNNClassifier(
            filters=(8,), hidden_layer_sizes=(), batch_size=32, learning_rate_init=0.01,
            random_state=0,
        ),
        scoring="accuracy",
        # A RandomState (not an int) visits the chunks in a new order every pass.
        random_state=np.random.RandomState(0),
    )
    accuracies = []
    with get_task_stream(client) as tasks:
        for n_pass in range(1, n_passes + 1):
            model.partial_fit(X, y, classes=CLASSES)
            accuracies.append(model.score(X_test, y_test))
            print(f"Pass {n_pass}: test accuracy {accuracies[-1]:.3f}")
    print(f"partial_fit calls run by each worker: {calls_per_worker(tasks, 'fit')}")
    return model, accuracies


# %%
# 3. The picture
# --------------
# Left, the mean cross-validation accuracy of every candidate, with its
# standard deviation over the splits (the best one in color); right,
# the streaming model's test accuracy after every pass. matplotlib's Figure is
# used without pyplot: the script saves the PNG and opens no window.


def plot_scores(search, accuracies, path):
    """Save the grid search's scores and the streaming accuracies to ``path``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9.6, 4.0), layout="constrained")
    ax_grid, ax_stream = fig.subplots(1, 2, width_ratios=[3, 2])
    results = search.cv_results_
    labels = [
        "\n".join(f"{name}={value}" for name, value in params.items())
        for params in results["params"]
    ]
    colors = ["C0" if i == search.best_index_ else "0.6" for i in range(len(labels))]
    bars = ax_grid.barh(
        labels, results["mean_test_score"], xerr=results["std_test_score"], color=colors,
        capsize=4,
    )
    ax_grid.bar_label(bars, fmt="%.3f", label_type="center", color="white")
    ax_grid.invert_yaxis()  # the first candidate on top
    ax_grid.set_xlim(0, 1)
    ax_grid.set_xlabel(f"mean cross-validation accuracy ({search.n_splits_} splits)")
    ax_grid.set_title("GridSearchCV, fits on the workers")
    passes = np.arange(1, len(accuracies) + 1)
    ax_stream.plot(passes, accuracies, marker="o")
    for n_pass, accuracy in zip(passes, accuracies):
        ax_stream.annotate(
            f"{accuracy:.3f}", (n_pass, accuracy), textcoords="offset points", xytext=(0, -14),
            ha="center",
        )
    ax_stream.set_xlim(0.5, len(accuracies) + 0.5)
    ax_stream.set_ylim(0, 1)  # the scale of the left panel
    ax_stream.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_stream.set_xlabel("pass over the chunked training set")
    ax_stream.set_ylabel("test accuracy")
    ax_stream.set_title("Incremental partial_fit, streamed")
    for ax in (ax_grid, ax_stream):
        ax.grid(alpha=0.3)
    fig.suptitle("NumpyCNNClassifier on a Dask cluster (digits)")
    fig.savefig(path, dpi=100)
    print(f"Saved {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="smaller, faster run")
    parser.add_argument(
        "--output-dir", type=Path, default=Path(__file__).resolve().parent / "output",
        help="where to save the PNG (default: examples/output/)",
    )
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib  # noqa: F401  (plot_scores needs it: fail now, not after the work)

    # max_iter is kept small on purpose. scikit-learn passes the warning
    # filters of this process on to its joblib tasks, on Dask workers too.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    # Two single-threaded worker processes on the loopback interface, without
    # the web dashboard. The scheduler's and workers' scratch space (where
    # workers spill data) lives in a temporary directory, removed at the end.
    with (
        tempfile.TemporaryDirectory() as scratch,
        dask.config.set({"temporary-directory": scratch}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"Cluster of {len(cluster.workers)} workers at {cluster.scheduler_address}")
        print("\n1. GridSearchCV under joblib.parallel_backend('dask')")
        search = grid_search(client, args.quick)
        print("\n2. Incremental(NumpyCNNClassifier) on a chunked dask array")
        _, accuracies = stream_training(client, args.quick)
    plot_scores(search, accuracies, args.output_dir / "dask_cluster_scores.png")


if __name__ == "__main__":
    main()
