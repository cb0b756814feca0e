"""Stochastic optimizers that own every parameter update.

Each optimizer is built on the list of live parameter arrays and updates them
in place with ``step(grads)``, so the arrays a model exposes (its ``coefs_``)
stay the very arrays that are trained. The update rules are scikit-learn's
``MLPClassifier`` rules (``sklearn/neural_network/_stochastic_optimizers.py``).
"""

import numpy as np

__all__ = ["SGD", "Adam"]

# Elements per piece when an update is spread over threads (see ``step``):
# large enough that numpy's per-call overhead, run under the GIL, stays small
# (net B's dense weights, 401k elements, make 2 pieces: 0.18 -> 0.145 s of
# optimizer and gradient sums per epoch, against 64k-element pieces).
CHUNK = 1 << 18


def flat_pieces(arrays, chunk=None):
    """Cut same-shaped contiguous arrays into aligned flat pieces (views).

    Returns one list of views per piece, each ``len(arrays)`` long: piece
    ``k`` of every array covers the same elements, so an elementwise update
    can run piece by piece on different threads.
    """
    if not all(a.flags.c_contiguous for a in arrays):
        raise ValueError("flat_pieces needs C-contiguous arrays (views, not copies).")
    n = max(1, -(-arrays[0].size // (chunk or CHUNK)))
    return [list(piece) for piece in zip(*(np.array_split(a.reshape(-1), n) for a in arrays))]


class _Optimizer:
    def __init__(self, params, learning_rate):
        self.params = list(params)
        self.learning_rate = float(learning_rate)

    def step(self, grads, map_pieces=None):
        """Update every parameter in place from its gradient.

        ``map_pieces(fn, pieces)``, when given, calls ``fn`` on every piece
        (in any order, possibly on several threads); the update is split
        into flat pieces of at most ``CHUNK`` elements for it. Every element
        gets the same arithmetic either way.
        """
        update, state = self._prepare()  # the update rule of this step, and its state lists
        items = [list(item) for item in zip(self.params, grads, *state)]
        if map_pieces is None:
            for item in items:
                update(*item)
        else:
            map_pieces(lambda piece: update(*piece), self._pieces(items))

    def _pieces(self, items):
        """The flat pieces of ``items``, cut once for the same arrays (the
        optimizer's own and, during a training call, the network's grads)."""
        key = tuple(id(array) for item in items for array in item)
        cached = getattr(self, "_cached_pieces", None)
        if cached is None or cached[0] != key:
            # The arrays themselves are kept with the key: ids stay unique.
            cached = self._cached_pieces = (
                key, items, [piece for item in items for piece in flat_pieces(item)]
            )
        return cached[2]

    def __getstate__(self):
        # The parameters belong to the model: it hands them back on load.
        state = self.__dict__.copy()
        state["params"] = None
        state.pop("_cached_pieces", None)
        return state

    def state(self):
        """A deep copy of the optimizer's state, for ``set_state``."""
        return {
            key: [a.copy() for a in value] if isinstance(value, list) else value
            for key, value in vars(self).items()
            if key not in ("params", "_cached_pieces")
        }

    def set_state(self, state):
        """Restore a copy made by ``state`` (arrays are written in place)."""
        for key, value in state.items():
            if isinstance(value, list):
                for current, saved in zip(getattr(self, key), value):
                    current[...] = saved
            else:
                setattr(self, key, value)


class SGD(_Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    ``v <- momentum * v - learning_rate * g``, then ``p <- p + v``; with
    Nesterov's momentum ``p <- p + momentum * v - learning_rate * g``.

    Parameters
    ----------
    params : list of ndarray
        The arrays to update in place.
    learning_rate : float, default=0.1
    momentum : float, default=0.9
    nesterov : bool, default=True
    """

    def __init__(self, params, learning_rate=0.1, momentum=0.9, nesterov=True):
        super().__init__(params, learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocities = [np.zeros_like(p) for p in self.params]

    def _prepare(self):
        lr, mu = self.learning_rate, self.momentum

        def update(p, g, v):
            v *= mu
            v -= lr * g
            if self.nesterov:
                p += mu * v - lr * g
            else:
                p += v

        return update, [self.velocities]


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2014), with the bias correction folded into the step.

    Parameters
    ----------
    params : list of ndarray
        The arrays to update in place.
    learning_rate : float, default=0.001
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
    """

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(params, learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = [np.zeros_like(p) for p in self.params]
        self.vs = [np.zeros_like(p) for p in self.params]

    def _prepare(self):
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        # A Python float, so that float32 parameters are updated in float32.
        lr = float(self.learning_rate * np.sqrt(1 - b2**self.t) / (1 - b1**self.t))

        def update(p, g, m, v):
            # In place, with one scratch array: no allocation per parameter pass.
            scratch = np.multiply(g, 1 - b1)
            m *= b1
            m += scratch
            np.multiply(g, g, out=scratch)
            scratch *= 1 - b2
            v *= b2
            v += scratch
            np.sqrt(v, out=scratch)
            scratch += self.epsilon
            np.divide(m, scratch, out=scratch)
            scratch *= lr
            p -= scratch

        return update, [self.ms, self.vs]
