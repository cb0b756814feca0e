"""Data shared by the test modules (read-only, so that no test can change it for
another), and the fixtures that set the training engine's choices."""

import contextlib

import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcnn._training import parallel as _parallel, processes as _processes


def _read_only(*arrays):
    for array in arrays:
        array.setflags(write=False)
    return arrays


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 1,797 digits of 8 x 8 pixels scaled to [0, 1]: ``(X, y)``."""
    X, y = load_digits(return_X_y=True)
    return _read_only(X / 16, y)


@pytest.fixture(scope="session")
def digits_split(digits):
    """``digits`` split 3:1, stratified: ``X_train, X_test, y_train, y_test``."""
    X, y = digits
    return _read_only(*train_test_split(X, y, test_size=0.25, random_state=0, stratify=y))


@pytest.fixture(scope="session")
def few_digits(digits):
    """The first 300 of ``digits``: ``(X, y)``, for tests that only need a fitted model."""
    X, y = digits
    return X[:300], y[:300]


# ---------------------------------------------------------------------------
# The training engine's own choices (skcnn._training.parallel.ParallelPolicy)
#
# Tests change how training places its shards only through these fixtures,
# so that they are the one place that knows the engine's internals. How many
# shards run at once is the estimator's (or ShardedStep's) n_jobs.
# ---------------------------------------------------------------------------


@pytest.fixture
def parallel_training():
    """``parallel_training(processes=False, **policy)``: for the rest of the
    test, the shards of any network, however small, run side by side (up to
    ``n_jobs`` at once): on worker processes from a call's first batch with
    ``processes=True``, else on threads. ``policy`` sets other fields of
    ``ParallelPolicy`` (``worker_idle_timeout=0.2``, ...). Call it again to
    change the setting within the test."""
    with contextlib.ExitStack() as stack:

        def set_up(processes=False, **policy):
            policy = {"min_flops_per_sample": 0, "min_steps_for_processes": 0, **policy}
            return stack.enter_context(
                _parallel.parallel_policy(worker_processes=processes, **policy)
            )

        yield set_up


@pytest.fixture
def threads_only(parallel_training):
    """Shards side by side on threads, however small the network."""
    return parallel_training(processes=False)


@pytest.fixture
def worker_processes(parallel_training):
    """Shards side by side on worker processes from a call's first batch,
    however small the network (skips where processes cannot start)."""
    if not _processes.processes_available():
        pytest.skip("worker processes need the forkserver start method (Linux, macOS)")
    return parallel_training(processes=True)


@pytest.fixture
def worker_starts(monkeypatch):
    """The number of workers of every set of worker processes started in the test."""
    started = []
    original = _processes.ShardProcesses.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(len(self.workers))

    monkeypatch.setattr(_processes.ShardProcesses, "__init__", spy)
    return started


@pytest.fixture
def quick_worker_checks(monkeypatch):
    """Check a waited-for worker's liveness every 0.05 s instead of every second."""
    monkeypatch.setattr(_processes, "POLL_SECONDS", 0.05)


@pytest.fixture
def small_flat_pieces(monkeypatch):
    """Elementwise passes over the parameters cut into pieces of 50 elements
    (many, uneven ones) instead of 2**18."""
    monkeypatch.setattr(_parallel, "ELEMENTS_PER_PIECE", 50)


@pytest.fixture(autouse=True)
def no_workers_kept_between_tests():
    """Each test starts without worker processes kept by an earlier one
    (they would serve its first call); the tests of their lifetime are in
    tests/training/test_parallel.py."""
    yield
    _processes.stop_kept_workers()
