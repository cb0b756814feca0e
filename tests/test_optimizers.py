"""SGD and Adam: closed-form updates, parity with scikit-learn's optimizers,
in-place updates and the state round trip."""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer


from skcnn.optimizers import SGD, Adam

SHAPES = [(3, 4), (4,), (2, 1, 3, 3)]


def make_params(seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def grad_sequence(n_steps, seed=1):
    rng = np.random.RandomState(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(n_steps)]


def copies(arrays):
    return [a.copy() for a in arrays]


SGD_CONFIGS = [
    dict(momentum=0.0, nesterov=False),  # plain gradient descent
    dict(momentum=0.9, nesterov=False),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.5, nesterov=True),
]


def sgd_by_hand(params, grad_steps, lr, momentum, nesterov):
    params = copies(params)
    velocities = [np.zeros_like(p) for p in params]
    for grads in grad_steps:
        for k, g in enumerate(grads):
            velocities[k] = momentum * velocities[k] - lr * g
            if nesterov:
                params[k] = params[k] + momentum * velocities[k] - lr * g
            else:
                params[k] = params[k] + velocities[k]
    return params


def adam_by_hand(params, grad_steps, lr, b1, b2, eps):
    params = copies(params)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grad_steps, start=1):
        for k, g in enumerate(grads):
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g**2
            m_hat = m[k] / (1 - b1**t)
            v_hat = v[k] / (1 - b2**t)
            # The textbook form with epsilon rescaled: identical to scikit-learn's
            # lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps).
            params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - b2**t))
    return params


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=str)
def test_sgd_matches_formula_and_sklearn(config):
    lr = 0.05
    params = make_params()
    start = copies(params)
    grad_steps = grad_sequence(4)
    opt = SGD(params, learning_rate=lr, **config)
    reference = copies(start)
    sk = SGDOptimizer(
        reference, learning_rate_init=lr, lr_schedule="constant", **config
    )
    for grads in grad_steps:
        opt.step(params, grads)
        sk.update_params(reference, grads)
    expected = sgd_by_hand(start, grad_steps, lr, **config)
    for p, e, r in zip(params, expected, reference):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-12)


def test_sgd_first_step_closed_form():
    lr, mu = 0.1, 0.9
    grads = grad_sequence(1)[0]
    for nesterov, factor in [(False, 1.0), (True, 1.0 + mu)]:
        params = make_params()
        start = copies(params)
        SGD(params, learning_rate=lr, momentum=mu, nesterov=nesterov).step(params, grads)
        for p, p0, g in zip(params, start, grads):
            np.testing.assert_allclose(p, p0 - factor * lr * g, rtol=1e-14, atol=1e-15)


def test_sgd_momentum_accumulates():
    """A constant gradient: the second plain-momentum step is (1 + mu) times the first."""
    lr, mu = 0.1, 0.9
    params = [np.zeros(3)]
    g = [np.array([1.0, -2.0, 0.5])]
    opt = SGD(params, learning_rate=lr, momentum=mu, nesterov=False)
    opt.step(params, g)
    first = params[0].copy()
    opt.step(params, g)
    np.testing.assert_allclose(params[0] - first, (1 + mu) * first, rtol=1e-14)


@pytest.mark.parametrize(
    "hyper",
    [
        dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
        dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3),
    ],
    ids=["defaults", "other"],
)
def test_adam_matches_formula_and_sklearn(hyper):
    params = make_params()
    start = copies(params)
    grad_steps = grad_sequence(5)
    opt = Adam(params, **hyper)
    reference = copies(start)
    sk = AdamOptimizer(
        reference, learning_rate_init=hyper["learning_rate"], beta_1=hyper["beta_1"],
        beta_2=hyper["beta_2"], epsilon=hyper["epsilon"],
    )
    for grads in grad_steps:
        opt.step(params, grads)
        sk.update_params(reference, grads)
    assert opt.t == 5
    expected = adam_by_hand(
        start, grad_steps, hyper["learning_rate"], hyper["beta_1"], hyper["beta_2"],
        hyper["epsilon"],
    )
    for p, e, r in zip(params, expected, reference):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-12)
    # The learning rate is a hyperparameter, not the bias-corrected step.
    assert opt.learning_rate == hyper["learning_rate"]


def test_adam_first_step_moves_each_parameter_by_lr():
    """With bias correction, step 1 is lr * sign(g) (up to epsilon)."""
    lr = 0.01
    params = make_params()
    start = copies(params)
    grads = grad_sequence(1)[0]
    Adam(params, learning_rate=lr, epsilon=1e-30).step(params, grads)
    for p, p0, g in zip(params, start, grads):
        np.testing.assert_allclose(p - p0, -lr * np.sign(g), rtol=1e-12)


def test_adam_zero_gradient_leaves_parameter():
    params = [np.array([1.0, 2.0])]
    Adam(params).step(params, [np.array([0.0, 1.0])])
    assert params[0][0] == 1.0 and params[0][1] == pytest.approx(2.0 - 0.001, rel=1e-6)


@pytest.mark.parametrize("make", [lambda p: SGD(p), lambda p: Adam(p)], ids=["sgd", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_updates_are_in_place(make, dtype):
    params = make_params(dtype=dtype)
    ids = [id(p) for p in params]
    start = copies(params)
    opt = make(params)
    for grads in grad_sequence(2):
        opt.step(params, [g.astype(dtype) for g in grads])
    assert [id(p) for p in params] == ids
    for p, p0 in zip(params, start):
        assert p.dtype == dtype
        assert not np.array_equal(p, p0)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, learning_rate=0.05, momentum=0.9, nesterov=True),
        lambda p: SGD(p, learning_rate=0.05, momentum=0.7, nesterov=False),
        lambda p: Adam(p, learning_rate=0.01),
    ],
    ids=["nesterov", "momentum", "adam"],
)
def test_state_round_trip(make):
    grad_steps = grad_sequence(5)
    params = make_params()
    opt = make(params)
    for grads in grad_steps[:2]:
        opt.step(params, grads)
    saved_params, saved_state = copies(params), opt.state()
    frozen = {k: copies(v) if isinstance(v, list) else v for k, v in saved_state.items()}
    for grads in grad_steps[2:]:
        opt.step(params, grads)
    after = copies(params)
    # state() is a deep copy: later steps do not reach into it.
    for key, value in frozen.items():
        if isinstance(value, list):
            for a, b in zip(saved_state[key], value):
                np.testing.assert_array_equal(a, b)
        else:
            assert saved_state[key] == value

    # Restore into the same optimizer: arrays are written in place.
    buffers = {k: [id(a) for a in getattr(opt, k)] for k, v in saved_state.items()
               if isinstance(v, list)}
    for p, s in zip(params, saved_params):
        p[...] = s
    opt.set_state(saved_state)
    assert {k: [id(a) for a in getattr(opt, k)] for k in buffers} == buffers
    for grads in grad_steps[2:]:
        opt.step(params, grads)
    for p, a in zip(params, after):
        np.testing.assert_array_equal(p, a)

    # Restore into a fresh optimizer on fresh arrays: the same trajectory.
    fresh_params = copies(saved_params)
    fresh = make(fresh_params)
    fresh.set_state(saved_state)
    for grads in grad_steps[2:]:
        fresh.step(fresh_params, grads)
    for p, a in zip(fresh_params, after):
        np.testing.assert_array_equal(p, a)


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_sgd_schedules_follow_scikit_learn(schedule):
    """iteration_ends and trigger_stopping as MLPClassifier's SGDOptimizer."""
    params = make_params()
    ours = SGD(params, learning_rate=0.1, schedule=schedule, power_t=0.4)
    theirs = SGDOptimizer(copies(params), learning_rate_init=0.1, lr_schedule=schedule, power_t=0.4)
    for t_ in (100, 250, 1000):
        ours.iteration_ends(t_)
        theirs.iteration_ends(t_)
        assert ours.learning_rate == pytest.approx(theirs.learning_rate, rel=1e-15)
    stops = []
    for _ in range(12):  # 0.1 / 5**k falls below 1e-6 after 8 divisions
        stop = ours.trigger_stopping()
        assert stop == theirs.trigger_stopping("stalled.", verbose=False)
        assert ours.learning_rate == pytest.approx(theirs.learning_rate, rel=1e-15)
        stops.append(stop)
    assert stops == ([False] * 8 + [True] * 4 if schedule == "adaptive" else [True] * 12)


def test_adam_has_no_schedule():
    opt = Adam(make_params(), learning_rate=0.01)
    opt.iteration_ends(1000)
    assert opt.learning_rate == 0.01 and opt.trigger_stopping() is True
