"""Full-batch training with L-BFGS (``solver="lbfgs"``), as MLPClassifier's.

The objective is the exact loss of the whole training set (with the L2
penalty), and its gradient, as ``scipy.optimize.minimize`` needs them for a
line search that compares values. The training set, in its canonical form
(``skcnn._batches``: identical samples merged, so integer sample weights are
exactly repeated samples), is cut into chunks of at most ``CHUNK`` samples
that go through the data-parallel step one after the other, their gradients
summed: memory stays that of one chunk, and the chunks depend on the data
only, so the model is bit-identical whatever the number of threads.
"""

import numpy as np
from scipy.optimize import minimize

from ._batches import dense_rows

# Samples per chunk of the full-batch pass: the largest batch the
# data-parallel step splits into its most shards (8 x 32).
CHUNK = 256


def chunk_indices(indices):
    """``indices`` cut into equal chunks of at most ``CHUNK`` samples."""
    return np.array_split(indices, max(1, -(-len(indices) // CHUNK)))


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
