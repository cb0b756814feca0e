"""Data-parallel training: shards on threads give the batch's exact gradients."""

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import skcnn
from skcnn import NumpyCNNClassifier
from skcnn._training import parallel as _parallel, processes as _processes
from skcnn._loss import SoftmaxCrossEntropy
from skcnn._architecture import build_cnn_layers
from skcnn._network import Sequential
from skcnn.optimizers import SGD, Adam


needs_processes = pytest.mark.skipif(
    not _processes.processes_available(),
    reason="worker processes need the forkserver start method (Linux, macOS)",
)


def network(dtype=np.float64, seed=0):
    layers = [layer for _, layer in build_cnn_layers((1, 8, 8), 10, (4, 6), (3, 3), (2, 2), "same", (8,), "relu")]
    net = Sequential(layers, reuse_buffers=True)
    net.build((1, 8, 8), np.random.RandomState(seed), dtype)
    return net


@pytest.mark.parametrize(
    "batch_len, shards",
    [(1, 1), (47, 1), (48, 2), (62, 2), (79, 2), (80, 3), (200, 6), (10_000, 8)],
)
def test_shards_depend_on_the_batch_length_only(batch_len, shards):
    assert _parallel.n_shards(batch_len) == shards


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threads", [1, 3])
def test_sharded_gradients_equal_the_whole_batch_gradients(weighted, threads, threads_only):
    rng = np.random.RandomState(1)
    X = rng.rand(130, 1, 8, 8)  # 4 shards
    y = rng.randint(0, 10, size=130)
    w = rng.rand(130) if weighted else None
    weight_sum = 130.0 if w is None else float(w.sum())

    whole = network()
    loss_fn = SoftmaxCrossEntropy()
    expected_loss, dlogits = loss_fn(whole.forward(X, training=True), y, w)
    whole.backward(dlogits)

    sharded = network()
    with _parallel.ShardedStep(sharded, loss_fn, 130, n_jobs=threads) as step:
        assert step.n_threads == min(threads, 4)
        loss = step(X, y, w, weight_sum)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for got, want in zip(sharded.grads, whole.grads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_threads_only_for_networks_whose_samples_cost_enough():
    small = network()  # 8 x 8 images, 4 and 6 filters, 8 hidden units
    assert _parallel.forward_flops(small) == 2 * (
        8 * 8 * 9 * 1 * 4 + 4 * 4 * 9 * 4 * 6 + 2 * 2 * 6 * 8 + 8 * 10
    )
    assert _parallel.ShardedStep(small, SoftmaxCrossEntropy(), 64, n_jobs=2).n_threads == 1
    layers = [layer for _, layer in build_cnn_layers((1, 28, 28), 10, (32, 64), (3, 3), (2, 2), "same", (128,), "relu")]
    net_b = Sequential(layers)
    net_b.build((1, 28, 28), np.random.RandomState(0), np.float32)
    assert _parallel.forward_flops(net_b) == 2 * (
        28 * 28 * 9 * 32 + 14 * 14 * 288 * 64 + 7 * 7 * 64 * 128 + 128 * 10
    )
    assert _parallel.ShardedStep(net_b, SoftmaxCrossEntropy(), 64, n_jobs=2).n_threads == 2
    assert _parallel.ShardedStep(net_b, SoftmaxCrossEntropy(), 40, n_jobs=2).n_threads == 1  # 1 shard


def test_replicas_share_parameters_and_own_their_gradients():
    net = network()
    twin = net.replica()
    for p, q in zip(net.params, twin.params):
        assert p is q
    for g, h in zip(net.grads, twin.grads):
        assert g is not h and g.shape == h.shape
    assert all(layer.reuse_buffers for layer in twin.layers)


@pytest.mark.parametrize("processes", [False, pytest.param(True, marks=needs_processes)])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_the_model_is_the_same_on_one_thread_or_several(
    digits, parallel_training, worker_starts, processes, dropout
):
    X, y = digits
    params = dict(filters=(4,), hidden_layer_sizes=(8,), batch_size=128, max_iter=3,
                  random_state=0, dropout=dropout)
    parallel_training(processes)
    fits = {}
    for threads in (1, 2, 3):
        fits[threads] = NumpyCNNClassifier(**params, n_jobs=threads).fit(X, y)
    # 128 samples make 4 shards: 1 and 2 other workers besides the caller.
    assert worker_starts == ([1, 2] if processes else [])
    for threads in (2, 3):
        for a, b in zip(fits[1].coefs_ + fits[1].intercepts_,
                        fits[threads].coefs_ + fits[threads].intercepts_):
            np.testing.assert_array_equal(a, b)
        assert fits[threads].loss_curve_ == fits[1].loss_curve_


def test_training_uses_worker_threads_and_restores_blas_limits(digits, threads_only, monkeypatch):
    X, y = digits
    seen = set()
    original = _parallel.ShardedStep._run

    def spy(self, *args):
        seen.add(threading.current_thread().name)
        return original(self, *args)

    monkeypatch.setattr(_parallel.ShardedStep, "_run", spy)
    before = [lib["num_threads"] for lib in threadpool_info()]
    NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=1, n_jobs=2).fit(X, y)
    assert [lib["num_threads"] for lib in threadpool_info()] == before
    assert threading.current_thread().name in seen
    assert any(name.startswith("skcnn") for name in seen)


def test_an_error_in_a_worker_thread_restores_the_model(digits, parallel_training, monkeypatch):
    X, y = digits
    clf = NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=2, random_state=0, n_jobs=2)
    clf.fit(X, y)
    before = [p.copy() for p in clf.coefs_ + clf.intercepts_]
    limits_before = [lib["num_threads"] for lib in threadpool_info()]
    parallel_training()
    original = _parallel.ShardedStep._run
    calls = {"n": 0}

    def failing(self, *args):
        if threading.current_thread() is not threading.main_thread():
            calls["n"] += 1
            if calls["n"] == 5:
                raise MemoryError("simulated failure in a worker")
        return original(self, *args)

    monkeypatch.setattr(_parallel.ShardedStep, "_run", failing)
    with pytest.raises(MemoryError, match="worker"):
        clf.partial_fit(X, y)
    for p, saved in zip(clf.coefs_ + clf.intercepts_, before):
        np.testing.assert_array_equal(p, saved)
    assert [lib["num_threads"] for lib in threadpool_info()] == limits_before


def test_concurrent_fits_in_threads_leave_the_blas_threads_as_they_were(digits, threads_only):
    """The first fit in limits BLAS, the last one out restores it."""
    X, y = digits
    before = [lib["num_threads"] for lib in threadpool_info()]
    started = threading.Barrier(3)
    errors = []

    def fit(max_iter):
        try:
            started.wait()
            NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=max_iter, n_jobs=2).fit(X, y)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=fit, args=(n,)) for n in (1, 4, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [lib["num_threads"] for lib in threadpool_info()] == before


def test_overlapping_training_calls_restore_blas_threads_only_when_the_last_ends(threads_only):
    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    first, second = (
        _parallel.ShardedStep(network(), SoftmaxCrossEntropy(), 64, n_jobs=2) for _ in range(2)
    )
    # Not nested: the first to start ends first, as fits on two threads may.
    first.__enter__()
    second.__enter__()
    assert set(blas_threads()) == {1}
    first.__exit__(None, None, None)
    assert set(blas_threads()) == {1}  # the second is still training
    second.__exit__(None, None, None)
    assert blas_threads() == before


# ---------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------


def live_workers():
    return [p for p in multiprocessing.active_children() if p.name.startswith("skcnn-worker")]


@pytest.fixture(autouse=True)
def no_workers_but_the_kept_ones():
    """A call's worker processes stop when it ends, unless they are kept for
    the next call: none before a test, and none once the kept ones stop."""
    assert not live_workers()
    yield
    _processes.stop_kept_workers()
    assert not live_workers()


def wait_until(condition, seconds=30.0):
    """Whether ``condition()`` becomes true within ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@needs_processes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_sharded_gradients_on_processes_equal_those_on_threads(weighted, dtype, parallel_training):
    rng = np.random.RandomState(1)
    X = rng.rand(130, 1, 8, 8).astype(dtype)  # 4 shards: the caller runs 0 and 2, a worker 1, 3
    y = rng.randint(0, 10, size=130)
    w = rng.rand(130).astype(dtype) if weighted else None
    weight_sum = 130.0 if w is None else float(w.sum())
    results = []
    for processes in (False, True):
        parallel_training(processes)
        net = network(dtype)
        with _parallel.ShardedStep(net, SoftmaxCrossEntropy(), 130, n_steps=1, n_jobs=2) as step:
            assert (step._processes is not None) == processes
            loss = step(X, y, w, weight_sum)
            loss_small = step(X[:50], y[:50], None if w is None else w[:50], 50.0)  # 2 shards
        results.append((loss, loss_small, [g.copy() for g in net.grads]))
        # 80 samples make 3 shards of 27, but 79 make 2 of 40: room for those too.
        with _parallel.ShardedStep(net, SoftmaxCrossEntropy(), 80, n_steps=1, n_jobs=2) as step:
            assert (step._processes is not None) == processes
            results[-1] += (step(X[:79], y[:79], None if w is None else w[:79], 79.0),)
    assert results[0][:2] == results[1][:2] and results[0][3] == results[1][3]
    for a, b in zip(results[0][2], results[1][2]):
        np.testing.assert_array_equal(a, b)


def record_workers_per_batch(monkeypatch):
    """The list that gets the pids of the workers of each batch sent to workers."""
    seen = []
    original = _processes.ShardProcesses.submit

    def submit(self, *args):
        seen.append(tuple(process.pid for process, _, _ in self.workers))
        return original(self, *args)

    monkeypatch.setattr(_processes.ShardProcesses, "submit", submit)
    return seen


@needs_processes
def test_workers_wait_for_the_next_call_until_their_idle_timeout(
    digits, parallel_training, monkeypatch
):
    X, y = digits
    # Two threads' worth of shards, worker processes for calls of >= 100 batches.
    parallel_training(processes=True, min_steps_for_processes=100, worker_idle_timeout=600)
    seen = record_workers_per_batch(monkeypatch)
    params = dict(filters=(4,), batch_size=64, random_state=0, n_jobs=2)
    clf = NumpyCNNClassifier(**params)
    clf.partial_fit(X, y, classes=np.arange(10))  # 29 batches: threads, no workers
    assert not seen and not live_workers()
    clf.set_params(max_iter=4, warm_start=True).fit(X, y)  # 116 batches: starts one
    first = seen[-1]
    assert len(set(seen)) == 1 and len(first) == 1
    assert [p.pid for p in live_workers()] == list(first)  # kept after the call
    clf.partial_fit(X, y)  # 29 batches: would run on threads, takes the kept worker
    assert seen[-1] == first
    # Another structure gets new workers; the kept ones stop first.
    NumpyCNNClassifier(max_iter=4, filters=(3,), batch_size=64, n_jobs=2).fit(X, y)
    other = seen[-1]
    assert other != first and [p.pid for p in live_workers()] == list(other)
    # Unused, kept workers stop by themselves after the idle timeout.
    parallel_training(processes=True, worker_idle_timeout=0.2)
    clf.partial_fit(X, y)  # a new set (the kept one has another structure), kept 0.2 s
    assert seen[-1] not in (first, other)
    assert wait_until(lambda: not live_workers())
    # The same model as on the calling thread alone.
    again = NumpyCNNClassifier(**{**params, "n_jobs": 1})
    again.partial_fit(X, y, classes=np.arange(10))
    again.set_params(max_iter=4, warm_start=True).fit(X, y)
    again.partial_fit(X, y)
    again.partial_fit(X, y)
    for a, b in zip(clf.coefs_, again.coefs_):
        np.testing.assert_array_equal(a, b)


@needs_processes
def test_reuse_workers_keeps_them_until_the_block_ends(digits, parallel_training, monkeypatch):
    X, y = digits
    parallel_training(processes=True, min_steps_for_processes=100, worker_idle_timeout=0.2)
    seen = record_workers_per_batch(monkeypatch)
    params = dict(filters=(4,), batch_size=64, random_state=0, n_jobs=2)
    with skcnn.reuse_workers():
        clf = NumpyCNNClassifier(max_iter=4, **params).fit(X, y)  # 116 batches: starts one
        first = seen[-1]
        time.sleep(0.6)  # three idle timeouts: the block keeps them
        assert [p.pid for p in live_workers()] == list(first)
        clf.partial_fit(X, y)  # 29 batches: would run on threads, takes the kept worker
        assert seen[-1] == first
    assert not live_workers()  # stopped when the block ended
    # Workers kept from before a block are the block's: they stop when it ends.
    parallel_training(processes=True, min_steps_for_processes=100, worker_idle_timeout=600)
    NumpyCNNClassifier(max_iter=4, **params).fit(X, y)
    assert live_workers()
    with skcnn.reuse_workers():
        time.sleep(0.1)
    assert not live_workers()


@needs_processes
def test_failed_calls_and_no_idle_timeout_keep_no_workers(digits, parallel_training, monkeypatch):
    X, y = digits
    parallel_training(processes=True, worker_idle_timeout=0)
    NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=1, n_jobs=2).fit(X, y)
    assert not live_workers()  # stopped when the call ended
    parallel_training(processes=True, worker_idle_timeout=600)
    clf = NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=1, n_jobs=2).fit(X, y)
    assert live_workers()

    def failing(self, *args):
        raise MemoryError("simulated")

    monkeypatch.setattr(NumpyCNNClassifier, "_train_step", failing)
    with pytest.raises(MemoryError):
        clf.partial_fit(X, y)  # took the kept workers, and stopped them
    assert not live_workers()


@needs_processes
def test_workers_that_cannot_start_leave_the_shards_to_threads(digits, parallel_training, monkeypatch):
    X, y = digits
    params = dict(filters=(4,), batch_size=128, max_iter=2, random_state=0)
    expected = NumpyCNNClassifier(**params, n_jobs=1).fit(X, y)

    def cannot_start(*args):
        raise OSError("no shared memory here")

    parallel_training(processes=True)
    monkeypatch.setattr(_processes, "ShardProcesses", cannot_start)
    ran_on = set()
    original = _parallel.ShardedStep._run

    def spy(self, *args):
        ran_on.add(threading.current_thread().name.split("_")[0])
        return original(self, *args)

    monkeypatch.setattr(_parallel.ShardedStep, "_run", spy)
    got = NumpyCNNClassifier(**params, n_jobs=2).fit(X, y)
    # The other shards ran on a thread of ours, not on a worker process.
    assert ran_on == {"MainThread", "skcnn"}
    for a, b in zip(expected.coefs_, got.coefs_):
        np.testing.assert_array_equal(a, b)


def _break_submit(monkeypatch, on_call, sabotage):
    original = _processes.ShardProcesses.submit
    calls = {"n": 0}

    def submit(self, jobs, weight_sum, entropy):
        calls["n"] += 1
        if calls["n"] == on_call:
            return sabotage(self, jobs, weight_sum, entropy, original)
        return original(self, jobs, weight_sum, entropy)

    monkeypatch.setattr(_processes.ShardProcesses, "submit", submit)


@needs_processes
@pytest.mark.parametrize("failure", ["error", "death"])
def test_a_failing_worker_raises_and_restores_the_model(
    digits, worker_processes, quick_worker_checks, monkeypatch, failure
):
    X, y = digits
    clf = NumpyCNNClassifier(filters=(4,), batch_size=64, max_iter=2, random_state=0, n_jobs=1)
    clf.fit(X, y)
    before = [p.copy() for p in clf.coefs_ + clf.intercepts_]
    limits_before = [lib["num_threads"] for lib in threadpool_info()]

    def sabotage(self, jobs, weight_sum, entropy, original):
        process, conn, _ = self.workers[0]
        if failure == "error":  # a shard the worker does not hold: a KeyError there
            conn.send(([(99, 1, False)], weight_sum, entropy))
            self._pending = [(process, conn, [99])]
        else:
            process.kill()
            original(self, jobs, weight_sum, entropy)

    _break_submit(monkeypatch, 5, sabotage)
    match = "KeyError" if failure == "error" else "died"
    with pytest.raises(_processes.WorkerError, match=match):
        clf.set_params(n_jobs=2).partial_fit(X, y)
    for p, saved in zip(clf.coefs_ + clf.intercepts_, before):
        np.testing.assert_array_equal(p, saved)
    assert [lib["num_threads"] for lib in threadpool_info()] == limits_before
    assert not live_workers()


SCRIPT_WITHOUT_MAIN_GUARD = """
import multiprocessing
import numpy as np
from skcnn import NumpyCNNClassifier
from skcnn._training import parallel, processes

started = []
_original = processes.ShardProcesses.__init__
def _spy(self, *args):
    _original(self, *args)
    started.append(len(self.workers))
processes.ShardProcesses.__init__ = _spy
rng = np.random.RandomState(0)
clf = NumpyCNNClassifier(filters=(2,), batch_size=64, max_iter=1, n_jobs=2)
with parallel.parallel_policy(min_flops_per_sample=0, min_steps_for_processes=0):
    clf.fit(rng.rand(128, 16), np.arange(128) % 2)
print("trained with workers:", started)
print("kept:", [p.pid for p in multiprocessing.active_children() if p.name.startswith("skcnn-worker")])
"""


def _gone(pid):
    """Whether process ``pid`` has exited (a zombie waiting for its reaper counts)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (macOS)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


@needs_processes
def test_a_script_without_main_guard_trains_once_and_its_workers_end_with_it(tmp_path):
    """Workers do not run the caller's script again (no __main__ guard
    needed), and the workers kept at its end stop when it exits."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT_WITHOUT_MAIN_GUARD)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    trained, kept = result.stdout.splitlines()
    assert trained == "trained with workers: [1]"
    pids = [int(pid) for pid in kept.removeprefix("kept: [").removesuffix("]").split(",")]
    assert len(pids) == 1
    assert wait_until(lambda: all(_gone(pid) for pid in pids))


# ---------------------------------------------------------------------------
# The optimizer step spread over threads in flat pieces
# ---------------------------------------------------------------------------


def test_flat_pieces_are_aligned_views_and_refuse_copies():
    a, b = np.arange(12.0).reshape(3, 4), np.zeros((3, 4))
    pieces = _parallel.flat_pieces([a, b], elements_per_piece=5)
    assert [len(p[0]) for p in pieces] == [4, 4, 4]
    for pa, pb in pieces:
        pb += pa
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="contiguous"):
        _parallel.flat_pieces([a.T, b.T])


@pytest.mark.parametrize(
    "make", [lambda p: SGD(p, 0.1, 0.9, True), lambda p: Adam(p, 0.01)], ids=["sgd", "adam"]
)
def test_an_optimizer_step_spread_over_threads_is_bit_identical(
    make, small_flat_pieces, threads_only, monkeypatch
):
    rng = np.random.RandomState(0)
    whole = network()
    pieced = network()
    opt_whole, opt_pieced = make(whole.params), make(pieced.params)
    cut = []
    original = _parallel.flat_pieces
    monkeypatch.setattr(_parallel, "flat_pieces", lambda arrays: cut.append(1) or original(arrays))
    threads_seen = set()
    with _parallel.ShardedStep(pieced, SoftmaxCrossEntropy(), 64, n_jobs=2) as step:
        assert step.n_threads == 2
        run_pieces = step.map_pieces

        def spy(fn, pieces):
            return run_pieces(lambda piece: threads_seen.add(threading.current_thread().name)
                              or fn(piece), pieces)

        step.map_pieces = spy
        for _ in range(4):  # gradient arrays refilled in place, as in training
            for g, h in zip(whole.grads, pieced.grads):
                g[...] = h[...] = rng.standard_normal(g.shape)
            opt_whole.step(whole.params, whole.grads)
            step.optimizer_step(opt_pieced)
    assert len(threads_seen) == 2
    # Cut once for the arrays of the training call, not at every step.
    assert len(cut) == len(whole.params)
    for a, b in zip(whole.params, pieced.params):
        np.testing.assert_array_equal(a, b)
