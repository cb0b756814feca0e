"""NumpyCNNClassifier on a Dask cluster: joblib's dask backend and dask-ml.

Every test here runs against a real ``distributed.LocalCluster`` of two worker
processes on 127.0.0.1. "The work ran on the workers" is checked with the
scheduler's task stream (``distributed.get_task_stream``): the scheduler
records every task a worker finished, with that worker's address, so the
fits and partial_fits must appear there, as many as were asked for, each on
one of the cluster's workers. Work done in this process never shows up there.
"""

import importlib.util
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="needs the 'dask' extra: pip install '.[dask]'")
pytest.importorskip("dask_ml", reason="needs the 'dask' extra: pip install '.[dask]'")

import cloudpickle  # noqa: E402  (a dependency of distributed)
import dask  # noqa: E402
import dask.array as da  # noqa: E402
import joblib  # noqa: E402
from dask_ml.wrappers import Incremental  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from numpy.testing import assert_array_equal  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor  # noqa: E402
from tests.support.pictures import MIN_ACCURACY, assert_picture, printed_accuracies  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dask_cluster.py"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A Client of two single-threaded worker processes on the loopback."""
    with (
        dask.config.set({"temporary-directory": str(tmp_path_factory.mktemp("dask"))}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


def _load_example():
    """The example script as a module (its main() only runs as a script)."""
    spec = importlib.util.spec_from_file_location("dask_cluster_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ``{worker address: calls of name}`` from the tasks the workers finished; the
# example prints the same counts, so both use this one reading of the task keys.
calls_per_worker = _load_example().calls_per_worker


def small_cnn(**params):
    """A network that trains on the digits in a fraction of a second."""
    params = {"filters": (8,), "hidden_layer_sizes": (), "batch_size": 32, **params}
    return NumpyCNNClassifier(random_state=0, **params)


def test_grid_search_fits_on_workers(client, digits_split):
    X_train, X_test, y_train, y_test = digits_split
    search = GridSearchCV(
        small_cnn(max_iter=10), {"learning_rate_init": [1e-3, 1e-2]}, cv=3
    )
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        search.fit(X_train, y_train)

    fits = calls_per_worker(tasks, "_fit_and_score")
    assert sum(fits.values()) == 2 * 3  # every candidate x split, none elsewhere
    assert set(fits) <= set(client.scheduler_info()["workers"])
    assert search.best_params_ == {"learning_rate_init": 1e-2}
    assert search.best_score_ >= 0.9
    assert search.score(X_test, y_test) >= 0.95


def test_incremental_streams_chunks_on_workers(client, digits_split):
    X_train, X_test, y_train, y_test = digits_split
    X = da.from_array(X_train, chunks=(150, -1))
    y = da.from_array(y_train, chunks=150)
    n_blocks, n_passes = X.numblocks[0], 8
    model = Incremental(
        small_cnn(filters=(16,), batch_size=16, learning_rate_init=3e-3),
        scoring="accuracy",
        random_state=np.random.RandomState(0),  # a new block order every pass
    )
    with get_task_stream(client) as tasks:
        for _ in range(n_passes):
            model.partial_fit(X, y, classes=np.arange(10))

    partial_fits = calls_per_worker(tasks, "fit")
    assert sum(partial_fits.values()) == n_passes * n_blocks
    assert set(partial_fits) <= set(client.scheduler_info()["workers"])
    # The model that came back saw every chunk of every pass, one epoch each.
    assert len(model.estimator_.loss_curve_) == n_passes * n_blocks
    assert model.estimator_.t_ == n_passes * len(X_train)

    X_test = da.from_array(X_test, chunks=(150, -1))
    y_test = da.from_array(y_test, chunks=150)
    assert isinstance(model.predict(X_test), da.Array)
    score = model.score(X_test, y_test)
    assert score >= 0.95, f"accuracy {score:.3f} after {n_passes} passes"


@pytest.mark.parametrize("module", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_estimator_pickles_and_trains_on(module, digits_split):
    """What Dask ships between processes: the estimator before and after fit.

    A copy must predict the same, and keep training exactly as the original:
    weights, optimizer state and random state travel together, and ``coefs_``
    stay the arrays that the copy trains.
    """
    X_train, X_test, y_train, _ = digits_split
    classes = np.arange(10)
    clf = small_cnn(hidden_layer_sizes=(16,))

    copy = module.loads(module.dumps(clf))
    assert copy.get_params() == clf.get_params()
    clf.partial_fit(X_train, y_train, classes=classes)
    copy.partial_fit(X_train, y_train, classes=classes)
    assert_array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))

    copy = module.loads(module.dumps(clf))
    assert_array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))
    clf.partial_fit(X_train, y_train)
    copy.partial_fit(X_train, y_train)
    assert_array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))
    for ours, theirs in zip(clf.coefs_ + clf.intercepts_, copy.coefs_ + copy.intercepts_):
        assert_array_equal(ours, theirs)
    assert len(copy.loss_curve_) == len(clf.loss_curve_) == 2


def test_example_runs_quick(tmp_path):
    """examples/dask_cluster.py --quick, as a user runs it (its own cluster)."""
    pytest.importorskip("matplotlib", reason="the example draws its scores with matplotlib")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--quick", "--output-dir", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "ConvergenceWarning" not in result.stderr
    assert "Fits run by each worker: {'tcp://127.0.0.1:" in result.stdout
    accuracies = printed_accuracies(result.stdout)
    assert accuracies["Best cross-validation accuracy"] >= MIN_ACCURACY, result.stdout
    assert accuracies["Test accuracy of the refitted best model"] >= MIN_ACCURACY, result.stdout
    passes = re.findall(r"Pass \d+: test accuracy (\d\.\d+)", result.stdout)
    assert len(passes) == 3
    assert float(passes[-1]) >= 0.9
    assert_picture(tmp_path / "out" / "dask_cluster_scores.png", result.stdout)


def test_incremental_regressor_streams_chunks_on_workers(client, digits_split):
    """NumpyCNNRegressor under Incremental: float targets, chunk by chunk."""
    X_train, X_test, _, _ = digits_split
    # A real target: the ink in the left half of each digit.
    target = lambda X: X.reshape(-1, 8, 8)[:, :, :4].sum(axis=(1, 2))  # noqa: E731
    X = da.from_array(X_train, chunks=(150, -1))
    y = da.from_array(target(X_train), chunks=150)
    model = Incremental(
        NumpyCNNRegressor(filters=(8,), hidden_layer_sizes=(16,), dropout=0.0,
                          learning_rate_init=1e-2, random_state=0),
    )
    for _ in range(6):
        model.partial_fit(X, y)
    assert len(model.estimator_.loss_curve_) == 6 * X.numblocks[0]
    prediction = model.predict(da.from_array(X_test, chunks=(150, -1)))
    assert isinstance(prediction, da.Array) and prediction.shape == (len(X_test),)
    # R^2 here: scikit-learn's r2_score cannot index dask arrays of unknown chunk sizes.
    score = r2_score(target(X_test), prediction.compute())
    assert score >= 0.8, f"R^2 {score:.3f} after 6 passes"


def _fit_with_parallel_training(X, y):
    """Fit as a large network would: shards side by side, worker processes allowed."""
    from skcnn._training import parallel as _parallel, processes as _processes

    with _parallel.parallel_policy(min_flops_per_sample=0, min_steps_for_processes=0):
        clf = NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=2, random_state=0, n_jobs=2)
        return clf.fit(X, y), _processes.processes_available()


def test_parallel_training_inside_a_worker_falls_back_to_threads(client, digits_split):
    """Dask's worker processes are daemonic: no worker processes of our own
    there, the shards run on threads, and the model is the one trained here."""
    X_train, _, y_train, _ = digits_split
    remote, available = client.submit(_fit_with_parallel_training, X_train, y_train).result()
    assert available is False
    local = NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=2, random_state=0)
    local.fit(X_train, y_train)
    for a, b in zip(local.coefs_ + local.intercepts_, remote.coefs_ + remote.intercepts_):
        assert_array_equal(a, b)
