"""AvgPool2D, GlobalAvgPool2D and GlobalMaxPool2D: against naive loop
references over random shapes, central finite differences, and PyTorch."""

import re

import numpy as np
import pytest
from tests.support.gradcheck import numerical_gradient

from skcnn._network import Sequential
from skcnn.layers import AvgPool2D, Conv2D, GlobalAvgPool2D, GlobalMaxPool2D

DTYPES = [np.float64, np.float32]


def build(layer, input_shape, dtype=np.float64):
    layer.build(input_shape, np.random.RandomState(0), dtype)
    return layer


def channels_last(X):
    """The same NCHW-shaped values over channels-last memory, as our layers pass them."""
    return np.ascontiguousarray(X.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


# ---------------------------------------------------------------------------
# Naive references (loops on purpose)
# ---------------------------------------------------------------------------


def naive_avgpool2d(x, pool_size, stride):
    """Average-pool NCHW ``x`` (floor mode) with loops; returns the output and
    ``backward(dout) -> dx``."""
    n, c, h, w = x.shape
    ph, pw = pool_size
    sh, sw = stride
    ho, wo = (h - ph) // sh + 1, (w - pw) // sw + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(n):
        for k in range(c):
            for r in range(ho):
                for s in range(wo):
                    out[i, k, r, s] = x[i, k, r * sh : r * sh + ph, s * sw : s * sw + pw].mean()

    def backward(dout):
        dx = np.zeros(x.shape)
        for i in range(n):
            for k in range(c):
                for r in range(ho):
                    for s in range(wo):
                        dx[i, k, r * sh : r * sh + ph, s * sw : s * sw + pw] += (
                            dout[i, k, r, s] / (ph * pw)
                        )
        return dx

    return out, backward


def naive_global_max(x):
    """Per-channel maximum and the gradient router to its first row-major occurrence."""
    n, c, h, w = x.shape
    out = np.zeros((n, c))
    winners = {}
    for i in range(n):
        for k in range(c):
            out[i, k] = x[i, k].max()
            winners[i, k] = divmod(int(np.argmax(x[i, k])), w)

    def backward(dout):
        dx = np.zeros(x.shape)
        for (i, k), (r, s) in winners.items():
            dx[i, k, r, s] = dout[i, k]
        return dx

    return out, backward


def random_pool_case(seed):
    rng = np.random.RandomState(2000 + seed)
    pool = tuple(int(p) for p in rng.randint(1, 5, size=2))
    choice = seed % 3
    if choice == 0:
        stride = None
    elif choice == 1:
        stride = tuple(int(s) for s in rng.randint(1, 4, size=2))  # gaps or overlaps
    else:
        stride = int(rng.randint(1, 3))
    n, c = (int(v) for v in rng.randint(1, 4, size=2))
    h = int(rng.randint(pool[0], pool[0] + 6))
    w = int(rng.randint(pool[1], pool[1] + 6))
    return rng, pool, stride, (n, c, h, w)


# ---------------------------------------------------------------------------
# AvgPool2D
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_avgpool2d_matches_loop_reference(seed, dtype):
    rng, pool, stride, shape = random_pool_case(seed)
    layer = build(AvgPool2D(pool, stride=stride), shape[1:], dtype)
    X = rng.standard_normal(shape).astype(dtype)
    if seed % 2:
        X = channels_last(X)

    out = layer.forward(X, training=True)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dX = layer.backward(dout)

    expected, route = naive_avgpool2d(X.astype(np.float64), pool, layer.stride)
    assert out.dtype == dtype and dX.dtype == dtype
    assert out.shape == expected.shape == shape[:1] + layer.output_shape
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(dX, route(dout.astype(np.float64)), rtol=tol, atol=tol)
    np.testing.assert_array_equal(layer.forward(X), out)


@pytest.mark.parametrize(
    "pool_size, stride, input_shape",
    [(2, None, (2, 4, 5)), (3, 1, (1, 5, 5)), ((2, 3), (1, 2), (2, 5, 7)), ((3, 2), 2, (1, 6, 5))],
)
def test_avgpool2d_gradient_finite_differences(pool_size, stride, input_shape):
    rng = np.random.RandomState(3)
    layer = build(AvgPool2D(pool_size, stride=stride), input_shape)
    X = rng.standard_normal((2,) + input_shape)
    G = rng.standard_normal((2,) + layer.output_shape)
    layer.forward(X, training=True)
    dX = layer.backward(G)
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(X) * G)), X)
    np.testing.assert_allclose(dX, numeric, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# Global pools
# ---------------------------------------------------------------------------


def random_image_batch(seed, dtype, ties=False):
    rng = np.random.RandomState(3000 + seed)
    n, c, h, w = (int(v) for v in rng.randint(1, 6, size=4))
    if ties:
        X = rng.randint(0, 3, size=(n, c, h, w)).astype(dtype)
    else:
        X = rng.standard_normal((n, c, h, w)).astype(dtype)
    return rng, channels_last(X) if seed % 2 else X


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_global_avgpool2d_matches_reference(seed, dtype):
    rng, X = random_image_batch(seed, dtype)
    layer = build(GlobalAvgPool2D(), X.shape[1:], dtype)
    assert layer.output_shape == (X.shape[1],)
    out = layer.forward(X, training=True)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dX = layer.backward(dout)
    h, w = X.shape[2:]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert out.dtype == dtype and dX.dtype == dtype and out.shape == X.shape[:2]
    np.testing.assert_allclose(out, X.astype(np.float64).mean(axis=(2, 3)), rtol=tol, atol=tol)
    expected = np.broadcast_to(dout[:, :, None, None] / (h * w), X.shape)
    np.testing.assert_allclose(dX, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_global_maxpool2d_routes_to_the_first_maximum(seed, ties, dtype):
    rng, X = random_image_batch(seed, dtype, ties)
    layer = build(GlobalMaxPool2D(), X.shape[1:], dtype)
    out = layer.forward(X, training=True)
    dout = rng.randint(-9, 10, size=out.shape).astype(dtype)
    dX = layer.backward(dout)
    expected, route = naive_global_max(X.astype(np.float64))
    assert out.dtype == dtype and dX.dtype == dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(dX, route(dout))
    np.testing.assert_array_equal(layer.forward(X), out)


def test_global_maxpool2d_constant_image_routes_to_top_left():
    layer = build(GlobalMaxPool2D(), (2, 3, 4))
    X = np.full((1, 2, 3, 4), 0.5)
    layer.forward(X, training=True)
    dX = layer.backward(np.array([[3.0, 4.0]]))
    expected = np.zeros_like(X)
    expected[0, :, 0, 0] = [3.0, 4.0]
    np.testing.assert_array_equal(dX, expected)


@pytest.mark.parametrize("layer", [GlobalAvgPool2D(), GlobalMaxPool2D()], ids=repr)
def test_global_pool_gradients_finite_differences(layer):
    rng = np.random.RandomState(4)
    layer = build(layer, (3, 4, 5))
    # Distinct values, far apart: no tie and no kink within the step.
    X = (rng.permutation(2 * 60).reshape(2, 3, 4, 5) + rng.uniform(0, 0.5, (2, 3, 4, 5))) / 10
    G = rng.standard_normal((2, 3))
    layer.forward(X, training=True)
    dX = layer.backward(G)
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(X) * G)), X)
    np.testing.assert_allclose(dX, numeric, rtol=1e-7, atol=1e-9)


def test_pools_after_a_conv_in_a_network():
    """Inside a network the pools take the conv's channels-last output and
    hand back gradients the conv takes; input_grad=False returns None."""
    rng = np.random.RandomState(5)
    for pool in (AvgPool2D(2), GlobalAvgPool2D(), GlobalMaxPool2D()):
        net = Sequential([Conv2D(3, padding="same"), pool], reuse_buffers=True)
        net.build((2, 6, 6), rng, np.float64)
        X = rng.standard_normal((4, 2, 6, 6))
        out = net.forward(X, training=True)
        net.backward(np.ones_like(out))
        assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in net.grads)
        pool.forward(net.layers[0].forward(X), training=True)
        assert pool.backward(np.ones_like(out), input_grad=False) is None


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: AvgPool2D(0), "pool_size=0"),
        (lambda: AvgPool2D((2, -1)), "pool_size=(2, -1)"),
        (lambda: AvgPool2D(2, stride=0), "stride=0"),
        (lambda: AvgPool2D(2.0), "pool_size=2.0"),
    ],
)
def test_constructor_errors_name_argument_and_value(make, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        make()


@pytest.mark.parametrize(
    "layer, input_shape, match",
    [
        (AvgPool2D(3), (1, 2, 5), "AvgPool2D: pool_size=(3, 3) is larger than the input (2, 5)"),
        (AvgPool2D(2), (8,), "input_shape=(8,)"),
        (GlobalAvgPool2D(), (8,), "GlobalAvgPool2D expects samples of shape (C, H, W)"),
        (GlobalMaxPool2D(), (2, 3), "input_shape=(2, 3)"),
    ],
)
def test_build_errors_name_the_layer_and_value(layer, input_shape, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        layer.build(input_shape, np.random.RandomState(0), np.float64)


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

AVG_CASES = [
    ((2, 6, 6), 2, None),
    ((2, 7, 5), 2, None),  # floor mode: a row and a column left over
    ((1, 6, 6), 3, 1),  # overlapping windows
    ((2, 7, 6), (3, 2), (2, 1)),
    ((1, 8, 7), 2, 3),  # gaps between windows
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avgpool2d_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    input_shape, pool, stride = case
    rng = np.random.RandomState(7)
    layer = build(AvgPool2D(pool, stride=stride), input_shape, dtype)
    X = rng.standard_normal((3,) + input_shape).astype(dtype)
    out = layer.forward(X, training=True)
    G = rng.standard_normal(out.shape).astype(dtype)
    dX = layer.backward(G)

    x = torch.tensor(X, requires_grad=True)
    out_t = torch.nn.AvgPool2d(pool, stride=stride)(x)
    (out_t * torch.from_numpy(G)).sum().backward()
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dX, x.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pools_match_torch_adaptive_pools(kind, ties, dtype):
    """Global max-pool's ties go where AdaptiveMaxPool2d(1) sends them."""
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(8)
    shape = (4, 3, 5, 6)
    if ties:
        X = rng.randint(0, 3, size=shape).astype(dtype)
    else:
        X = rng.standard_normal(shape).astype(dtype)
    layer = build(GlobalAvgPool2D() if kind == "avg" else GlobalMaxPool2D(), shape[1:], dtype)
    out = layer.forward(channels_last(X), training=True)
    G = rng.randint(-9, 10, size=out.shape).astype(dtype)
    dX = layer.backward(G)

    x = torch.tensor(X, requires_grad=True)
    pool = torch.nn.AdaptiveAvgPool2d(1) if kind == "avg" else torch.nn.AdaptiveMaxPool2d(1)
    out_t = torch.flatten(pool(x), 1)
    (out_t * torch.from_numpy(G)).sum().backward()
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dX, x.grad.numpy(), rtol=tol, atol=tol)
