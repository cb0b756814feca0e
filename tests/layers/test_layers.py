"""Correctness of the layers (the network built from them: test_network.py).

Forward passes are checked against naive loop references written below (slow
and obvious on purpose), gradients against central finite differences in
float64. Max-pool ties are checked separately against the reference, because
finite differences are meaningless at a tie. What every layer must do
(gradients, dtypes and memory layout, pickling, ONNX, PyTorch) is checked over
every public layer class by test_conformance.py.
"""

import re

import numpy as np
import pytest
from tests.support.gradcheck import numerical_gradient

from skcnn._functional import conv as conv_kernels
from skcnn.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Logistic,
    MaxPool2D,
    ReLU,
    Tanh,
)

# ---------------------------------------------------------------------------
# Naive references
# ---------------------------------------------------------------------------


def reference_pads(padding, kernel_size):
    """``((top, bottom), (left, right))`` as PyTorch defines them."""
    kh, kw = kernel_size
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        # PyTorch: total k - 1, the smaller half before, the rest after.
        return (
            ((kh - 1) // 2, (kh - 1) - (kh - 1) // 2),
            ((kw - 1) // 2, (kw - 1) - (kw - 1) // 2),
        )
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    return (padding[0], padding[0]), (padding[1], padding[1])


def naive_conv2d(x, weight, bias, stride, pads):
    """Cross-correlation of NCHW ``x`` with ``weight`` (out, in, kh, kw), loops."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    sh, sw = stride
    (top, bottom), (left, right) = pads
    xp = np.zeros((n, c, h + top + bottom, w + left + right))
    xp[:, :, top : top + h, left : left + w] = x
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(n):
        for f in range(o):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, :, r * sh : r * sh + kh, s * sw : s * sw + kw]
                    out[i, f, r, s] = np.sum(window * weight[f])
                    if bias is not None:
                        out[i, f, r, s] += bias[f]
    return out


def naive_maxpool2d(x, pool_size, stride):
    """Max-pool NCHW ``x`` (floor mode) with loops.

    Returns the output and the gradient router ``backward(dout) -> dx`` that
    sends each window's gradient to its first maximum in row-major order
    (``np.argmax`` returns the first occurrence).
    """
    n, c, h, w = x.shape
    ph, pw = pool_size
    sh, sw = stride
    ho, wo = (h - ph) // sh + 1, (w - pw) // sw + 1
    out = np.zeros((n, c, ho, wo), dtype=x.dtype)
    winners = {}
    for i in range(n):
        for k in range(c):
            for r in range(ho):
                for s in range(wo):
                    window = x[i, k, r * sh : r * sh + ph, s * sw : s * sw + pw]
                    out[i, k, r, s] = window.max()
                    dr, ds = divmod(int(np.argmax(window)), pw)
                    winners[i, k, r, s] = (i, k, r * sh + dr, s * sw + ds)

    def backward(dout):
        dx = np.zeros(x.shape, dtype=dout.dtype)
        for out_index, in_index in winners.items():
            dx[in_index] += dout[out_index]
        return dx

    return out, backward




def assert_gradients_match(layer, X, rng, rtol=1e-6, atol=1e-8):
    """Check ``layer.backward`` against finite differences of ``sum(Y * G)``."""
    Y = layer.forward(X, training=True)
    G = rng.standard_normal(Y.shape)
    dX = layer.backward(G)
    assert dX.shape == X.shape
    assert len(layer.grads) == len(layer.params)
    analytic = [g.copy() for g in layer.grads]

    def f():
        return float(np.sum(layer.forward(X) * G))

    np.testing.assert_allclose(dX, numerical_gradient(f, X), rtol=rtol, atol=atol)
    for param, grad in zip(layer.params, analytic):
        assert grad.shape == param.shape
        np.testing.assert_allclose(
            grad, numerical_gradient(f, param), rtol=rtol, atol=atol
        )


def build(layer, input_shape, seed=0, dtype=np.float64):
    layer.build(input_shape, np.random.RandomState(seed), dtype)
    return layer


# ---------------------------------------------------------------------------
# Conv2D forward against the loop reference
# ---------------------------------------------------------------------------

PADDING_KINDS = ["valid", "same", "int", "pair"]
DTYPES = [np.float64, np.float32]


def random_conv_case(seed):
    """A random Conv2D configuration; padding kind and dtype cycle with seed."""
    rng = np.random.RandomState(seed)
    kind = PADDING_KINDS[seed % 4]
    dtype = DTYPES[(seed // 4) % 2]
    kernel = tuple(int(k) for k in rng.randint(1, 5, size=2))
    if kind == "same":
        stride = 1
    else:
        stride = tuple(int(s) for s in rng.randint(1, 4, size=2))
        if stride[0] == stride[1] and rng.rand() < 0.5:
            stride = stride[0]
    padding = {
        "valid": "valid",
        "same": "same",
        "int": int(rng.randint(0, 3)),
        "pair": tuple(int(p) for p in rng.randint(0, 3, size=2)),
    }[kind]
    if rng.rand() < 0.3 and kernel[0] == kernel[1]:
        kernel = kernel[0]  # also exercise the scalar form
    (top, bottom), (left, right) = reference_pads(
        padding, kernel if isinstance(kernel, tuple) else (kernel, kernel)
    )
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    h = int(rng.randint(max(1, kh - top - bottom), kh + 6))
    w = int(rng.randint(max(1, kw - left - right), kw + 6))
    n, c, o = (int(v) for v in rng.randint(1, 4, size=3))
    return rng, dict(
        n=n, c=c, h=h, w=w, filters=o, kernel_size=kernel, stride=stride,
        padding=padding, dtype=dtype,
    )


@pytest.mark.parametrize("seed", range(24))
def test_conv2d_forward_matches_loop_reference(seed):
    rng, case = random_conv_case(seed)
    dtype = case["dtype"]
    conv = Conv2D(
        case["filters"], kernel_size=case["kernel_size"], stride=case["stride"],
        padding=case["padding"],
    )
    out_shape = conv.build((case["c"], case["h"], case["w"]), rng, dtype)
    conv.bias[...] = rng.standard_normal(conv.bias.shape)
    assert conv.weight.dtype == dtype and conv.bias.dtype == dtype
    X = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)

    out = conv.forward(X)

    kernel = conv.weight.shape[2:]
    stride = case["stride"] if isinstance(case["stride"], tuple) else (case["stride"],) * 2
    expected = naive_conv2d(
        X.astype(np.float64), conv.weight.astype(np.float64),
        conv.bias.astype(np.float64), stride, reference_pads(case["padding"], kernel),
    )
    assert out.dtype == dtype
    assert out.shape == expected.shape == (case["n"],) + tuple(out_shape)
    if case["padding"] == "same":
        assert out.shape[2:] == X.shape[2:]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    # Inference and training passes compute the same values.
    np.testing.assert_array_equal(conv.forward(X, training=True), out)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, (2, 3), (4, 1)])
def test_conv2d_same_padding_split(kernel):
    """'same' keeps the size; odd kernels pad k // 2 on both sides, even ones
    put the extra row/column after (PyTorch's split)."""
    rng = np.random.RandomState(0)
    conv = build(Conv2D(2, kernel_size=kernel, padding="same"), (1, 5, 6))
    X = rng.standard_normal((1, 1, 5, 6))
    kh, kw = conv.weight.shape[2:]
    pads = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    if kh % 2:
        assert pads[0] == (kh // 2, kh // 2)
    out = conv.forward(X)
    assert out.shape == (1, 2, 5, 6)
    np.testing.assert_allclose(
        out, naive_conv2d(X, conv.weight, conv.bias, (1, 1), pads), rtol=1e-12, atol=1e-12
    )


def test_conv2d_bias_false():
    rng = np.random.RandomState(1)
    conv = build(Conv2D(3, kernel_size=2, bias=False), (2, 4, 4))
    assert conv.bias is None and len(conv.params) == 1 and len(conv.grads) == 1
    X = rng.standard_normal((2, 2, 4, 4))
    np.testing.assert_allclose(
        conv.forward(X), naive_conv2d(X, conv.weight, None, (1, 1), ((0, 0), (0, 0))),
        rtol=1e-12, atol=1e-12,
    )
    assert_gradients_match(conv, X, rng)


# ---------------------------------------------------------------------------
# MaxPool2D forward and gradient routing against the loop reference
# ---------------------------------------------------------------------------


def random_pool_case(seed):
    rng = np.random.RandomState(1000 + seed)
    pool = tuple(int(p) for p in rng.randint(1, 5, size=2))
    choice = seed % 4
    if choice == 0:
        stride = None  # stride = pool: disjoint windows
    elif choice == 1:
        stride = tuple(int(s) for s in rng.randint(1, 4, size=2))  # gaps or overlaps
    else:
        # Windows overlapping along one axis only (rows for 2, columns for 3).
        axis = choice - 2
        pool = tuple(max(2, p) if a == axis else p for a, p in enumerate(pool))
        stride = tuple(int(rng.randint(1, p)) if a == axis else p for a, p in enumerate(pool))
    n, c = (int(v) for v in rng.randint(1, 4, size=2))
    h = int(rng.randint(pool[0], pool[0] + 6))
    w = int(rng.randint(pool[1], pool[1] + 6))
    return rng, pool, stride, (n, c, h, w)


def tied_input(rng, shape):
    """Values rounded to three levels, and a constant block: ties everywhere."""
    X = rng.randint(0, 3, size=shape).astype(np.float64)
    n, c, h, w = shape
    X[:, :, : (h + 1) // 2, : (w + 1) // 2] = 1.0
    return X


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_maxpool2d_matches_loop_reference(seed, ties, dtype):
    rng, pool, stride, shape = random_pool_case(seed)
    layer = MaxPool2D(pool, stride=stride)
    out_shape = build(layer, shape[1:], dtype=dtype).output_shape
    X = tied_input(rng, shape) if ties else rng.standard_normal(shape)
    X = X.astype(dtype)

    out = layer.forward(X, training=True)
    # Integer upstream gradients make accumulated sums exact in any order.
    dout = rng.randint(-9, 10, size=out.shape).astype(dtype)
    dX = layer.backward(dout)

    expected_out, route = naive_maxpool2d(X, pool, pool if stride is None else stride)
    assert out.dtype == dtype and dX.dtype == dtype
    assert out.shape == expected_out.shape == shape[:1] + tuple(out_shape)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(dX, route(dout))
    np.testing.assert_array_equal(layer.forward(X), out)


def test_maxpool2d_constant_windows_route_to_top_left():
    layer = build(MaxPool2D((2, 3)), (2, 4, 6))
    X = np.full((1, 2, 4, 6), 0.5)
    dout = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    layer.forward(X, training=True)
    dX = layer.backward(dout)
    expected = np.zeros_like(X)
    expected[:, :, ::2, ::3] = dout
    np.testing.assert_array_equal(dX, expected)
    assert np.count_nonzero(dX) == dout.size


def test_maxpool2d_first_maximum_in_row_major_order():
    """A window [[1, 3], [3, 2]] sends its gradient to (0, 1), not (1, 0)."""
    layer = build(MaxPool2D(2), (1, 2, 2))
    X = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    layer.forward(X, training=True)
    dX = layer.backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(dX, [[[[0.0, 7.0], [0.0, 0.0]]]])


def test_maxpool2d_floor_mode_leftover_gets_zero_gradient():
    rng = np.random.RandomState(3)
    layer = build(MaxPool2D(2), (2, 5, 7))
    X = rng.standard_normal((3, 2, 5, 7))
    out = layer.forward(X, training=True)
    assert out.shape == (3, 2, 2, 3)
    dX = layer.backward(rng.standard_normal(out.shape))
    assert not dX[:, :, 4, :].any()
    assert not dX[:, :, :, 6].any()
    # Every window routes to exactly one of its four positions.
    assert np.count_nonzero(dX[:, :, :4, :6]) == out.size


def test_maxpool2d_overlapping_windows_accumulate():
    """A single peak inside all nine 3x3 windows (stride 1) collects them all."""
    layer = build(MaxPool2D(3, stride=1), (1, 5, 5))
    X = np.zeros((1, 1, 5, 5))
    X[0, 0, 2, 2] = 1.0
    out = layer.forward(X, training=True)
    np.testing.assert_array_equal(out, np.ones((1, 1, 3, 3)))
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dX = layer.backward(dout)
    expected = np.zeros_like(X)
    expected[0, 0, 2, 2] = dout.sum()
    np.testing.assert_array_equal(dX, expected)


# ---------------------------------------------------------------------------
# Gradients against finite differences (float64)
# ---------------------------------------------------------------------------

CONV_GRAD_CASES = [
    dict(filters=3, kernel_size=3, stride=1, padding="valid", input_shape=(2, 5, 5)),
    dict(filters=2, kernel_size=3, stride=1, padding="same", input_shape=(2, 4, 5)),
    dict(filters=2, kernel_size=(2, 3), stride=(2, 1), padding=1, input_shape=(3, 5, 4)),
    dict(filters=2, kernel_size=4, stride=1, padding="same", input_shape=(1, 5, 4)),
    dict(filters=3, kernel_size=(3, 2), stride=3, padding=(1, 2), input_shape=(2, 7, 5)),
    dict(filters=1, kernel_size=1, stride=2, padding="valid", input_shape=(2, 5, 4)),
]


def _conv_case_id(case):
    return "k{kernel_size}-s{stride}-p{padding}-in{input_shape}".format(**case).replace(" ", "")


@pytest.mark.parametrize("im2col_bytes", [None, 1], ids=["im2col-whole", "im2col-by-sample"])
@pytest.mark.parametrize("case", CONV_GRAD_CASES, ids=_conv_case_id)
def test_conv2d_gradients_finite_differences(case, im2col_bytes, monkeypatch):
    """Also with the im2col matrix built one sample at a time: the weight
    gradient then builds it again instead of keeping it."""
    if im2col_bytes is not None:
        monkeypatch.setattr(conv_kernels, "IM2COL_CHUNK_BYTES", im2col_bytes)
    case = dict(case)
    input_shape = case.pop("input_shape")
    rng = np.random.RandomState(7)
    conv = build(Conv2D(**case), input_shape)
    conv.bias[...] = rng.standard_normal(conv.bias.shape)
    X = rng.standard_normal((2,) + input_shape)
    if im2col_bytes is not None:
        conv.forward(X, training=True)
        assert conv._cache[0][1] is None  # not kept
        conv.clear_cache()
    assert_gradients_match(conv, X, rng)


def test_conv2d_im2col_groups_give_the_one_piece_numbers(monkeypatch):
    rng = np.random.RandomState(9)
    X = rng.standard_normal((5, 3, 6, 7))
    dY = rng.standard_normal((5, 4, 6, 7))
    results = []
    for chunk_bytes in (1 << 30, 1, 2 * 42 * (27 + 1) * 8):  # whole, 1 sample, 2 samples
        monkeypatch.setattr(conv_kernels, "IM2COL_CHUNK_BYTES", chunk_bytes)
        conv = build(Conv2D(4, padding="same"), (3, 6, 7))
        out = np.array(conv.forward(X, training=True))
        dX = np.array(conv.backward(dY))
        results.append((out, dX, [g.copy() for g in conv.grads]))
    for out, dX, grads in results[1:]:
        np.testing.assert_allclose(out, results[0][0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dX, results[0][1], rtol=1e-12, atol=1e-12)
        for got, want in zip(grads, results[0][2]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv2d_float32_backward_stays_float32_and_matches_float64():
    rng = np.random.RandomState(8)
    conv64 = build(Conv2D(3, kernel_size=(3, 2), stride=(1, 2), padding=1), (2, 6, 5))
    conv32 = build(
        Conv2D(3, kernel_size=(3, 2), stride=(1, 2), padding=1), (2, 6, 5), dtype=np.float32
    )
    conv32.weight[...] = conv64.weight
    X = rng.standard_normal((2, 2, 6, 5))
    G = rng.standard_normal((2,) + conv64.output_shape)
    conv64.forward(X, training=True)
    dX64 = conv64.backward(G)
    out32 = conv32.forward(X.astype(np.float32), training=True)
    dX32 = conv32.backward(G.astype(np.float32))
    assert out32.dtype == np.float32 and dX32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv32.grads)
    np.testing.assert_allclose(dX32, dX64, rtol=1e-4, atol=1e-5)
    for g32, g64 in zip(conv32.grads, conv64.grads):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)


def distinct_values(rng, shape, gap=1e-3):
    """Values with no two closer than ``gap``: no ties, no kink within eps."""
    values = (rng.permutation(int(np.prod(shape))) - np.prod(shape) / 2) * gap * 4
    return values.reshape(shape) + rng.uniform(-gap, gap, size=shape)


@pytest.mark.parametrize(
    "pool_size, stride, input_shape",
    [(2, None, (2, 4, 5)), (3, 1, (1, 5, 5)), ((2, 3), (1, 2), (2, 5, 7)), ((3, 2), 2, (1, 6, 5))],
)
def test_maxpool2d_gradient_finite_differences(pool_size, stride, input_shape):
    rng = np.random.RandomState(9)
    layer = build(MaxPool2D(pool_size, stride=stride), input_shape)
    X = distinct_values(rng, (2,) + input_shape)
    assert_gradients_match(layer, X, rng)


def test_dense_gradients_finite_differences():
    rng = np.random.RandomState(10)
    layer = build(Dense(4), (5,))
    layer.bias[...] = rng.standard_normal(4)
    X = rng.standard_normal((3, 5))
    np.testing.assert_allclose(layer.forward(X), X @ layer.weight + layer.bias, rtol=1e-14)
    assert layer.weight.shape == (5, 4)
    assert_gradients_match(layer, X, rng)


def test_dense_without_bias():
    rng = np.random.RandomState(11)
    layer = build(Dense(2, bias=False), (3,))
    assert layer.bias is None and len(layer.params) == 1
    X = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.forward(X), X @ layer.weight, rtol=1e-14)
    assert_gradients_match(layer, X, rng)


@pytest.mark.parametrize(
    "layer, reference",
    [
        (ReLU(), lambda x: np.maximum(x, 0)),
        (Tanh(), np.tanh),
        (Logistic(), lambda x: 1 / (1 + np.exp(-x))),
        (Identity(), lambda x: x),
        (LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
        (LeakyReLU(-0.5), lambda x: np.where(x > 0, x, -0.5 * x)),
        (LeakyReLU(3.0), lambda x: np.where(x > 0, x, 3 * x)),
    ],
    ids=["relu", "tanh", "logistic", "identity", "leaky", "leaky-negative", "leaky-steep"],
)
def test_activation_values_and_gradients(layer, reference):
    rng = np.random.RandomState(12)
    shape = (2, 3, 4, 3)
    layer = build(layer, shape[1:])
    X = distinct_values(rng, shape, gap=1e-2)  # away from relu's kink at 0
    assert np.abs(X).min() > 1e-3
    np.testing.assert_allclose(layer.forward(X), reference(X), rtol=1e-14, atol=1e-300)
    assert layer.params == [] and layer.grads == []
    assert_gradients_match(layer, X, rng)


def test_relu_derivative_at_zero_is_zero():
    layer = ReLU()
    X = np.array([[-1.0, 0.0, -0.0, 2.0]])
    np.testing.assert_array_equal(layer.forward(X, training=True), [[0, 0, 0, 2]])
    np.testing.assert_array_equal(layer.backward(np.full((1, 4), 3.0)), [[0, 0, 0, 3]])


@pytest.mark.parametrize("slope", [0.01, -0.5, 0.0])
def test_leaky_relu_derivative_comes_from_the_input(slope):
    """At 0 the derivative is the slope (PyTorch's); where a negative or
    zero slope makes outputs of both signs alike, the input still tells."""
    layer = LeakyReLU(slope)
    X = np.array([[-2.0, -0.0, 0.0, 3.0]])
    out = layer.forward(X, training=True)
    np.testing.assert_array_equal(out, [[-2 * slope, 0, 0, 3]])
    np.testing.assert_array_equal(layer.backward(np.full((1, 4), 5.0)), [[5 * slope, 5 * slope, 5 * slope, 5]])


def test_logistic_does_not_overflow():
    layer = Logistic()
    X = np.array([[-1000.0, 0.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = layer.forward(X, training=True)
        dX = layer.backward(np.ones_like(X))
    np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(dX, [[0.0, 0.25, 0.0]])


def test_flatten_follows_chw_order_and_gradient():
    rng = np.random.RandomState(13)
    layer = build(Flatten(), (3, 2, 4))
    assert layer.output_shape == (24,)
    X = rng.standard_normal((2, 3, 2, 4))
    out = layer.forward(X, training=True)
    np.testing.assert_array_equal(out, np.stack([x.ravel(order="C") for x in X]))
    dY = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(layer.backward(dY), dY.reshape(X.shape))
    assert_gradients_match(layer, X, rng)


def test_flatten_of_conv_output_is_chw_order():
    """The conv output is NCHW-shaped whatever its memory: flatten reads (C, H, W)."""
    rng = np.random.RandomState(14)
    conv = build(Conv2D(3, kernel_size=2), (2, 4, 5))
    flat = build(Flatten(), conv.output_shape)
    Y = conv.forward(rng.standard_normal((2, 2, 4, 5)))
    out = flat.forward(Y, training=True)
    np.testing.assert_array_equal(out, np.ascontiguousarray(Y).reshape(2, -1))
    dY = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(flat.backward(dY), dY.reshape(Y.shape))


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_zeroes_at_rate_and_scales_the_rest(rate, dtype):
    layer = Dropout(rate)
    layer.build((200, 100), np.random.RandomState(0), dtype)
    X = np.random.RandomState(1).uniform(1, 2, size=(3, 200, 100)).astype(dtype)
    assert layer.forward(X) is X  # inference: identity
    out = layer.forward(X, training=True)
    assert out.dtype == dtype
    kept = out != 0
    assert abs(1 - kept.mean() - rate) < 0.01  # 60,000 draws
    np.testing.assert_allclose(out[kept], X[kept] / (1 - rate), rtol=1e-6)
    # Backward routes through the same mask, with the same scale.
    dY = np.random.RandomState(2).standard_normal(X.shape).astype(dtype)
    dX = layer.backward(dY)
    np.testing.assert_array_equal(dX == 0, ~kept)
    np.testing.assert_allclose(dX[kept], dY[kept] / (1 - rate), rtol=1e-6)


def test_dropout_gradient_finite_differences():
    layer = Dropout(0.3)
    layer.build((4, 5), np.random.RandomState(0), np.float64)
    X = np.random.RandomState(1).standard_normal((3, 4, 5))
    weights = np.random.RandomState(2).standard_normal(X.shape)

    keys = np.arange(3, dtype=np.uint64)

    def loss():
        # The same mask at every call: fixed keys (not a hash of the perturbed
        # input) and seed (without one, forward moves the layer's own on).
        return float(np.sum(layer.forward(X, training=True, seed=7, keys=keys) * weights))

    loss()
    analytic = layer.backward(weights)
    np.testing.assert_allclose(analytic, numerical_gradient(loss, X), atol=1e-8)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Conv2D(0), "filters=0"),
        (lambda: Conv2D(2.5), "filters=2.5"),
        (lambda: Conv2D(True), "filters=True"),
        (lambda: Conv2D(4, kernel_size=-1), "kernel_size=-1"),
        (lambda: Conv2D(4, kernel_size=(3, 0)), "kernel_size=(3, 0)"),
        (lambda: Conv2D(4, kernel_size=(1, 2, 3)), "kernel_size=(1, 2, 3)"),
        (lambda: Conv2D(4, stride=0), "stride=0"),
        (lambda: Conv2D(4, padding="full"), "padding='full'"),
        (lambda: Conv2D(4, padding=-1), "padding=-1"),
        (lambda: Conv2D(4, padding=(1, -2)), "padding=(1, -2)"),
        (lambda: Conv2D(4, padding=1.5), "padding=1.5"),
        (lambda: Conv2D(4, padding="same", stride=2), "stride=2"),
        (lambda: MaxPool2D(0), "pool_size=0"),
        (lambda: MaxPool2D((2, -1)), "pool_size=(2, -1)"),
        (lambda: MaxPool2D(2, stride=0), "stride=0"),
        (lambda: Dense(0), "units=0"),
        (lambda: Dense(2.0), "units=2.0"),
        (lambda: Dropout(1.0), "rate=1.0"),
        (lambda: Dropout(-0.1), "rate=-0.1"),
        (lambda: Dropout("0.5"), "rate='0.5'"),
        (lambda: LeakyReLU(float("nan")), "negative_slope=nan"),
        (lambda: LeakyReLU("0.1"), "negative_slope='0.1'"),
    ],
)
def test_constructor_errors_name_argument_and_value(make, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        make()


def test_same_with_stride_error_mentions_same():
    with pytest.raises(ValueError, match="same"):
        Conv2D(4, padding="same", stride=(1, 2))


@pytest.mark.parametrize(
    "layer, input_shape, match",
    [
        (Conv2D(4, kernel_size=5), (1, 4, 4), "kernel_size=(5, 5)"),
        (Conv2D(4, kernel_size=(2, 5), padding=1), (1, 4, 2), "kernel_size=(2, 5)"),
        (Conv2D(4), (4, 4), "input_shape=(4, 4)"),
        (MaxPool2D(3), (1, 2, 5), "pool_size=(3, 3)"),
        (MaxPool2D((1, 6)), (1, 2, 5), "pool_size=(1, 6)"),
        (MaxPool2D(2), (8,), "input_shape=(8,)"),
        (Dense(3), (1, 4, 4), "input_shape=(1, 4, 4)"),
    ],
)
def test_build_errors_name_argument_and_value(layer, input_shape, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        layer.build(input_shape, np.random.RandomState(0), np.float64)


def test_conv_kernel_fits_once_padded():
    """A kernel larger than the input is fine if padding makes room."""
    conv = build(Conv2D(2, kernel_size=5, padding=1), (1, 3, 3))
    assert conv.output_shape == (2, 1, 1)
