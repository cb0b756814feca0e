"""Shards of a training batch on worker processes, free of the GIL.

Threads take turns on the interpreter lock between numpy calls; processes
do not. So where processes can be started cheaply and safely (the
``forkserver`` start method: Linux and macOS), the shards that threads would
run go to worker processes, which compute exactly what a thread would (same
replicas, same numpy code, BLAS on one thread): the bits do not change.

- Each worker holds replicas whose parameters are views of one shared
  array, refreshed by the caller before every batch, and whose gradients
  are views of one shared array per shard.
- The caller writes each worker's shards (images, labels, weights) into
  shared arrays and sends one short message per batch; the worker answers
  with the shards' losses once their gradients are written, or, in a
  network with BatchNorm, with their partial sums at each point where the
  shards meet (``Sequential.training_pass``), and goes on with the totals
  the caller sends back. The running statistics stay with the caller.

Starting workers costs (``benchmarks/RESULTS.md``, "Design measurements"),
so a call keeps them for the next one, as joblib's loky executor does: with
the same network structure (the next ``partial_fit`` of the model, the next
fit of a search) it takes them over, and they stop by themselves after
``idle_timeout`` seconds unused, or at interpreter exit. Inside
``reuse_workers()`` they wait for the next call until the block ends.

Workers ignore Ctrl-C (the caller finishes the batch, see ``interrupt``)
and exit when the caller closes their pipe. An error in a worker is raised
in the caller with the worker's traceback (and the workers are stopped); a
worker that dies raises a ``WorkerError`` instead of hanging.
"""

import atexit
import multiprocessing
import multiprocessing.util  # its exit handler, registered first, runs after ours
import os
import pickle
import signal
import sys
import threading
import traceback
from contextlib import contextmanager

import numpy as np

from .._network import advance

# Seconds to wait for workers to start (the first start in a process also
# starts the fork server and imports numpy and skcnn there).
START_TIMEOUT = 120.0
# While waiting for a worker, check this often that it is still alive.
POLL_SECONDS = 1.0


def processes_available():
    """Whether worker processes can be started with the ``forkserver`` method.

    Not from a daemonic process (Dask's workers, for one), which
    ``multiprocessing`` does not let have children.
    """
    return (
        "forkserver" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def _context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "skcnn._training.processes", "skcnn._network"])
    return ctx


@contextmanager
def _main_module_hidden():
    """Start processes without them importing the caller's ``__main__``.

    ``multiprocessing`` makes a new process run the main script again (what
    the ``if __name__ == "__main__":`` guard is for); a script that trains
    a model at its top level would then train again in every worker. The
    workers need nothing from ``__main__``, so it is not named to them.
    """
    main = vars(sys.modules["__main__"]) if "__main__" in sys.modules else {}
    saved = {key: main[key] for key in ("__file__", "__spec__") if key in main}
    main.pop("__file__", None)
    if "__spec__" in saved:
        main["__spec__"] = None  # read by multiprocessing: it must exist
    try:
        yield
    finally:
        main.update(saved)


def _flat_views(flat, shapes):
    """Consecutive views of the 1-D ``flat`` with the given shapes."""
    views, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[offset : offset + size].reshape(shape))
        offset += size
    return views


def _as_array(raw, dtype, shape):
    return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


class _ShardBuffers:
    """The shared arrays of one shard: its inputs and its gradients."""

    def __init__(self, ctx, shard_len, sample_shape, dtype, n_params, target_layout):
        target_shape, target_dtype = target_layout
        self.shapes = (
            (shard_len, *sample_shape), (shard_len, *target_shape), (shard_len,), (n_params,)
        )
        self.dtypes = tuple(
            np.dtype(d).str for d in (dtype, target_dtype, dtype, dtype)
        )
        self.raw = [
            ctx.RawArray("b", int(np.prod(shape)) * np.dtype(d).itemsize)
            for shape, d in zip(self.shapes, self.dtypes)
        ]

    def arrays(self):
        X, y, w, grads = (
            _as_array(raw, np.dtype(d), shape)
            for raw, d, shape in zip(self.raw, self.dtypes, self.shapes)
        )
        return X, y, w, grads


def _worker_main(conn, payload, param_raw, shard_buffers):
    """A worker's loop: run the shards it is sent until its pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # for the life of the worker
        network, loss, param_shapes, dtype = pickle.loads(payload)
        params = _flat_views(np.frombuffer(param_raw, dtype=dtype), param_shapes)
        replicas = {}
        for index, buffers in shard_buffers.items():
            replica = network if not replicas else network.replica()
            X, y, w, grads = buffers.arrays()
            replica.bind(params, _flat_views(grads, param_shapes))
            replicas[index] = (replica, X, y, w)
        conn.send(("ready", None))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    passes = []
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        try:
            if message[0] == "resume":  # the totals of the point the passes wait at
                totals = message[1]
            else:  # a new batch: start the passes of its shards
                shards, weight_sum, seed = message
                passes = []
                for index, n, weighted in shards:
                    replica, X, y, w = replicas[index]
                    passes.append(replica.training_pass(
                        X[:n], y[:n], w[:n] if weighted else None, weight_sum, loss, seed
                    ))
                totals = None
            conn.send(("ok", advance(passes, totals)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class WorkerError(RuntimeError):
    """An error raised in a training worker process (its traceback included)."""


class ShardProcesses:
    """Worker processes that run the shards a caller gives them.

    Parameters
    ----------
    network : Sequential
        The caller's network: the workers get a copy of its layers, and
        ``sync_params`` copies its parameters to them before every batch.
    loss : callable
        As for ``ShardedStep`` (picklable).
    shard_len : int
        The longest shard.
    assignment : dict of {int: list of int}
        Worker number -> the shard indices it runs.

    Attributes
    ----------
    structure : tuple
        What the workers were built for: kept workers serve a later call
        only if its network has the same.
    """

    def __init__(self, network, loss, shard_len, assignment):
        self.structure = _structure(network, loss, shard_len, assignment)
        ctx = _context()
        params = network.params
        self.dtype = params[0].dtype
        self.param_shapes = [p.shape for p in params]
        n_params = sum(p.size for p in params)
        self._param_raw = ctx.RawArray("b", n_params * self.dtype.itemsize)
        self._params = _flat_views(
            np.frombuffer(self._param_raw, dtype=self.dtype), self.param_shapes
        )
        self.network = network
        self.buffers = {}
        self.arrays = {}
        for shards in assignment.values():
            for index in shards:
                buffers = _ShardBuffers(
                    ctx, shard_len, network.input_shape, self.dtype, n_params,
                    loss.target_layout(self.dtype),
                )
                self.buffers[index] = buffers
                X, y, w, grads = buffers.arrays()
                self.arrays[index] = (X, y, w, _flat_views(grads, self.param_shapes))
        template = network.replica()
        template.clear_cache()
        for layer in template.layers:
            # Only the caller moves (Sequential.meet) and reads (inference) a
            # layer's state (BatchNorm's running statistics): a worker's copy
            # would go stale, and is left out of the payload.
            for name in layer.state_names:
                setattr(layer, name, None)
        payload = pickle.dumps((template, loss, self.param_shapes, self.dtype))
        self.workers = []
        try:
            for number, shards in sorted(assignment.items()):
                parent, child = ctx.Pipe()
                process = ctx.Process(
                    target=_worker_main,
                    args=(child, payload, self._param_raw,
                          {index: self.buffers[index] for index in shards}),
                    name=f"skcnn-worker-{number}",
                    daemon=True,
                )
                with _main_module_hidden():
                    process.start()
                child.close()
                self.workers.append((process, parent, shards))
            for process, conn, _ in self.workers:
                self._receive(process, conn, START_TIMEOUT)
        except BaseException:
            self.close()
            raise
        self._pending = self._running = []

    def sync_params(self):
        """Copy the caller's current parameters to the workers."""
        for shared, param in zip(self._params, self.network.params):
            np.copyto(shared, param)

    def submit(self, jobs, weight_sum, seed):
        """Send every worker its shards ``jobs[index] = (X, y, w)`` of this batch."""
        self._pending = []
        for process, conn, shards in self.workers:
            mine = []
            for index in shards:
                if index not in jobs:
                    continue
                X, y, w = jobs[index]
                X_buf, y_buf, w_buf, _ = self.arrays[index]
                n = X.shape[0]
                np.copyto(X_buf[:n], X, casting="same_kind")
                y_buf[:n] = y
                if w is not None:
                    np.copyto(w_buf[:n], w, casting="same_kind")
                mine.append((index, n, w is not None))
            if mine:
                self._send(process, conn, (mine, weight_sum, seed))
                self._pending.append((process, conn, [index for index, _, _ in mine]))
        self._running = list(self._pending)

    def resume(self, totals):
        """Send the batch's ``totals`` at the meeting point the submitted
        shards wait at (see ``collect``)."""
        for process, conn, _ in self._running:
            self._send(process, conn, ("resume", totals))
        self._pending = list(self._running)

    def collect(self):
        """Wait for the submitted shards to finish or reach a meeting point.

        Returns ``{shard index: (done, value)}``, as ``_network.advance``:
        ``(True, loss)`` or ``(False, meeting point)``.
        """
        results, errors = {}, []
        for process, conn, indices in self._pending:
            try:
                for index, result in zip(indices, self._receive(process, conn)):
                    results[index] = result
            except WorkerError as error:
                errors.append(error)
        self._pending = []
        if errors:
            raise errors[0]
        return results

    def _send(self, process, conn, message):
        try:
            conn.send(message)
        except OSError:
            raise self._died(process) from None

    def grads(self, index):
        """The gradient arrays of shard ``index`` (shared, as the network's ``grads``)."""
        return self.arrays[index][3]

    @staticmethod
    def _died(process):
        process.join(timeout=POLL_SECONDS)
        return WorkerError(
            f"A training worker process ({process.name}) died (exit code "
            f"{process.exitcode})."
        )

    def _receive(self, process, conn, timeout=None):
        waited = 0.0
        try:
            while not conn.poll(POLL_SECONDS):
                waited += POLL_SECONDS
                if not process.is_alive():
                    raise self._died(process)
                if timeout is not None and waited >= timeout:
                    raise WorkerError(
                        f"A training worker process ({process.name}) did not start "
                        f"within {timeout:.0f} s."
                    )
            status, value = conn.recv()
        except (EOFError, OSError):
            raise self._died(process) from None
        if status == "error":
            raise WorkerError(f"Error in a training worker process:\n{value}")
        return value

    def alive(self):
        """Whether every worker is still running."""
        return bool(self.workers) and all(process.is_alive() for process, _, _ in self.workers)

    def close(self):
        """Stop the workers (waits briefly, then terminates stragglers)."""
        for _, conn, _ in self.workers:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for process, conn, _ in self.workers:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            conn.close()
        self.workers = []


def _structure(network, loss, shard_len, assignment):
    """What workers built for ``network`` depend on: equal for networks that
    differ only in their parameter values (which are sent every batch)."""
    params = network.params
    return (
        repr(network), tuple(p.shape for p in params), params[0].dtype.str,
        network.input_shape, network.reuse_buffers, type(loss),
        loss.target_layout(params[0].dtype), shard_len,
        tuple(sorted((worker, tuple(shards)) for worker, shards in assignment.items())),
    )


# The workers kept for the next training call (at most one set: a call
# with another structure replaces them), the reuse_workers() blocks open,
# and the timer that stops the kept workers when they have idled too long.
_kept_lock = threading.Lock()
_kept = {"blocks": 0, "workers": None, "timer": None}


def _stop_timer():
    """Cancel the idle timer of the kept workers (with ``_kept_lock`` held)."""
    if _kept["timer"] is not None:
        _kept["timer"].cancel()
        _kept["timer"] = None


def _start_timer(idle_timeout):
    """Stop the kept workers after ``idle_timeout`` seconds (with ``_kept_lock`` held)."""
    timer = threading.Timer(idle_timeout, _expire)
    timer.daemon = True  # never holds up the interpreter's exit
    timer.name = "skcnn-workers-idle"
    _kept["timer"] = timer
    timer.start()


def _expire():
    """The idle timer's end: stop the kept workers, unless a call took them
    (or a newer timer or a block now looks after the kept ones). They stop
    under the lock, so that no call sees them half-stopped."""
    with _kept_lock:
        if _kept["timer"] is not threading.current_thread():
            return
        workers, _kept["workers"], _kept["timer"] = _kept["workers"], None, None
        if workers is not None:
            workers.close()


def stop_kept_workers():
    """Stop the workers kept for the next training call, now (if any)."""
    with _kept_lock:
        _stop_timer()
        workers, _kept["workers"] = _kept["workers"], None
    if workers is not None:
        workers.close()


# Kept workers stop with the interpreter, before multiprocessing's own exit
# handler would terminate them.
atexit.register(stop_kept_workers)


def _forget_kept_workers():
    """In a child forked from this process: the kept workers are the parent's."""
    global _kept_lock
    _kept_lock = threading.Lock()
    _kept.update(workers=None, timer=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_kept_workers)


@contextmanager
def reuse_workers():
    """Keep training worker processes for the next call until the block ends.

    A training call's worker processes are kept for the next call with a
    network of the same structure, and stop when they have waited a while
    unused. Inside the block they wait until the (outermost) block ends,
    however long the calls in between take, and then stop: the next
    ``partial_fit`` of the same model, or the next fit of a search over
    other hyperparameters, takes them over however short it is. Results are
    the same either way; only the workers' start-up is saved.

    Examples
    --------
    >>> import skcnn
    >>> with skcnn.reuse_workers():
    ...     pass  # for epoch in range(10): clf.partial_fit(X, y, classes=classes)
    """
    with _kept_lock:
        _kept["blocks"] += 1
        _stop_timer()
    try:
        yield
    finally:
        with _kept_lock:
            _kept["blocks"] -= 1
            workers = _kept["workers"] if _kept["blocks"] == 0 else None
            if workers is not None:
                _kept["workers"] = None
        if workers is not None:
            workers.close()


def take_workers(network, loss, shard_len, assignment, start=True):
    """Workers for a training call: kept ones that fit ``network``, else new
    ones with ``start`` (else None). New ones replace kept ones that do not
    fit, which stop first: one set of workers at a time."""
    structure = _structure(network, loss, shard_len, assignment)
    stale = None
    with _kept_lock:
        kept = _kept["workers"]
        if kept is not None and kept.structure == structure and kept.alive():
            _kept["workers"] = None
            _stop_timer()
            kept.network = network
            return kept
        if start and kept is not None:
            stale, _kept["workers"] = kept, None
            _stop_timer()
    if stale is not None:
        stale.close()
    return ShardProcesses(network, loss, shard_len, assignment) if start else None


def give_back(workers, reusable=True, idle_timeout=0.0):
    """End a training call's use of ``workers``.

    When ``reusable`` (the call succeeded), they are kept for the next call,
    in place of any kept before: until the ``reuse_workers()`` blocks end,
    else for ``idle_timeout`` seconds. Otherwise they stop.
    """
    stale = workers
    with _kept_lock:
        keep = reusable and workers.alive() and (_kept["blocks"] > 0 or idle_timeout > 0)
        if keep:
            stale, _kept["workers"] = _kept["workers"], workers
            workers.network = None  # the caller's network is not theirs to hold
            _stop_timer()
            if _kept["blocks"] == 0:
                _start_timer(idle_timeout)
    if stale is not None:
        stale.close()
