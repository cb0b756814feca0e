"""Data-parallel training steps: a batch split into shards that run side by side.

numpy runs its elementwise kernels on one core and only BLAS uses the others.
Splitting each batch into shards, each pushed through its own replica of the
network (sharing the parameters, with its own gradients and buffers), with
BLAS at one thread per shard, lets every core do every kind of work. The
caller's thread runs some shards; worker processes (``processes``, free of
the GIL) or worker threads run the others, as ``ParallelPolicy`` decides.

The split depends on the batch size only and the shards' gradients are summed
in shard order, so a model trains to the same bits on one thread, on several
or on worker processes. BatchNorm's statistics are those of the whole batch:
every shard's pass stops at each BatchNorm layer, the partial sums meet in
shard order on the caller's thread and every shard goes on with the totals
(``Sequential.training_pass``), which keeps the bits independent of where
the shards ran.
"""

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

import numpy as np

from .._network import advance
from . import processes
from .batches import dense_rows
from .blas import blas_threads, one_thread_blas

# Samples per shard, about: much smaller shards make GEMMs inefficient and
# the per-layer Python overhead start to show.
SHARD_SIZE = 32
MAX_SHARDS = 8
# Threads only pay when a sample's GEMMs are big enough: a network of small
# kernels spends its time in many short numpy calls whose Python parts take
# turns on the GIL.
MIN_FLOPS_PER_SAMPLE = 1e6
# Starting worker processes costs a few batches' time: a shorter training
# call runs its shards on threads, unless it finds kept workers that fit.
MIN_STEPS_FOR_PROCESSES = 100
# Seconds that a call's worker processes wait for the next call before they
# stop (outside skcnn.reuse_workers()): long enough to span what a loop of
# partial_fit calls does between two calls, short enough not to hold idle
# processes for long.
WORKER_IDLE_TIMEOUT = 30.0
# Elements per piece when an elementwise pass over parameter-sized arrays
# (the optimizer's step, the sum of the shards' gradients) is spread over
# threads: large enough that numpy's per-call overhead, run under the GIL,
# stays small.
ELEMENTS_PER_PIECE = 1 << 18


@dataclasses.dataclass(frozen=True)
class ParallelPolicy:
    """When the shards of a batch run side by side, and where.

    The measurements behind the defaults are in ``benchmarks/RESULTS.md``
    ("Design measurements"). None of them changes a model's bits.

    Attributes
    ----------
    min_flops_per_sample : float, default=MIN_FLOPS_PER_SAMPLE
        Shards run side by side only for networks whose forward GEMMs cost
        at least this many floating-point operations per sample.
    worker_processes : bool, default=True
        Run the shards beyond the caller's on worker processes where they
        can start (``processes.processes_available``), else on threads.
    min_steps_for_processes : int, default=MIN_STEPS_FOR_PROCESSES
        Start worker processes for training calls of at least this many
        batches; a shorter call takes kept workers that fit, if any.
    worker_idle_timeout : float, default=WORKER_IDLE_TIMEOUT
        Seconds that a call's workers are kept for the next call outside
        ``reuse_workers()`` (0: stopped when the call ends).
    """

    min_flops_per_sample: float = MIN_FLOPS_PER_SAMPLE
    worker_processes: bool = True
    min_steps_for_processes: int = MIN_STEPS_FOR_PROCESSES
    worker_idle_timeout: float = WORKER_IDLE_TIMEOUT


_policy = ParallelPolicy()


@contextmanager
def parallel_policy(**changes):
    """Change the ``ParallelPolicy`` of every training call inside the block.

    For tests, which train tiny networks side by side and on worker
    processes, and for benchmarks, which compare threads with processes:
    the estimators have no parameter for these choices, which only change
    the speed. The policy is process-wide (training threads read it too).

    Parameters
    ----------
    **changes : dict
        Fields of ``ParallelPolicy`` and their values in the block.

    Yields
    ------
    policy : ParallelPolicy
        The policy in force in the block.
    """
    global _policy
    previous = _policy
    _policy = dataclasses.replace(previous, **changes)
    try:
        yield _policy
    finally:
        _policy = previous


def flat_pieces(arrays, elements_per_piece=None):
    """Cut same-shaped contiguous arrays into aligned flat pieces (views).

    Returns one list of views per piece, each ``len(arrays)`` long: piece
    ``k`` of every array covers the same elements, so an elementwise update
    can run piece by piece on different threads.
    """
    if not all(a.flags.c_contiguous for a in arrays):
        raise ValueError("flat_pieces needs C-contiguous arrays (views, not copies).")
    n = max(1, -(-arrays[0].size // (elements_per_piece or ELEMENTS_PER_PIECE)))
    return [list(piece) for piece in zip(*(np.array_split(a.reshape(-1), n) for a in arrays))]


def n_shards(batch_len, max_shards=MAX_SHARDS):
    """How many shards a batch of ``batch_len`` samples is split into.

    ``batch_len / SHARD_SIZE`` rounded to the nearest integer, within
    ``[1, max_shards]``: batches of 48 to 79 samples make 2 shards, so that
    the equal batches of ``batch_size=64`` (62 samples on 1,797 digits) split.
    """
    return min(max_shards, max(1, (batch_len + SHARD_SIZE // 2) // SHARD_SIZE))


def forward_flops(network):
    """Floating-point operations of the GEMMs of one sample's forward pass."""
    return int(sum(layer.forward_flops() for layer in network.layers))


def available_threads():
    """Threads the caller lets BLAS use (honours threadpoolctl and joblib limits).

    Falls back to the number of CPUs when no BLAS library reports a count.
    """
    return blas_threads() or os.cpu_count() or 1


def resolve_n_jobs(n_jobs):
    """The number of shards that may run at once for the estimator's ``n_jobs``."""
    if n_jobs is None:
        return available_threads()
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return n_jobs


class ShardedStep:
    """Compute the loss and summed gradients of a batch, shard by shard.

    Use as a context manager around a training loop: with more than one
    thread available, batches big enough to split and samples costly enough
    (see ``ParallelPolicy``), it takes worker processes (see ``n_steps`` and
    ``skcnn._training.processes``) or starts worker threads, and limits BLAS
    to one thread per worker for its duration. Otherwise the shards run one
    after the other on the calling thread: the same numbers either way.

    Parameters
    ----------
    network : Sequential
        The network whose ``grads`` receive the batch's gradients. It runs
        the first shard itself; replicas sharing its parameters run the others.
    loss : callable
        ``loss(logits, y, sample_weight, weight_sum)`` returning the loss
        summed over the shard and divided by ``weight_sum``, and its gradient.
    max_batch_len : int
        The largest batch the loop will pass (sizes the replicas and threads).
    seed : int or None, default=None
        With an int, every call passes the seed ``(seed, *key)`` to the
        forward pass of every shard alike: the Dropout masks hash each
        sample's values with it, so they do not depend on the shard a sample
        lands in.
    n_steps : int or None, default=None
        How many batches the loop will pass, about: worker processes are
        started for at least ``ParallelPolicy.min_steps_for_processes``
        (None: never); a shorter call takes kept workers, if they fit.
    n_jobs : int or None, default=None
        The most shards that run at once (see ``resolve_n_jobs``).
    max_shards : int, default=MAX_SHARDS
        The most shards a batch is split into (see ``n_shards``): fewer
        change the rounding, so only benchmarks pass another value.
    """

    def __init__(self, network, loss, max_batch_len, seed=None, n_steps=None, n_jobs=None,
                 max_shards=MAX_SHARDS):
        self.network = network
        self.loss = loss
        self.seed = seed
        self.n_steps = n_steps
        self.max_shards = max_shards
        self.policy = _policy  # fixed for the call, whatever other threads do
        shards = n_shards(max_batch_len, max_shards)
        self.replicas = [network] + [network.replica() for _ in range(shards - 1)]
        worth_it = shards > 1 and forward_flops(network) >= self.policy.min_flops_per_sample
        self.n_threads = min(shards, resolve_n_jobs(n_jobs)) if worth_it else 1
        self._executor = None
        self._processes = None
        # The longest shard of any batch up to max_batch_len (a shorter batch
        # may make fewer, longer shards: 79 samples make 2 of 40, 80 make 3).
        self._shard_len = max(
            -(-n // n_shards(n, max_shards)) for n in range(1, max_batch_len + 1)
        )
        self._pieces = {}
        self._optimizer_pieces = None

    def __enter__(self):
        one_thread_blas.__enter__()
        if self.n_threads > 1:
            self._executor = ThreadPoolExecutor(self.n_threads - 1, thread_name_prefix="skcnn")
            if self.policy.worker_processes and processes.processes_available():
                self._start_processes()
        return self

    def _start_processes(self):
        shards = len(self.replicas)
        assignment = {
            worker: list(range(worker, shards, self.n_threads))
            for worker in range(1, self.n_threads)
        }
        long_call = (
            self.n_steps is not None and self.n_steps >= self.policy.min_steps_for_processes
        )
        try:
            self._processes = processes.take_workers(
                self.network, self.loss, self._shard_len, assignment, start=long_call
            )
        except Exception:  # no workers here (resources, sandbox): the threads run
            self._processes = None  # the shards, with the same numbers

    def __exit__(self, *exc_info):
        if self._processes is not None:
            processes.give_back(
                self._processes,
                reusable=exc_info[0] is None,
                idle_timeout=self.policy.worker_idle_timeout,
            )
            self._processes = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        one_thread_blas.__exit__(*exc_info)
        for replica in self.replicas[1:]:
            replica.clear_cache()
        return False

    def __call__(self, X, y, w, weight_sum, key=()):
        """Fill ``network.grads`` for the batch; return its loss.

        ``weight_sum`` is the batch's total sample weight (its length when
        unweighted): every shard normalizes by it, so the summed gradients
        are those of the whole batch's mean loss. ``key`` (ints) names the
        batch for the Dropout seeds (see ``seed``).

        Each shard's pass is a generator (``Sequential.training_pass``) that
        stops where a layer needs sums over the whole batch (BatchNorm): all
        shards run to that point, their partial sums meet in shard order on
        this thread (``Sequential.meet``, which also moves the running
        statistics, once), and all continue with the totals. Those sums
        weigh each shard's samples by its part of ``w``, as the loss does.
        A network without such layers runs each shard in one go.
        """
        k = n_shards(X.shape[0], self.max_shards)  # equal shards, as np.array_split makes them
        w_parts = [None] * k if w is None else np.array_split(w, k)
        jobs = list(zip(range(k), np.array_split(X, k), np.array_split(y, k), w_parts))
        seed = None if self.seed is None else (self.seed, *key)
        on_processes = self._processes is not None and k > 1
        local = [job for job in jobs if not on_processes or job[0] % self.n_threads == 0]
        passes = [  # in shard order
            self.replicas[index].training_pass(X_, y_, w_, weight_sum, self.loss, seed)
            for index, X_, y_, w_ in local
        ]
        if on_processes:
            self._processes.sync_params()
        totals, first = None, True
        while True:
            if on_processes:
                results = self._advance_on_processes(jobs, passes, weight_sum, seed, totals, first)
            else:
                results = self._advance(passes, totals)
            first = False
            if all(done for done, _ in results):
                break
            if any(done for done, _ in results):
                raise RuntimeError("Some shards of a batch finished before the others.")
            totals = self.network.meet([point for _, point in results])
        if k > 1:
            # Sum the shards' gradients into the network's, in shard order.
            self.map_pieces(_sum_into_first, self._sum_pieces(k))
        return sum(loss for _, loss in results)

    def _advance(self, passes, totals):
        """Every shard's pass to its next meeting point, on this thread and
        the worker threads; the results in shard order."""
        if self._executor is None or len(passes) == 1:
            return self._run(passes, totals)
        per_thread = self._spread(lambda share: self._run(share, totals), passes)
        results = [None] * len(passes)
        for t, thread_results in enumerate(per_thread):
            results[t :: self.n_threads] = thread_results
        return results

    def _run(self, passes, totals):
        """One thread's part of ``_advance``: see ``_network.advance``."""
        return advance(passes, totals)

    def _advance_on_processes(self, jobs, passes, weight_sum, seed, totals, first):
        """As ``_advance``: the worker processes run the shards the other
        threads would run (the first call sends them their shards)."""
        n = self.n_threads
        if first:
            self._processes.submit(
                {index: (X, y, w) for index, X, y, w in jobs if index % n}, weight_sum, seed
            )
        else:
            self._processes.resume(totals)
        mine = self._run(passes, totals)
        theirs = self._processes.collect()
        results = [None] * len(jobs)
        results[::n] = mine
        for index, result in theirs.items():
            results[index] = result
        return results

    def _sum_pieces(self, k):
        """Aligned pieces of the first ``k`` shards' gradients (made once per ``k``)."""
        if k not in self._pieces:
            parts = [
                self._processes.grads(index)
                if self._processes is not None and index % self.n_threads
                else self.replicas[index].grads
                for index in range(k)
            ]
            self._pieces[k] = [piece for arrays in zip(*parts) for piece in flat_pieces(arrays)]
        return self._pieces[k]

    def optimizer_step(self, optimizer):
        """``optimizer.step`` on the network's parameters and the batch's
        gradients, spread over the threads in aligned flat pieces: every
        element gets the same arithmetic. The arrays stay the same for the
        whole training call (a restored epoch is written back in place), so
        the pieces are cut once."""
        update, state = optimizer.begin_step()
        if self._executor is None:
            for item in zip(self.network.params, self.network.grads, *state):
                update(*item)
            return
        if self._optimizer_pieces is None or self._optimizer_pieces[0] is not optimizer:
            items = zip(self.network.params, self.network.grads, *state)
            self._optimizer_pieces = (optimizer, [p for item in items for p in flat_pieces(item)])
        self.map_pieces(lambda piece: update(*piece), self._optimizer_pieces[1])

    def map_pieces(self, fn, pieces):
        """Call ``fn`` on every piece, spread over the threads."""
        if self._executor is None or len(pieces) == 1:
            for piece in pieces:
                fn(piece)
        else:
            self._spread(lambda share: [fn(piece) for piece in share], pieces)

    def _spread(self, fn, items):
        """``fn(items[t::n_threads])`` on thread ``t`` (the caller is thread 0).

        Returns the results, thread by thread."""
        futures = [
            self._executor.submit(fn, items[t :: self.n_threads]) for t in range(1, self.n_threads)
        ]
        try:
            mine = fn(items[:: self.n_threads])
        finally:
            wait(futures)  # no thread may still be writing when we return or raise
        return [mine] + [future.result() for future in futures]


def _sum_into_first(arrays):
    total = arrays[0]
    for part in arrays[1:]:
        total += part


def predict_in_chunks(network, X, sample_shape, out, batch_len, n_threads):
    """Inference of 2-D ``X`` (dense or CSR) into ``out``, ``batch_len`` samples at a time.

    BLAS is held at one thread (two BLAS threads spin while they wait for a
    core another process has taken; see ``skcnn._training.blas``), and with
    ``n_threads > 1`` contiguous parts of ``X`` run on that many threads, in
    parts of at least 64 samples. A sample's output does not depend on the
    thread; a different split into batches may round its last bits otherwise.
    """
    n = X.shape[0]
    n_threads = max(1, min(n_threads, n // 64))

    def run(rows):
        for start in range(rows.start, rows.stop, batch_len):
            stop = min(start + batch_len, rows.stop)
            batch = dense_rows(X, slice(start, stop))
            out[start:stop] = network.forward(batch.reshape((-1,) + sample_shape))

    bounds = np.linspace(0, n, n_threads + 1).astype(int)
    parts = [range(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    with one_thread_blas:
        if n_threads == 1:
            run(parts[0])
            return out
        with ThreadPoolExecutor(n_threads - 1, thread_name_prefix="skcnn-predict") as pool:
            futures = [pool.submit(run, rows) for rows in parts[1:]]
            try:
                run(parts[0])
            finally:
                wait(futures)
            for future in futures:
                future.result()
    return out
