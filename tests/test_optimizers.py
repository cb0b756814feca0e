"""SGD and Adam: closed-form updates, parity with scikit-learn's optimizers,
in-place updates and the state round trip."""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from skcnn import optimizers
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
        opt.step(grads)
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
        SGD(params, learning_rate=lr, momentum=mu, nesterov=nesterov).step(grads)
        for p, p0, g in zip(params, start, grads):
            np.testing.assert_allclose(p, p0 - factor * lr * g, rtol=1e-14, atol=1e-15)


def test_sgd_momentum_accumulates():
    """A constant gradient: the second plain-momentum step is (1 + mu) times the first."""
    lr, mu = 0.1, 0.9
    params = [np.zeros(3)]
    g = [np.array([1.0, -2.0, 0.5])]
    opt = SGD(params, learning_rate=lr, momentum=mu, nesterov=False)
    opt.step(g)
    first = params[0].copy()
    opt.step(g)
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
        opt.step(grads)
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
    Adam(params, learning_rate=lr, epsilon=1e-30).step(grads)
    for p, p0, g in zip(params, start, grads):
        np.testing.assert_allclose(p - p0, -lr * np.sign(g), rtol=1e-12)


def test_adam_zero_gradient_leaves_parameter():
    params = [np.array([1.0, 2.0])]
    Adam(params).step([np.array([0.0, 1.0])])
    assert params[0][0] == 1.0 and params[0][1] == pytest.approx(2.0 - 0.001, rel=1e-6)


@pytest.mark.parametrize("make", [lambda p: SGD(p), lambda p: Adam(p)], ids=["sgd", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_updates_are_in_place(make, dtype):
    params = make_params(dtype=dtype)
    ids = [id(p) for p in params]
    start = copies(params)
    opt = make(params)
    assert all(a is b for a, b in zip(opt.params, params))
    for grads in grad_sequence(2):
        opt.step([g.astype(dtype) for g in grads])
    assert [id(p) for p in params] == ids
    assert all(a is b for a, b in zip(opt.params, params))
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
        opt.step(grads)
    saved_params, saved_state = copies(params), opt.state()
    frozen = {k: copies(v) if isinstance(v, list) else v for k, v in saved_state.items()}
    for grads in grad_steps[2:]:
        opt.step(grads)
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
        opt.step(grads)
    for p, a in zip(params, after):
        np.testing.assert_array_equal(p, a)

    # Restore into a fresh optimizer on fresh arrays: the same trajectory.
    fresh_params = copies(saved_params)
    fresh = make(fresh_params)
    fresh.set_state(saved_state)
    for grads in grad_steps[2:]:
        fresh.step(grads)
    for p, a in zip(fresh_params, after):
        np.testing.assert_array_equal(p, a)


@pytest.mark.parametrize(
    "make", [lambda p: SGD(p, 0.1, 0.9, True), lambda p: Adam(p, 0.01)], ids=["sgd", "adam"]
)
def test_an_update_spread_over_pieces_is_bit_identical(make, monkeypatch):
    monkeypatch.setattr(optimizers, "CHUNK", 5)  # many pieces, uneven ones
    whole, pieced = make_params(), make_params()
    opt_whole, opt_pieced = make(whole), make(pieced)
    seen = []

    def map_pieces(fn, pieces):  # any order, as threads would run them
        seen.append(len(pieces))
        for piece in reversed(pieces):
            fn(piece)

    for grads in grad_sequence(4):
        opt_whole.step(grads)
        opt_pieced.step(grads, map_pieces)
    assert seen[0] == 3 + 1 + 4  # 12 -> 3, 4 -> 1, 18 -> 4 pieces
    for a, b in zip(whole, pieced):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make", [lambda p: SGD(p, 0.1, 0.9, True), lambda p: Adam(p, 0.01)], ids=["sgd", "adam"]
)
def test_pieces_follow_the_gradient_arrays(make, monkeypatch):
    """The pieces are cut once for gradient arrays refilled in place (as in
    training), and cut again when other arrays come."""
    monkeypatch.setattr(optimizers, "CHUNK", 5)
    whole, pieced = make_params(), make_params()
    opt_whole, opt_pieced = make(whole), make(pieced)
    buffers = [np.empty_like(p) for p in pieced]
    cut = []
    original = optimizers.flat_pieces
    monkeypatch.setattr(optimizers, "flat_pieces", lambda arrays: cut.append(1) or original(arrays))
    for step, grads in enumerate(grad_sequence(6)):
        opt_whole.step(grads)
        if step < 4:  # the same arrays, new values
            for buffer, g in zip(buffers, grads):
                buffer[...] = g
            opt_pieced.step(buffers, lambda fn, pieces: [fn(p) for p in pieces])
        else:  # other arrays
            opt_pieced.step(grads, lambda fn, pieces: [fn(p) for p in pieces])
    assert len(cut) == 3 * 3  # 3 parameters, cut for the buffers and for 2 new lists
    for a, b in zip(whole, pieced):
        np.testing.assert_array_equal(a, b)


def test_flat_pieces_are_aligned_views_and_refuse_copies():
    a, b = np.arange(12.0).reshape(3, 4), np.zeros((3, 4))
    pieces = optimizers.flat_pieces([a, b], chunk=5)
    assert [len(p[0]) for p in pieces] == [4, 4, 4]
    for pa, pb in pieces:
        pb += pa
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="contiguous"):
        optimizers.flat_pieces([a.T, b.T])
