"""The documented contracts of the pure kernels in ``skcnn._functional``.

The kernels work on channels-last ``(N, H, W, C)`` arrays. Their values are
checked against short, independent numpy formulations (an einsum over
``sliding_window_view``), small hand-worked examples, and the adjoint
identity that ties the convolution's input gradient to its forward pass.
"""

import re

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax

from skcnn._functional.conv import (
    conv2d_backward_input,
    conv2d_backward_weight,
    conv2d_forward,
    pad_nhwc,
    unblock,
)
from skcnn._functional.geometry import as_pair, output_length, resolve_padding
from skcnn._functional.pooling import maxpool2d_backward, maxpool2d_forward
from skcnn._loss import log_softmax, softmax


def einsum_conv2d_nhwc(x, weight, bias, stride, pads):
    """Cross-correlation of NHWC ``x`` with ``weight`` (out, in, kh, kw)."""
    (top, bottom), (left, right) = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw = weight.shape[2:]
    # windows: (N, Ho', Wo', C, kh, kw), then keep every stride-th window.
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))
    windows = windows[:, :: stride[0], :: stride[1]]
    out = np.einsum("nhwcij,ocij->nhwo", windows, weight)
    return out if bias is None else out + bias


def weight_matrix(weight):
    """``(out, in, kh, kw)`` as the documented ``(kh*kw*C, O)`` matrix."""
    return weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])


def weight_offsets(weight):
    """``(out, in, kh, kw)`` as the documented ``(kh, kw, O, C)`` array."""
    return np.ascontiguousarray(weight.transpose(2, 3, 0, 1))


# ---------------------------------------------------------------------------
# Argument normalization
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [(3, (3, 3)), ((2, 5), (2, 5)), ([1, 4], (1, 4)), (np.int64(2), (2, 2))],
)
def test_as_pair(value, expected):
    pair = as_pair(value, "kernel_size")
    assert pair == expected and all(type(v) is int for v in pair)


@pytest.mark.parametrize(
    "value", [0, -1, (2, 0), (1,), (1, 2, 3), 1.5, (1.0, 2), True, "2", None]
)
def test_as_pair_rejects_with_name_and_value(value):
    with pytest.raises(ValueError, match=re.escape(f"stride={value!r}")):
        as_pair(value, "stride")


@pytest.mark.parametrize(
    "padding, kernel, expected",
    [
        ("valid", (3, 3), ((0, 0), (0, 0))),
        ("same", (3, 5), ((1, 1), (2, 2))),
        ("same", (1, 1), ((0, 0), (0, 0))),
        # Even kernels: PyTorch puts the extra row / column after.
        ("same", (2, 4), ((0, 1), (1, 2))),
        ("same", (4, 3), ((1, 2), (1, 1))),
        (0, (3, 3), ((0, 0), (0, 0))),
        (2, (3, 3), ((2, 2), (2, 2))),
        ((1, 3), (3, 3), ((1, 1), (3, 3))),
        ([0, 2], (3, 3), ((0, 0), (2, 2))),
    ],
)
def test_resolve_padding(padding, kernel, expected):
    assert resolve_padding(padding, kernel) == expected


@pytest.mark.parametrize("padding", ["full", "SAME", -1, (1, -1), (1,), 1.0, True, None])
def test_resolve_padding_rejects_with_value(padding):
    with pytest.raises(ValueError, match=re.escape(f"padding={padding!r}")):
        resolve_padding(padding, (3, 3))


@pytest.mark.parametrize(
    "args, expected",
    [
        ((5, 2, 2), 2),  # floor mode: the last row is left over
        ((4, 2, 2), 2),
        ((7, 3, 2, 1, 1), 4),
        ((5, 5, 1), 1),
        ((3, 5, 1, 1, 1), 1),
        ((8, 3, 3, 0, 1), 3),
    ],
)
def test_output_length_floor_mode(args, expected):
    assert output_length(*args) == expected


def test_pad_nhwc():
    x = np.arange(1.0, 7.0).reshape(1, 2, 3, 1).astype(np.float32)
    out = pad_nhwc(x, ((1, 0), (0, 2)))
    assert out.dtype == np.float32 and out.shape == (1, 3, 5, 1)
    np.testing.assert_array_equal(
        out[0, :, :, 0], [[0, 0, 0, 0, 0], [1, 2, 3, 0, 0], [4, 5, 6, 0, 0]]
    )
    assert not np.shares_memory(pad_nhwc(x, ((0, 0), (0, 0))), x)


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------


def random_conv_problem(seed):
    rng = np.random.RandomState(seed)
    kh, kw = (int(k) for k in rng.randint(1, 5, size=2))
    stride = tuple(int(s) for s in rng.randint(1, 4, size=2))
    pads = tuple(tuple(int(p) for p in rng.randint(0, 3, size=2)) for _ in range(2))
    h = int(rng.randint(max(1, kh - sum(pads[0])), kh + 5))
    w = int(rng.randint(max(1, kw - sum(pads[1])), kw + 5))
    n, c, o = (int(v) for v in rng.randint(1, 4, size=3))
    x = rng.standard_normal((n, h, w, c))
    weight = rng.standard_normal((o, c, kh, kw))
    bias = rng.standard_normal(o)
    return rng, x, weight, bias, (kh, kw), stride, pads


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_forward_matches_einsum(seed):
    _, x, weight, bias, kernel, stride, pads = random_conv_problem(seed)
    out, _ = conv2d_forward(x, weight_matrix(weight), bias, kernel, stride, pads)
    expected = einsum_conv2d_nhwc(x, weight, bias, stride, pads)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out_nobias, _ = conv2d_forward(x, weight_matrix(weight), None, kernel, stride, pads)
    np.testing.assert_allclose(out_nobias, expected - bias, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("channels", [1, 3])
def test_conv2d_forward_pool_blocked_is_a_reordering(seed, channels):
    rng = np.random.RandomState(seed)
    kernel = tuple(int(k) for k in rng.randint(1, 4, size=2))
    stride = tuple(int(s) for s in rng.randint(1, 3, size=2))
    blocks = tuple(int(b) for b in rng.randint(1, 4, size=2))
    if blocks == (1, 1):
        blocks = (1, 2)
    pads = ((1, 0), (0, 2))
    # An input whose output is a whole number of blocks: Ho = bh * hb.
    hb, wb = (int(v) for v in rng.randint(1, 4, size=2))
    h = (blocks[0] * hb - 1) * stride[0] + kernel[0] - 1
    w = (blocks[1] * wb - 1) * stride[1] + kernel[1] - 2
    x = rng.standard_normal((2, h, w, channels))
    weight = rng.standard_normal((4, channels) + kernel)
    bias = rng.standard_normal(4)
    plain, (_, cols) = conv2d_forward(x, weight_matrix(weight), bias, kernel, stride, pads)
    blocked, (_, blocked_cols) = conv2d_forward(
        x, weight_matrix(weight), bias, kernel, stride, pads, blocks=blocks
    )
    assert blocked.shape == (2,) + blocks + (hb, wb, 4)
    np.testing.assert_allclose(unblock(blocked), plain, rtol=1e-12, atol=1e-12)
    # The im2col rows are the same rows, in block order.
    np.testing.assert_array_equal(
        unblock(np.asarray(blocked_cols).reshape(2, *blocks, hb, wb, -1)),
        np.asarray(cols).reshape(2, blocks[0] * hb, blocks[1] * wb, -1),
    )
    # Block (i, j) is window offset (i, j) of every bh x bw window.
    np.testing.assert_array_equal(
        blocked[:, blocks[0] - 1, 0], plain[:, blocks[0] - 1 :: blocks[0], :: blocks[1]]
    )


@pytest.mark.parametrize("ties", [False, True])
def test_maxpool2d_blocked_equals_plain(ties):
    rng = np.random.RandomState(3)
    x = rng.randint(0, 3, size=(2, 6, 9, 4)).astype(float) if ties else rng.rand(2, 6, 9, 4)
    # (n, Ho, ph, Wo, pw, c) -> (n, ph, pw, Ho, Wo, c)
    blocked = np.ascontiguousarray(x.reshape(2, 3, 2, 3, 3, 4).transpose(0, 2, 4, 1, 3, 5))
    np.testing.assert_array_equal(unblock(blocked), x)
    out = maxpool2d_forward(x, (2, 3), (2, 3))
    np.testing.assert_array_equal(maxpool2d_forward(blocked, (2, 3), (2, 3), blocked=True), out)
    dout = rng.standard_normal(out.shape)
    dx = maxpool2d_backward(dout, x, out, (2, 3), (2, 3))
    dx_blocked = maxpool2d_backward(dout, blocked, out, (2, 3), (2, 3), blocked=True)
    np.testing.assert_array_equal(unblock(dx_blocked), dx)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("unit_stride", [False, True])
def test_conv2d_backward_input_is_adjoint_of_forward(seed, unit_stride):
    """<conv(x), g> == <x, conv_backward_input(g)> for every x and g.

    With unit strides most problems take the transposed-convolution path
    (padding below the kernel size), the others the shifted-GEMM one.
    """
    rng, x, weight, _, kernel, stride, pads = random_conv_problem(100 + seed)
    if unit_stride:
        stride = (1, 1)
    out, _ = conv2d_forward(x, weight_matrix(weight), None, kernel, stride, pads)
    g = rng.standard_normal(out.shape)
    dx = conv2d_backward_input(g, weight_offsets(weight), x.shape[1:3], stride, pads)
    assert dx.shape == x.shape
    np.testing.assert_allclose(np.vdot(out, g), np.vdot(x, dx), rtol=1e-12)
    # Linear in g: the gradient of the k-th input pixel is the sum of the
    # outputs it feeds, each weighted by the kernel tap that touched it.
    x_unit = np.zeros_like(x)
    index = tuple(int(rng.randint(s)) for s in x.shape)
    x_unit[index] = 1.0
    response, _ = conv2d_forward(x_unit, weight_matrix(weight), None, kernel, stride, pads)
    assert dx[index] == pytest.approx(np.vdot(response, g), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("stride, pads", [
    ((1, 1), ((1, 1), (1, 1))),  # transposed-convolution path
    ((1, 1), ((3, 1), (0, 2))),  # padding >= kernel: shifted GEMMs
    ((2, 1), ((1, 0), (1, 1))),  # stride 2: shifted GEMMs
])
def test_conv2d_backward_input_takes_pool_blocked_gradients(stride, pads):
    rng = np.random.RandomState(4)
    weight = rng.standard_normal((5, 3, 3, 3))
    x = rng.standard_normal((2, 8, 6, 3))
    out, _ = conv2d_forward(x, weight_matrix(weight), None, (3, 3), stride, pads)
    assert out.shape[1] % 2 == 0 and out.shape[2] % 3 == 0
    hb, wb = out.shape[1] // 2, out.shape[2] // 3
    g = rng.standard_normal((2, 2 * hb, 3 * wb, 5))
    g_blocked = np.ascontiguousarray(g.reshape(2, hb, 2, wb, 3, 5).transpose(0, 2, 4, 1, 3, 5))
    assert np.array_equal(unblock(g_blocked), g)
    plain = conv2d_backward_input(g, weight_offsets(weight), (8, 6), stride, pads)
    assert plain.shape == x.shape
    blocked = conv2d_backward_input(
        g_blocked, weight_offsets(weight), (8, 6), stride, pads, blocked=True
    )
    np.testing.assert_array_equal(blocked, plain)


def test_conv2d_kernels_take_an_empty_batch():
    weight = np.ones((3, 2, 3, 3))
    out, saved = conv2d_forward(
        np.zeros((0, 5, 5, 2)), weight_matrix(weight), np.ones(3), (3, 3), (1, 1),
        ((1, 1), (1, 1)),
    )
    assert out.shape == (0, 5, 5, 3)
    dw = conv2d_backward_weight(saved, np.zeros((0, 3)), (3, 3), (1, 1), True)
    np.testing.assert_array_equal(dw, np.zeros((19, 3)))
    dx = conv2d_backward_input(out, weight_offsets(weight), (5, 5), (1, 1), ((1, 1), (1, 1)))
    assert dx.shape == (0, 5, 5, 2)


def test_conv2d_backward_input_leftover_columns_get_zero():
    """Stride 3 with a 2-wide kernel on 7 columns never reads columns 2, 5, 6."""
    rng = np.random.RandomState(0)
    weight = rng.standard_normal((2, 1, 1, 2))
    g = rng.standard_normal((1, 3, 2, 2))
    dx = conv2d_backward_input(g, weight_offsets(weight), (3, 7), (1, 3), ((0, 0), (0, 0)))
    assert dx.shape == (1, 3, 7, 1)
    assert not dx[:, :, [2, 5, 6]].any()
    assert dx[:, :, [0, 1, 3, 4]].all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_kernels_keep_dtype(dtype):
    _, x, weight, bias, kernel, stride, pads = random_conv_problem(3)
    x, weight, bias = x.astype(dtype), weight.astype(dtype), bias.astype(dtype)
    out, _ = conv2d_forward(x, weight_matrix(weight), bias, kernel, stride, pads)
    dx = conv2d_backward_input(out, weight_offsets(weight), x.shape[1:3], stride, pads)
    assert out.dtype == dtype and dx.dtype == dtype


# ---------------------------------------------------------------------------
# Max-pooling
# ---------------------------------------------------------------------------


def nhwc(rows):
    """A one-sample, one-channel NHWC array from a 2-D list."""
    return np.asarray(rows, dtype=np.float64)[None, :, :, None]


def test_maxpool2d_routes_to_first_row_major_maximum():
    x = nhwc([
        [1, 3, 4, 4, 0, 0],
        [3, 2, 4, 4, 0, 5],
    ])
    out = maxpool2d_forward(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(out[0, :, :, 0], [[3, 4, 5]])
    dx = maxpool2d_backward(np.ones_like(out), x, out, (2, 2), (2, 2))
    # (0, 1) beats the tied (1, 0); a constant window routes to its top left.
    np.testing.assert_array_equal(dx[0, :, :, 0], [
        [0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],
    ])


def test_maxpool2d_backward_routes_and_accumulates_overlaps():
    x = nhwc([[1], [5], [2], [0]])  # a column: pool (2, 1), stride 1
    out = maxpool2d_forward(x, (2, 1), (1, 1))
    np.testing.assert_array_equal(out[0, :, 0, 0], [5, 5, 2])
    dout = nhwc([[1], [10], [100]])
    dx = maxpool2d_backward(dout, x, out, (2, 1), (1, 1))
    np.testing.assert_array_equal(dx[0, :, 0, 0], [0, 11, 100, 0])


def test_maxpool2d_backward_floor_mode_and_gaps():
    """Stride larger than the window: skipped and leftover pixels get zero."""
    rng = np.random.RandomState(0)
    x = rng.standard_normal((2, 7, 8, 3))
    out = maxpool2d_forward(x, (2, 2), (3, 3))
    assert out.shape == (2, 2, 3, 3)
    dout = rng.standard_normal(out.shape)
    dx = maxpool2d_backward(dout, x, out, (2, 2), (3, 3))
    covered = np.zeros(x.shape, dtype=bool)
    for i in range(2):
        for j in range(3):
            covered[:, 3 * i : 3 * i + 2, 3 * j : 3 * j + 2] = True
    assert not dx[~covered].any()
    assert np.count_nonzero(dx) == out.size
    np.testing.assert_allclose(dx.sum(), dout.sum(), rtol=1e-12)
    # The routed value sits where the input equals the window maximum.
    np.testing.assert_array_equal(np.sort(x[dx != 0]), np.sort(out.ravel()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool2d_keeps_dtype(dtype):
    x = np.random.RandomState(0).standard_normal((1, 4, 4, 2)).astype(dtype)
    out = maxpool2d_forward(x, (2, 2), (1, 1))
    dx = maxpool2d_backward(out, x, out, (2, 2), (1, 1))
    assert out.dtype == dtype and dx.dtype == dtype


def test_maxpool2d_large_window():
    """A 17 x 17 window (289 offsets) still finds and routes its maximum."""
    x = np.zeros((1, 17, 17, 1))
    x[0, 16, 15, 0] = 1.0
    out = maxpool2d_forward(x, (17, 17), (17, 17))
    assert out[0, 0, 0, 0] == 1.0
    dx = maxpool2d_backward(np.ones_like(out), x, out, (17, 17), (17, 17))
    np.testing.assert_array_equal(dx, x)


# ---------------------------------------------------------------------------
# Softmax
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_and_softmax(dtype):
    rng = np.random.RandomState(0)
    logits = (5 * rng.standard_normal((6, 4))).astype(dtype)
    logits[0] = [1e4, -1e4, 0, 3]
    logits[1] = [-1e4, -1e4, -1e4, -1e4]
    original = logits.copy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        log_p = log_softmax(logits)
        p = softmax(logits)
    np.testing.assert_array_equal(logits, original)  # inputs untouched
    assert log_p.dtype == dtype and p.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    expected = scipy_log_softmax(original.astype(np.float64), axis=1)
    np.testing.assert_allclose(log_p, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(p, scipy_softmax(original.astype(np.float64), axis=1),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=tol)
    assert log_p[0, 1] == pytest.approx(-2e4, rel=1e-6)
    np.testing.assert_allclose(p[1], 0.25, rtol=tol)


def test_flush_subnormals_zeroes_only_the_subnormal_floats():
    from skcnn._training.numerics import flush_subnormals

    for dtype in (np.float32, np.float64):
        tiny = np.finfo(dtype).tiny
        a = np.array([tiny / 4, -tiny / 2, tiny, -tiny, 1.0, 0.0, 1e-30], dtype=dtype)
        flush_subnormals([a])
        np.testing.assert_array_equal(a, np.array([0, 0, tiny, -tiny, 1.0, 0.0, 1e-30], dtype=dtype))


@pytest.mark.parametrize("m", [1, 255, 256, 257, 3 * 256 + 5])
def test_column_sums_over_blocks_and_the_rest(m):
    """Whole blocks of SUM_BLOCK rows and a shorter rest, with and without a
    second factor and row weights: the float64 sums of the columns."""
    from skcnn._functional.batchnorm import column_sums

    rng = np.random.RandomState(m)
    a, b = rng.standard_normal((2, m, 3))
    w = rng.uniform(0.5, 2, size=m)
    for got, expected in [
        (column_sums(a), a.sum(axis=0)),
        (column_sums(a, b), (a * b).sum(axis=0)),
        (column_sums(a, weights=w), (w[:, None] * a).sum(axis=0)),
        (column_sums(a, b, w), (w[:, None] * a * b).sum(axis=0)),
    ]:
        assert got.dtype == np.float64 and got.shape == (3,)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_column_sums_in_float32_are_far_closer_than_one_gemv():
    import math

    from skcnn._functional.batchnorm import column_sums

    a = (np.random.RandomState(0).rand(100_000, 4) + 1).astype(np.float32)
    exact = np.array([math.fsum(a[:, j].astype(np.float64)) for j in range(4)])
    blocked = np.abs(column_sums(a) - exact).max()
    one_gemv = np.abs((np.ones(len(a), dtype=np.float32) @ a).astype(np.float64) - exact).max()
    assert blocked * 30 < one_gemv


def test_combine_moments_gives_the_moments_of_the_union():
    from skcnn._functional.batchnorm import batchnorm_moments, combine_moments

    rng = np.random.RandomState(1)
    rows = rng.standard_normal((50, 3)) * 3 + 2
    w = rng.uniform(0.5, 2, size=50)
    for weights in (None, w):
        whole, _ = batchnorm_moments(rows, weights=weights)
        parts = [
            batchnorm_moments(rows[s], weights=None if weights is None else weights[s])[0]
            for s in (slice(0, 7), slice(7, 30), slice(30, 50))
        ]
        combined = combine_moments(parts)
        assert combined[0] == pytest.approx(whole[0], rel=1e-15)
        np.testing.assert_allclose(combined[1], whole[1], rtol=1e-12)
        np.testing.assert_allclose(combined[2], whole[2], rtol=1e-12)
        assert combine_moments(parts[:1]) is parts[0]
