"""The same random_state gives bit-identical models wherever fit runs."""

import threading

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from skcnn import NumpyCNNClassifier
from skcnn._training.blas import blas_threads, one_thread_blas
from skcnn.datasets import load_mnist


@pytest.fixture(scope="module")
def mnist():
    # Large enough that BLAS would split the GEMMs over threads, and that
    # training shards run side by side.
    X, y = load_mnist(return_X_y=True)
    return X[1000:1400].reshape(400, -1).astype(np.float32) / 255, y[1000:1400]


def make_model():
    return NumpyCNNClassifier(max_iter=2, random_state=3)


def assert_same_model(a, b):
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_


def fit_in_threads(X, y, n):
    """Fit ``n`` models at once, each in its own new thread."""
    models = [make_model() for _ in range(n)]
    start = threading.Barrier(n)
    errors = []

    def fit(model):
        try:
            start.wait()
            model.fit(X, y)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=fit, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    return models


def test_fits_in_other_threads_equal_the_main_thread_fit(mnist):
    X, y = mnist
    # The main thread limits BLAS first, as an earlier fit would.
    with threadpool_limits(1, user_api="blas"):
        pass
    reference = make_model().fit(X, y)
    (alone,) = fit_in_threads(X, y, 1)
    assert_same_model(reference, alone)
    for model in fit_in_threads(X, y, 2):
        assert_same_model(reference, model)


def test_fits_in_joblib_threads_and_processes_equal_the_main_thread_fit(mnist):
    X, y = mnist
    reference = make_model().fit(X, y)
    for backend in ("threading", "loky"):
        models = joblib.Parallel(n_jobs=2, backend=backend)(
            joblib.delayed(clone(make_model()).fit)(X, y) for _ in range(2)
        )
        for model in models:
            assert_same_model(reference, model)


def test_n_jobs_does_not_change_the_model(mnist):
    X, y = mnist
    reference = make_model().fit(X, y)
    assert_same_model(reference, make_model().set_params(n_jobs=1).fit(X, y))


def test_the_blas_limit_holds_in_any_thread_and_is_restored():
    before = blas_threads()
    with threadpool_limits(1, user_api="blas"):  # the main thread takes control
        pass
    seen = {}

    def limited():
        with one_thread_blas:
            seen["inside"] = blas_threads()
        seen["after"] = blas_threads()

    thread = threading.Thread(target=limited)
    thread.start()
    thread.join()
    assert seen == {"inside": 1, "after": before}


def test_blas_libraries_are_rescanned_after_an_import(monkeypatch):
    import sys
    import types

    from skcnn._training import blas as _blas

    scans = []
    real = _blas.ThreadpoolController

    def counting():
        scans.append(1)
        return real()

    monkeypatch.setattr(_blas, "ThreadpoolController", counting)
    monkeypatch.setattr(_blas, "_found", (None, []))
    first = _blas._blas_controllers()
    assert first and _blas._blas_controllers() is first and len(scans) == 1  # kept
    monkeypatch.setitem(sys.modules, "skcnn_test_new_module", types.ModuleType("x"))
    again = _blas._blas_controllers()
    assert [c.filepath for c in again] == [c.filepath for c in first] and len(scans) == 2
