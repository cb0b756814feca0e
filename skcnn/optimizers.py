"""Stochastic optimizers that own every parameter update.

An optimizer keeps only its own state (velocities, moment estimates), one
array per parameter, and updates the live parameter arrays in place with
``step(params, grads)``, so the arrays a model exposes (its ``coefs_``) stay
the very arrays that are trained. The update rules are scikit-learn's
``MLPClassifier`` rules (``sklearn/neural_network/_stochastic_optimizers.py``).

An update is elementwise: ``begin_step()`` gives the rule of one step as a
function of aligned arrays ``update(param, grad, *state)``, which may be
applied to whole arrays or to aligned pieces of them (the training code
spreads pieces over threads; see ``skcnn._training.parallel``).
"""

import numpy as np

__all__ = ["SGD", "Adam"]


class _Optimizer:
    def __init__(self, params, learning_rate):
        self.learning_rate = float(learning_rate)
        self._init_state([np.asarray(p) for p in params])

    def step(self, params, grads):
        """Update every parameter in place from its gradient."""
        update, state = self.begin_step()
        for item in zip(params, grads, *state):
            update(*item)

    def iteration_ends(self, time_step):
        """Called after every epoch with the samples seen so far (``t_``)."""

    def trigger_stopping(self):
        """Training has stalled: True to stop, False to go on (having changed
        something, as a smaller step)."""
        return True

    def begin_step(self):
        """Start a step: its update rule ``update(param, grad, *state)`` and
        the state lists (each aligned with the parameters)."""
        return self._prepare()

    def arrays(self):
        """The state's arrays (velocities, moment estimates), live."""
        return [a for value in vars(self).values() if isinstance(value, list) for a in value]

    def state(self):
        """A deep copy of the optimizer's state, for ``set_state``."""
        return {
            key: [a.copy() for a in value] if isinstance(value, list) else value
            for key, value in vars(self).items()
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
        The parameter arrays (the optimizer's state takes their shapes).
    learning_rate : float, default=0.1
        The initial step size.
    momentum : float, default=0.9
    nesterov : bool, default=True
    schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        As MLPClassifier's ``learning_rate``: "invscaling" sets the step to
        ``learning_rate / (t + 1) ** power_t`` after every epoch, ``t``
        being the samples seen; "adaptive" divides it by 5 whenever training
        stalls (see ``trigger_stopping``), until it falls below 1e-6.
    power_t : float, default=0.5
        The exponent of "invscaling".
    """

    def __init__(self, params, learning_rate=0.1, momentum=0.9, nesterov=True,
                 schedule="constant", power_t=0.5):
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.schedule = schedule
        self.power_t = float(power_t)
        self.learning_rate_init = float(learning_rate)
        super().__init__(params, learning_rate)

    def iteration_ends(self, time_step):
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self):
        if self.schedule != "adaptive" or self.learning_rate <= 1e-6:
            return True
        self.learning_rate /= 5.0
        return False

    def _init_state(self, params):
        self.velocities = [np.zeros_like(p) for p in params]

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
        The parameter arrays (the optimizer's state takes their shapes).
    learning_rate : float, default=0.001
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
    """

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        super().__init__(params, learning_rate)

    def _init_state(self, params):
        self.ms = [np.zeros_like(p) for p in params]
        self.vs = [np.zeros_like(p) for p in params]

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
