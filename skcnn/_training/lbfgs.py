"""Full-batch training with L-BFGS (``solver="lbfgs"``), as MLPClassifier's.

The objective is the exact loss of the whole training set (with the L2
penalty), and its gradient, as ``scipy.optimize.minimize`` needs them for a
line search that compares values. The training set, in its canonical form
(``skcnn._training.batches``: identical samples merged, so integer sample weights are
exactly repeated samples), is cut into chunks of at most ``SAMPLES_PER_CHUNK`` samples
that go through the data-parallel step one after the other, their gradients
summed: memory stays that of one chunk, and the chunks depend on the data
only, so the model is bit-identical whatever the number of threads.

``LbfgsTrainingMixin._train_lbfgs`` is the training method that ``BaseCNN``
(``skcnn._base``) inherits and calls instead of its epoch loop when
``solver="lbfgs"``.
"""

import numpy as np
from scipy.optimize import minimize
from sklearn.utils.optimize import _check_optimize_result

from .batches import canonical_batch, dense_rows, sample_label_keys
from .callbacks import NO_EPOCH_TASKS
from .common import TrainingLoopMixin, warn_diverged, warn_interrupted
from .interrupt import deferred_interrupt
from .parallel import ShardedStep

# Samples per chunk of the full-batch pass: the largest batch the
# data-parallel step splits into its most shards (8 x 32).
SAMPLES_PER_CHUNK = 256


def chunk_indices(indices):
    """``indices`` cut into equal chunks of at most ``SAMPLES_PER_CHUNK`` samples."""
    return np.array_split(indices, max(1, -(-len(indices) // SAMPLES_PER_CHUNK)))


class FullBatchObjective:
    """``objective(x) -> (loss, gradient)`` over flat float64 parameters.

    Parameters
    ----------
    network : Sequential
        The network; ``x`` is written into its parameters at every call.
    step : ShardedStep
        Fills ``network.grads`` for a batch and returns its loss.
    X, y : ndarray
        The training data (``X`` 2-D, dense or CSR) and encoded targets.
    chunks : list of (indices, weights)
        The rows of each chunk and their weights (None: all ones).
    image_shape : tuple
        The shape of one sample.
    weight_sum : float
        The total sample weight: every chunk's loss is normalized by it, so
        that the chunks' losses and gradients add up to the whole set's.
    add_penalty : callable
        ``add_penalty(weight_sum)`` adds the L2 penalty's gradient to
        ``network.grads`` and returns its loss.
    """

    def __init__(self, network, step, X, y, chunks, image_shape, weight_sum, add_penalty):
        self.network = network
        self.X, self.y = X, y
        self.step = step
        self.chunks = chunks
        self.image_shape = image_shape
        self.weight_sum = weight_sum
        self.add_penalty = add_penalty
        self.params = network.params
        self.sizes = [p.size for p in self.params]

    def pack(self):
        """The network's parameters as one float64 vector."""
        return np.concatenate([p.ravel() for p in self.params]).astype(np.float64)

    def unpack(self, x):
        """Write the flat vector ``x`` into the network's parameters."""
        for p, piece in zip(self.params, np.split(x, np.cumsum(self.sizes)[:-1])):
            p[...] = piece.reshape(p.shape)

    def __call__(self, x):
        self.unpack(x)
        total = np.zeros(x.size)
        loss = 0.0
        for rows, w in self.chunks:
            images = dense_rows(self.X, rows).reshape((-1,) + self.image_shape)
            loss += self.step(images, self.y[rows], w, self.weight_sum)
            total += self._flat_grads()
        for g in self.network.grads:
            g[...] = 0
        loss += self.add_penalty(self.weight_sum)
        total += self._flat_grads()
        return loss, total

    def _flat_grads(self):
        return np.concatenate([g.ravel() for g in self.network.grads])


def run_lbfgs(objective, x0, max_iter, max_fun, tol, on_iteration):
    """Minimize ``objective`` (``x -> (loss, gradient)``) from ``x0``.

    ``on_iteration(loss, x)`` is called after every iteration with its
    iterate and may raise StopIteration to end the run there. Returns
    scipy's ``OptimizeResult``; its ``x`` is not yet written into the network.
    """

    def callback(intermediate_result):
        on_iteration(float(intermediate_result.fun), intermediate_result.x)

    return minimize(
        objective,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )


class LbfgsTrainingMixin(TrainingLoopMixin):
    """``solver="lbfgs"`` for ``BaseCNN``, which inherits it.

    It uses the estimator's hyperparameters (``max_iter``, ``max_fun``,
    ``tol``, ``n_jobs``, ``verbose``), its network and fitted state
    (``_network``, ``image_shape_``, ``loss_curve_``, ``best_loss_``,
    ``_epochs``) and the subclass's ``_make_loss``.
    """

    def _train_lbfgs(self, call, epochs=NO_EPOCH_TASKS):
        """Full-batch L-BFGS (see the module's docstring): MLPClassifier's
        ``solver="lbfgs"``, with ``max_iter`` iterations and ``max_fun``
        evaluations of the loss at most, stopping when the largest gradient
        component is below ``tol``. Each iteration is a task of the
        callbacks (``epochs``), as an epoch is for the other solvers."""
        X, y, w = call.train
        self._optimizer = None
        self.n_iter_ = 0
        indices, weights = canonical_batch(np.arange(X.shape[0]), sample_label_keys(X, y), X, y, w)
        weight_sum = float(len(indices)) if weights is None else float(weights.sum(dtype=np.float64))
        chunks = [
            (rows, None if weights is None else weights[pos])
            for rows, pos in zip(chunk_indices(indices), chunk_indices(np.arange(len(indices))))
        ]
        step = ShardedStep(
            self._network, self._make_loss(), max(len(rows) for rows, _ in chunks), None,
            len(chunks) * self.max_iter, self.n_jobs,
        )
        objective = FullBatchObjective(
            self._network, step, X, y, chunks, self.image_shape_, weight_sum, self._add_l2_penalty
        )
        if self.verbose:
            self._print_start(X.shape[0], f" with L-BFGS, {len(chunks)} chunks per evaluation")
        started = [a.copy() for a in self._model_arrays()]
        curve_start = len(self.loss_curve_)
        stopped = []  # why the run ended before scipy's own criteria: "interrupted", "callback"
        task_open = [False]

        def evaluate(x):
            if not task_open[0]:  # an iteration's first evaluation begins its task
                epochs.begin()
                task_open[0] = True
            return objective(x)

        def on_iteration(loss, x):
            objective.unpack(x)  # the iterate: what callbacks' copies of the model predict with
            self.loss_curve_.append(loss)
            self.loss_ = loss
            self.n_iter_ += 1
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}", flush=True)
            task_open[0] = False
            if epochs.end():
                stopped.append("callback")
            elif interrupt.requested:
                stopped.append("interrupted")
            if stopped:
                raise StopIteration

        try:
            with deferred_interrupt() as interrupt, step, np.errstate(
                over="ignore", invalid="ignore", divide="ignore"
            ):
                result = run_lbfgs(
                    evaluate, objective.pack(), self.max_iter, self.max_fun, self.tol, on_iteration
                )
            objective.unpack(result.x)
        except BaseException:
            self._set_weights(started)  # a failed call leaves the weights as they were
            del self.loss_curve_[curve_start:]
            raise
        finally:
            self._network.clear_cache()
        if not (np.isfinite(result.fun) and self._params_finite()):
            self._set_weights(started)
            del self.loss_curve_[curve_start:]
            self.n_iter_ = 0
            warn_diverged(
                "during this call: the model keeps the weights it had before it",
                "Scale X (for instance with StandardScaler) or raise alpha.",
            )
            return
        if stopped == ["interrupted"]:
            call.interrupted = True
            n = self.n_iter_
            warn_interrupted(
                f" after {n} iteration{'' if n == 1 else 's'} (n_iter_={n}). The model is "
                "usable; fit with warm_start=True continues from here (fit without "
                "warm_start starts over)."
            )
        elif not stopped:  # a callback's stop is not a failure to converge
            _check_optimize_result("lbfgs", result, self.max_iter)
        self._epochs += self.n_iter_
        self.loss_ = float(result.fun)
        losses = self.loss_curve_[curve_start:]
        if losses:
            self.best_loss_ = min(losses + ([] if self.best_loss_ is None else [self.best_loss_]))
