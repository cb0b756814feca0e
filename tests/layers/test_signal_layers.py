"""The 1-D layers on signals ``(N, C, L)``: against naive loop references over
random configurations, max-pool ties, batch norm's statistics over the batch
and the length, and the errors. (Gradients, float32, ONNX and PyTorch for
every layer: test_conformance.py.)"""

import re

import numpy as np
import pytest

from skcnn._network import Sequential
from skcnn.layers import (
    AvgPool1D,
    BatchNorm1D,
    Conv1D,
    Dense,
    Flatten,
    GlobalMaxPool1D,
    MaxPool1D,
    ReLU,
)

DTYPES = [np.float64, np.float32]


def build(layer, input_shape, dtype=np.float64, seed=0):
    layer.build(input_shape, np.random.RandomState(seed), dtype)
    return layer


def naive_conv1d(x, weight, bias, stride, pads):
    """Cross-correlation of ``x`` (N, C, L) with ``weight`` (O, C, k), loops."""
    n, c, length = x.shape
    o, _, k = weight.shape
    before, after = pads
    xp = np.zeros((n, c, length + before + after))
    xp[:, :, before : before + length] = x
    lo = (xp.shape[2] - k) // stride + 1
    out = np.zeros((n, o, lo))
    for i in range(n):
        for f in range(o):
            for t in range(lo):
                out[i, f, t] = np.sum(xp[i, :, t * stride : t * stride + k] * weight[f])
                if bias is not None:
                    out[i, f, t] += bias[f]
    return out


def naive_pool1d(x, size, stride, kind):
    """Max- or average-pool ``x`` (N, C, L) in floor mode with loops; returns
    the output and ``backward(dout) -> dx`` (a max window's gradient to its
    first maximum, ``np.argmax``'s)."""
    n, c, length = x.shape
    lo = (length - size) // stride + 1
    out = np.zeros((n, c, lo), dtype=x.dtype)
    routes = []
    for i in range(n):
        for k in range(c):
            for t in range(lo):
                window = x[i, k, t * stride : t * stride + size]
                out[i, k, t] = window.max() if kind == "max" else window.mean()
                positions = [t * stride + int(np.argmax(window))] if kind == "max" else range(
                    t * stride, t * stride + size
                )
                routes.append(((i, k, t), list(positions)))

    def backward(dout):
        dx = np.zeros(x.shape, dtype=np.float64)
        for (i, k, t), positions in routes:
            for p in positions:
                dx[i, k, p] += dout[i, k, t] / len(positions)
        return dx

    return out, backward


def random_conv1d_case(seed):
    rng = np.random.RandomState(seed)
    kind = ["valid", "same", "int"][seed % 3]
    dtype = DTYPES[(seed // 3) % 2]
    k = int(rng.randint(1, 6))
    stride = 1 if kind == "same" else int(rng.randint(1, 4))
    padding = {"valid": "valid", "same": "same", "int": int(rng.randint(0, 3))}[kind]
    pad = 0 if kind == "valid" else padding if kind == "int" else None
    length = int(rng.randint(max(1, k - 2 * (pad or 0)), k + 8))
    n, c, o = (int(v) for v in rng.randint(1, 4, size=3))
    return rng, dtype, Conv1D(o, k, stride=stride, padding=padding), (n, c, length)


@pytest.mark.parametrize("seed", range(12))
def test_conv1d_matches_the_loop_reference(seed):
    rng, dtype, conv, shape = random_conv1d_case(seed)
    out_shape = build(conv, shape[1:], dtype).output_shape
    conv.bias[...] = rng.standard_normal(conv.bias.shape)
    assert conv.weight.shape == (conv.filters, shape[1]) + conv.kernel_size
    X = rng.standard_normal(shape).astype(dtype)
    out = conv.forward(X)
    (pads,) = conv.pads
    expected = naive_conv1d(
        X.astype(np.float64), conv.weight.astype(np.float64), conv.bias.astype(np.float64),
        conv.stride[0], pads,
    )
    assert out.dtype == dtype and out.shape == expected.shape == (shape[0],) + out_shape
    if conv.padding == "same":
        assert out.shape[2] == shape[2]
        k = conv.kernel_size[0]
        assert pads == ((k - 1) // 2, k // 2)  # PyTorch's split: the extra zero at the end
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("size, stride, length", [(2, None, 7), (3, 1, 6), (3, 2, 9), (2, 3, 8), (1, None, 4)])
def test_pools_match_the_loop_reference(size, stride, length, ties, kind):
    rng = np.random.RandomState(size * 10 + length)
    layer = build((MaxPool1D if kind == "max" else AvgPool1D)(size, stride=stride), (2, length))
    shape = (3, 2, length)
    X = rng.randint(0, 3, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
    out = layer.forward(X, training=True)
    dout = rng.randint(-9, 10, size=out.shape).astype(np.float64)  # exact sums in any order
    dX = layer.backward(dout)
    expected, route = naive_pool1d(X, size, size if stride is None else stride, kind)
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    np.testing.assert_allclose(dX, route(dout), rtol=1e-14)


def test_max_pools_route_ties_to_the_first_maximum():
    X = np.array([[[1.0, 3.0, 3.0, 2.0, 5.0, 5.0]]])
    pool = build(MaxPool1D(3), (1, 6))
    pool.forward(X, training=True)
    np.testing.assert_array_equal(pool.backward(np.array([[[7.0, 8.0]]])), [[[0, 7, 0, 0, 8, 0]]])
    global_pool = build(GlobalMaxPool1D(), (1, 6))
    global_pool.forward(X, training=True)
    np.testing.assert_array_equal(global_pool.backward(np.array([[9.0]])), [[[0, 0, 0, 0, 9, 0]]])


def test_conv_and_max_pool_exchange_pool_blocks_on_signals():
    """A max-pool whose windows tile a Conv1D's output takes it in
    pool-blocked memory, as on images; one that does not, as arrays."""
    def blocks(*layers, length=12):
        net = Sequential(list(layers))
        net.build((2, length), np.random.RandomState(0), np.float64)
        return layers[0].pool_blocks

    assert blocks(Conv1D(3, padding="same"), MaxPool1D(3)) == (1, 3)
    assert blocks(Conv1D(3, padding="same"), MaxPool1D(5)) is None  # 12 % 5
    assert blocks(Conv1D(3, padding="same"), MaxPool1D(2, stride=1)) is None
    assert blocks(Conv1D(3, padding="same"), AvgPool1D(2)) is None
    assert blocks(Conv1D(3, padding="same"), ReLU(), MaxPool1D(2)) is None


def test_flatten_reads_signals_in_channel_length_order():
    rng = np.random.RandomState(1)
    conv = build(Conv1D(3, kernel_size=2), (2, 6))
    flat = build(Flatten(), conv.output_shape)
    assert flat.output_shape == (15,)
    Y = conv.forward(rng.standard_normal((4, 2, 6)))
    assert np.moveaxis(Y, 1, -1).flags.c_contiguous  # channels-last memory, (N, C, L) indexing
    out = flat.forward(Y, training=True)
    np.testing.assert_array_equal(out, np.ascontiguousarray(Y).reshape(4, -1))
    dY = rng.standard_normal(out.shape)
    dX = flat.backward(dY)
    np.testing.assert_array_equal(dX, dY.reshape(Y.shape))
    assert np.moveaxis(dX, 1, -1).flags.c_contiguous  # handed back as the conv keeps it


def test_batchnorm1d_normalizes_signals_over_the_batch_and_the_length():
    rng = np.random.RandomState(2)
    layer = build(BatchNorm1D(momentum=0.5), (3, 7))
    X = rng.normal(4, 3, size=(5, 3, 7))
    out = layer.forward(X, training=True)
    assert out.shape == X.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2)), 1, rtol=1e-3)
    unbiased = X.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(layer.running_mean, 0.5 * X.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.5 + 0.5 * unbiased, rtol=1e-12)
    # Inference: the running statistics, per channel.
    scale = 1 / np.sqrt(layer.running_var + layer.eps)
    expected = (X - layer.running_mean[:, None]) * scale[:, None]
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-12)


def test_batchnorm1d_integer_weights_equal_the_repeated_signals():
    rng = np.random.RandomState(3)
    X = rng.standard_normal((4, 2, 5))
    w = np.array([1, 3, 2, 1])
    G = rng.standard_normal(X.shape)
    weighted, repeated = build(BatchNorm1D(), (2, 5)), build(BatchNorm1D(), (2, 5))
    out = weighted.forward(X, training=True, sample_weight=w)
    dX = weighted.backward(G * w[:, None, None])
    out_rep = repeated.forward(np.repeat(X, w, axis=0), training=True)
    dX_rep = repeated.backward(np.repeat(G, w, axis=0))
    np.testing.assert_allclose(np.repeat(out, w, axis=0), out_rep, rtol=1e-12, atol=1e-12)
    # A sample of weight w stands for w copies: its gradient is theirs summed.
    starts = np.concatenate([[0], np.cumsum(w)[:-1]])
    np.testing.assert_allclose(dX, np.add.reduceat(dX_rep, starts, axis=0), rtol=1e-10, atol=1e-12)
    for a, b in zip(weighted.grads, repeated.grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weighted.running_var, repeated.running_var, rtol=1e-12)


def test_batchnorm1d_needs_more_than_one_value_per_channel():
    layer = build(BatchNorm1D(), (2, 1))
    with pytest.raises(ValueError, match=r"value per channel \(samples x length\)"):
        layer.forward(np.ones((1, 2, 1)), training=True)
    build(BatchNorm1D(), (2, 3)).forward(np.arange(6.0).reshape(1, 2, 3), training=True)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Conv1D(0), "filters=0"),
        (lambda: Conv1D(2, kernel_size=(1, 3)), "kernel_size=(1, 3)"),
        (lambda: Conv1D(2, kernel_size=0), "kernel_size=0"),
        (lambda: Conv1D(2, stride=(2, 2)), "stride=(2, 2)"),
        (lambda: Conv1D(2, padding=(1, 1)), "padding=(1, 1)"),
        (lambda: Conv1D(2, padding="full"), "padding='full'"),
        (lambda: Conv1D(2, padding="same", stride=2), "stride=2"),
        (lambda: MaxPool1D((2, 2)), "pool_size=(2, 2)"),
        (lambda: AvgPool1D(2, stride=0), "stride=0"),
    ],
)
def test_constructor_errors_name_argument_and_value(make, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        make()


@pytest.mark.parametrize(
    "layer, input_shape, match",
    [
        (Conv1D(2, kernel_size=5), (1, 4), "kernel_size=(5,) is larger than the padded input (4,)"),
        (Conv1D(2), (1, 8, 8), "Conv1D expects samples of shape (C, L). Received input_shape=(1, 8, 8)"),
        (MaxPool1D(3), (2, 2), "MaxPool1D: pool_size=(3,) is larger than the input (2,)"),
        (GlobalMaxPool1D(), (8,), "GlobalMaxPool1D expects samples of shape (C, L)"),
        (BatchNorm1D(), (1, 4, 4), "use BatchNorm2D for images"),
        (Dense(2), (3, 4), "Dense expects flat samples"),
    ],
)
def test_build_errors_name_the_layer_and_value(layer, input_shape, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        layer.build(input_shape, np.random.RandomState(0), np.float64)


def test_one_dimensional_layers_are_pytorchs_with_1_tuples():
    """Sizes are 1-tuples, as ``torch.nn.Conv1d.kernel_size``; the
    constructor arguments stay as passed."""
    conv = Conv1D(4, 5, stride=2, padding=1)
    assert (conv.kernel_size, conv.stride, conv.pads) == ((5,), (2,), ((1, 1),))
    assert conv.get_params() == dict(filters=4, kernel_size=5, stride=2, padding=1, bias=True)
    assert repr(conv) == "Conv1D(4, kernel_size=(5,), stride=(2,), padding=1)"
    assert repr(MaxPool1D(3)) == "MaxPool1D(pool_size=(3,), stride=(3,))"
