"""BatchNorm1D and BatchNorm2D: PyTorch's semantics, and statistics of the
whole batch however training splits it into shards.

Checked against a naive reference (the textbook's staged backward, float64),
central finite differences, and ``torch.nn.BatchNorm1d/2d`` when PyTorch is
installed; then through ``ShardedStep`` on one thread, several and worker
processes, against the un-split batch and PyTorch.
"""

import pickle
import re

import numpy as np
import pytest
from tests.support.gradcheck import numerical_gradient

from skcnn import NumpyCNNClassifier
from skcnn._training import parallel as _parallel, processes as _processes
from skcnn._loss import SoftmaxCrossEntropy
from skcnn._network import Sequential
from skcnn.layers import (
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
)

DTYPES = [np.float64, np.float32]


def channels_last(X):
    """The same NCHW-shaped values over channels-last memory, as our layers pass them."""
    return np.ascontiguousarray(X.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def reduce_axes(X):
    return (0,) if X.ndim == 2 else (0, 2, 3)


def per_channel(v, X):
    return v if X.ndim == 2 else v[None, :, None, None]


def naive_batchnorm(X, weight, bias, eps):
    """Training forward in float64, and ``backward(dY) -> (dX, dweight, dbias)``
    staged as in the textbooks (through dvar and dmean)."""
    X = X.astype(np.float64)
    axes = reduce_axes(X)
    count = X.size // X.shape[1]
    mean = X.mean(axis=axes)
    var = X.var(axis=axes)  # biased
    std = np.sqrt(var + eps)
    centered = X - per_channel(mean, X)
    xhat = centered / per_channel(std, X)
    out = xhat * per_channel(weight, X) + per_channel(bias, X)

    def backward(dY):
        dY = dY.astype(np.float64)
        dxhat = dY * per_channel(weight, X)
        dvar = np.sum(dxhat * centered, axis=axes) * -0.5 * std**-3
        dmean = np.sum(-dxhat / per_channel(std, X), axis=axes) + dvar * np.mean(
            -2 * centered, axis=axes
        )
        dX = (
            dxhat / per_channel(std, X)
            + per_channel(dvar, X) * 2 * centered / count
            + per_channel(dmean, X) / count
        )
        return dX, np.sum(dY * xhat, axis=axes), np.sum(dY, axis=axes)

    return out, mean, var * count / (count - 1), backward


def random_case(seed):
    """A BatchNorm layer with random weight and bias, and a batch for it."""
    rng = np.random.RandomState(seed)
    dtype = DTYPES[seed % 2]
    if seed % 3 == 0:
        shape = (int(rng.randint(2, 9)), int(rng.randint(1, 6)))
        layer = BatchNorm1D(momentum=float(rng.uniform(0, 1)), eps=10.0 ** rng.randint(-6, -2))
    else:
        n, c, h, w = (int(v) for v in rng.randint(1, 5, size=4))
        shape = (n + 1, c, h, w)
        layer = BatchNorm2D(momentum=float(rng.uniform(0, 1)), eps=10.0 ** rng.randint(-6, -2))
    layer.build(shape[1:], rng, dtype)
    layer.weight[...] = rng.uniform(0.5, 2, size=layer.weight.shape)
    layer.bias[...] = rng.standard_normal(layer.bias.shape)
    X = (rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-3, 3)).astype(dtype)
    if X.ndim == 4 and seed % 4 == 1:
        X = channels_last(X)
    return rng, layer, X


@pytest.mark.parametrize("seed", range(24))
def test_batchnorm_matches_the_naive_reference(seed):
    rng, layer, X = random_case(seed)
    dtype = X.dtype
    expected, mean, unbiased_var, route = naive_batchnorm(X, layer.weight, layer.bias, layer.eps)

    out = layer.forward(X, training=True)
    dY = rng.standard_normal(out.shape).astype(dtype)
    dX = layer.backward(dY)
    dX_ref, dweight_ref, dbias_ref = route(dY)

    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    assert out.dtype == dX.dtype == dtype and out.shape == dX.shape == X.shape
    assert all(g.dtype == dtype for g in layer.grads)
    np.testing.assert_allclose(out, expected, **tol)
    np.testing.assert_allclose(dX, dX_ref, **tol)
    np.testing.assert_allclose(layer.grads[0], dweight_ref, **tol)
    np.testing.assert_allclose(layer.grads[1], dbias_ref, **tol)
    m = layer.momentum
    np.testing.assert_allclose(layer.running_mean, m * mean, **tol)
    np.testing.assert_allclose(layer.running_var, (1 - m) + m * unbiased_var, **tol)
    # Inference: the running statistics, not the batch's.
    scale = layer.weight / np.sqrt(layer.running_var.astype(np.float64) + layer.eps)
    inferred = (X - per_channel(layer.running_mean, X)) * per_channel(scale, X) + per_channel(
        layer.bias, X
    )
    np.testing.assert_allclose(layer.forward(X), inferred, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_batchnorm_gradients_finite_differences(kind, dtype):
    """float32 gradients against float64 finite differences of the same values."""
    rng = np.random.RandomState(1)
    shape = (5, 3) if kind == "1d" else (3, 2, 3, 4)
    X = rng.standard_normal(shape) * 2 + 1
    G = rng.standard_normal(shape)
    layers = {}
    for d in (np.float64, dtype):
        layer = BatchNorm1D() if kind == "1d" else BatchNorm2D()
        layer.build(shape[1:], rng, d)
        layer.weight[...] = [1.5, -0.5, 2.0][: layer.weight.size]
        layer.bias[...] = [0.1, 0.2, -0.3][: layer.bias.size]
        layers[np.dtype(d)] = layer
    ref, layer = layers[np.dtype(np.float64)], layers[np.dtype(dtype)]
    layer.weight[...] = ref.weight

    layer.forward(X.astype(dtype), training=True)
    dX = layer.backward(G.astype(dtype))

    def f():
        return float(np.sum(ref.forward(X, training=True) * G))

    tol = dict(rtol=1e-6, atol=1e-8) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dX, numerical_gradient(f, X), **tol)
    for grad, param in zip(layer.grads, ref.params):
        np.testing.assert_allclose(grad, numerical_gradient(f, param), **tol)


# ---------------------------------------------------------------------------
# Sample weights: frequencies (a canonical batch's merged duplicates)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_integer_weights_equal_the_repeated_batch(seed):
    """A row of weight k is k copies: outputs, summed input gradients,
    parameter gradients and running statistics of the repeated batch, by
    the float64 reference."""
    rng, layer, X = random_case(seed)
    dtype = X.dtype
    w = rng.randint(1, 4, size=X.shape[0]).astype(dtype)
    w[0] = 2  # some row repeats
    repeated = X.repeat(w.astype(int), axis=0)
    expected, mean, unbiased_var, route = naive_batchnorm(
        repeated, layer.weight, layer.bias, layer.eps
    )
    G = rng.standard_normal(X.shape)
    dX_ref, dweight_ref, dbias_ref = route(G.repeat(w.astype(int), axis=0))

    out = layer.forward(X, training=True, sample_weight=w)
    # The loss weighs a row's output gradient by its weight: its copies' sum.
    dX = layer.backward((G * per_channel_rows(w, X)).astype(dtype))

    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    firsts = np.cumsum(w.astype(int)) - w.astype(int)
    np.testing.assert_allclose(out, expected[firsts], **tol)
    summed = np.add.reduceat(dX_ref, firsts, axis=0)
    np.testing.assert_allclose(dX, summed, **tol)
    np.testing.assert_allclose(layer.grads[0], dweight_ref, **tol)
    np.testing.assert_allclose(layer.grads[1], dbias_ref, **tol)
    m = layer.momentum
    np.testing.assert_allclose(layer.running_mean, m * mean, **tol)
    np.testing.assert_allclose(layer.running_var, (1 - m) + m * unbiased_var, **tol)


def per_channel_rows(w, X):
    """Sample weights broadcast over a batch's other axes."""
    return w.reshape((-1,) + (1,) * (X.ndim - 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_weighted_batchnorm_matches_torch_on_the_repeated_batch(kind, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(8)
    c = 3
    sample = (c,) if kind == "1d" else (c, 4, 2)
    ours = (BatchNorm1D if kind == "1d" else BatchNorm2D)(momentum=0.3, eps=1e-4)
    ours.build(sample, rng, dtype)
    ours.weight[...] = rng.uniform(0.5, 2, size=c)
    ours.bias[...] = rng.standard_normal(c)
    theirs = (torch.nn.BatchNorm1d if kind == "1d" else torch.nn.BatchNorm2d)(
        c, momentum=0.3, eps=1e-4, dtype=torch.float64 if dtype == np.float64 else torch.float32
    )
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight))
        theirs.bias.copy_(torch.from_numpy(ours.bias))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    for step in range(3):
        X = (rng.standard_normal((7,) + sample) * (1 + step) + step).astype(dtype)
        counts = rng.randint(1, 5, size=7)
        G = rng.standard_normal(X.shape).astype(dtype)
        ours.forward(X if kind == "1d" else channels_last(X), training=True,
                     sample_weight=counts.astype(dtype))
        dX = ours.backward(G * per_channel_rows(counts.astype(dtype), X))

        x = torch.tensor(X.repeat(counts, axis=0), requires_grad=True)
        theirs.zero_grad()
        (theirs(x) * torch.from_numpy(G.repeat(counts, axis=0))).sum().backward()
        firsts = np.cumsum(counts) - counts
        np.testing.assert_allclose(dX, np.add.reduceat(x.grad.numpy(), firsts, axis=0), **tol)
        np.testing.assert_allclose(ours.grads[0], theirs.weight.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.grads[1], theirs.bias.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **tol)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **tol)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_weighted_batchnorm_gradients_finite_differences(kind):
    """Non-integer weights: backward is the gradient of the weighted forward
    (the loss's gradient carries each sample's weight)."""
    rng = np.random.RandomState(6)
    shape = (5, 3) if kind == "1d" else (3, 2, 3, 2)
    X = rng.standard_normal(shape) * 2 + 1
    w = rng.uniform(0.2, 3, size=shape[0])
    G = rng.standard_normal(shape) * per_channel_rows(w, X)
    layer = BatchNorm1D() if kind == "1d" else BatchNorm2D()
    layer.build(shape[1:], rng, np.float64)
    layer.weight[...] = [1.5, -0.5, 2.0][: layer.weight.size]
    layer.bias[...] = [0.1, 0.2, -0.3][: layer.bias.size]
    layer.forward(X, training=True, sample_weight=w)
    dX = layer.backward(G)
    grads = [g.copy() for g in layer.grads]

    def f():
        return float(np.sum(layer.forward(X, training=True, sample_weight=w) * G))

    tol = dict(rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dX, numerical_gradient(f, X), **tol)
    for grad, param in zip(grads, layer.params):
        np.testing.assert_allclose(grad, numerical_gradient(f, param), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_of_one_give_the_bits_of_no_weights(dtype):
    a, b = bn_network(dtype), bn_network(dtype)
    X = batches(dtype)[0][0]
    G = np.random.RandomState(2).standard_normal((X.shape[0], 3)).astype(dtype)
    out_a = a.forward(X, training=True)
    out_b = b.forward(X, training=True, sample_weight=np.ones(X.shape[0], dtype=dtype))
    np.testing.assert_array_equal(out_a, out_b)
    a.backward(G)
    b.backward(G)
    for x, y in zip(a.grads + a.running_stats, b.grads + b.running_stats):
        np.testing.assert_array_equal(x, y)


def test_batchnorm_running_statistics_are_state_not_params():
    layer = BatchNorm2D(momentum=0.3, eps=1e-3)
    assert layer.build((4, 2, 2), np.random.RandomState(0), np.float32) == (4, 2, 2)
    np.testing.assert_array_equal(layer.weight, np.ones(4))
    np.testing.assert_array_equal(layer.bias, np.zeros(4))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(4))
    np.testing.assert_array_equal(layer.running_var, np.ones(4))
    assert layer.params == [layer.weight, layer.bias] and len(layer.grads) == 2
    assert (layer.momentum, layer.eps) == (0.3, 1e-3)
    assert repr(layer) == "BatchNorm2D(momentum=0.3, eps=0.001)"
    assert not layer.has_coefs and layer.syncs_batch
    assert Conv2D(2).has_coefs and Dense(2).has_coefs and not ReLU().has_coefs
    # Inference moves nothing.
    layer.forward(np.ones((2, 4, 2, 2), dtype=np.float32))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(4))


def test_replicas_share_the_running_statistics():
    net = Sequential([BatchNorm2D(), Flatten(), Dense(2)])
    net.build((2, 3, 3), np.random.RandomState(0), np.float64)
    twin = net.replica()
    bn, bn_twin = net.layers[0], twin.layers[0]
    assert bn_twin.running_mean is bn.running_mean and bn_twin.running_var is bn.running_var
    assert bn_twin.weight is bn.weight and bn_twin.grads[0] is not bn.grads[0]
    assert net.running_stats == [bn.running_mean, bn.running_var]
    twin.forward(np.random.RandomState(1).standard_normal((4, 2, 3, 3)), training=True)
    assert np.abs(bn.running_mean).max() > 0  # moved in place, seen by both


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_batchnorm_pickles_with_its_running_statistics(kind):
    shape = (6, 3) if kind == "1d" else (4, 3, 2, 2)
    layer = BatchNorm1D() if kind == "1d" else BatchNorm2D()
    layer.build(shape[1:], np.random.RandomState(0), np.float32)
    X = np.random.RandomState(1).standard_normal(shape).astype(np.float32)
    for _ in range(3):
        layer.forward(X, training=True)
        layer.backward(np.ones_like(X))
    twin = pickle.loads(pickle.dumps(layer))
    for name in ("weight", "bias", "running_mean", "running_var"):
        np.testing.assert_array_equal(getattr(twin, name), getattr(layer, name))
    assert twin.grads[0] is not layer.grads[0] and twin._cache is None
    np.testing.assert_array_equal(twin.forward(X), layer.forward(X))


def test_batchnorm_network_round_trips_through_skops(tmp_path):
    sio = pytest.importorskip("skops.io", reason="the optional skops extra is not installed")
    from skcnn._persistence import SKOPS_TRUSTED_TYPES

    net = bn_network(np.float64)
    X = np.random.RandomState(1).standard_normal((10, 1, 8, 8))
    net.forward(X, training=True)
    sio.dump(net, tmp_path / "net.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "net.skops")
    assert set(untrusted) <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(tmp_path / "net.skops", trusted=SKOPS_TRUSTED_TYPES)
    for a, b in zip(loaded.running_stats + loaded.params, net.running_stats + net.params):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))


def test_the_l2_penalty_and_coefs_skip_batchnorm():
    clf = NumpyCNNClassifier(alpha=1.0)
    clf._network = bn_network(np.float64)
    conv, dense1, dense2 = (
        layer for layer in clf._network.layers if isinstance(layer, (Conv2D, Dense))
    )
    assert clf._weighted_layers() == [conv, dense1, dense2]
    for grad in clf._network.grads:
        grad[...] = 0
    clf._add_l2_penalty(1.0)
    for layer in clf._network.layers:
        if isinstance(layer, (BatchNorm1D, BatchNorm2D)):
            assert not any(g.any() for g in layer.grads)
    np.testing.assert_array_equal(conv.grads[0], conv.weight)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [BatchNorm1D, BatchNorm2D])
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(momentum=1.5), "momentum=1.5"),
        (dict(momentum=-0.1), "momentum=-0.1"),
        (dict(momentum=None), "momentum=None"),
        (dict(momentum="0.1"), "momentum='0.1'"),
        (dict(eps=0), "eps=0"),
        (dict(eps=-1e-5), "eps=-1e-05"),
        (dict(eps=float("nan")), "eps=nan"),
    ],
)
def test_constructor_errors_name_argument_and_value(cls, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        cls(**kwargs)


@pytest.mark.parametrize(
    "layer, input_shape, match",
    [
        (BatchNorm1D(), (2, 4, 4), "input_shape=(2, 4, 4)"),
        (BatchNorm2D(), (8,), "BatchNorm2D expects samples of shape (C, H, W)"),
    ],
)
def test_build_errors_name_the_layer_and_value(layer, input_shape, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        layer.build(input_shape, np.random.RandomState(0), np.float64)


def test_training_on_one_value_per_channel_fails_as_in_pytorch():
    layer = BatchNorm1D()
    layer.build((3,), np.random.RandomState(0), np.float64)
    with pytest.raises(ValueError, match=r"BatchNorm1D needs more than 1 sample per training "
                       r"batch .*; received 1 sample\(s\)"):
        layer.forward(np.ones((1, 3)), training=True)
    layer.forward(np.ones((1, 3)))  # inference takes one sample
    image = BatchNorm2D()
    image.build((2, 1, 1), np.random.RandomState(0), np.float64)
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        image.forward(np.ones((1, 2, 1, 1)), training=True)
    image.build((2, 1, 3), np.random.RandomState(0), np.float64)
    image.forward(np.ones((1, 2, 1, 3)), training=True)  # 3 values per channel: fine


def test_the_weights_sum_is_the_number_of_values():
    """Frequency weights: n equal samples merged (one row, weight n) are fine
    (zero variance, as n copies); weights summing to 1 or less are not."""
    layer = BatchNorm1D()
    layer.build((3,), np.random.RandomState(0), np.float64)
    out = layer.forward(np.full((1, 3), 2.0), training=True, sample_weight=np.array([4.0]))
    np.testing.assert_allclose(out, 0.0, atol=1e-6)
    np.testing.assert_allclose(layer.running_var, 0.9)  # 0.9 * 1 + 0.1 * 0 / (4 - 1)
    X = np.random.RandomState(1).standard_normal((3, 3))
    with pytest.raises(ValueError, match=r"received 0\.9 sample\(s\), counted by their sample "
                       "weights"):
        layer.forward(X, training=True, sample_weight=np.array([0.3, 0.3, 0.3]))


def test_backward_steps_out_of_order_raise():
    layer = BatchNorm2D()
    layer.build((1, 2, 2), np.random.RandomState(0), np.float64)
    X = np.ones((2, 1, 2, 2))
    layer.forward(X)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(X)
    layer.forward_sums(X)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(X)


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_training_steps_then_inference_match_torch(kind, dtype):
    """Several training passes (forward and backward) on different batches,
    the running statistics after each, then inference: as torch's module."""
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(3)
    c = 4
    sample = (c,) if kind == "1d" else (c, 5, 3)
    momentum, eps = 0.2, 1e-4
    ours = (BatchNorm1D if kind == "1d" else BatchNorm2D)(momentum, eps)
    ours.build(sample, rng, dtype)
    ours.weight[...] = rng.uniform(0.5, 2, size=c)
    ours.bias[...] = rng.standard_normal(c)
    theirs = (torch.nn.BatchNorm1d if kind == "1d" else torch.nn.BatchNorm2d)(
        c, momentum=momentum, eps=eps, dtype=torch.float64 if dtype == np.float64 else torch.float32
    )
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight))
        theirs.bias.copy_(torch.from_numpy(ours.bias))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    theirs.train()
    for step in range(4):
        n = 6 + 3 * step
        X = (rng.standard_normal((n,) + sample) * (1 + step) + step).astype(dtype)
        G = rng.standard_normal(X.shape).astype(dtype)
        out = ours.forward(X if kind == "1d" else channels_last(X), training=True)
        dX = ours.backward(G)

        x = torch.tensor(X, requires_grad=True)
        theirs.zero_grad()
        out_t = theirs(x)
        (out_t * torch.from_numpy(G)).sum().backward()

        np.testing.assert_allclose(out, out_t.detach().numpy(), **tol)
        np.testing.assert_allclose(dX, x.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.grads[0], theirs.weight.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.grads[1], theirs.bias.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **tol)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **tol)
    theirs.eval()
    X = rng.standard_normal((3,) + sample).astype(dtype)
    np.testing.assert_allclose(
        ours.forward(X), theirs(torch.from_numpy(X)).detach().numpy(), **tol
    )


# ---------------------------------------------------------------------------
# A batch split into shards: threads, worker processes, PyTorch
# ---------------------------------------------------------------------------


def bn_network(dtype, seed=0):
    """BatchNorm first (a first layer: no input gradient), after a conv and
    after a dense layer."""
    net = Sequential(
        [
            BatchNorm2D(), Conv2D(4, 3, padding="same"), BatchNorm2D(momentum=0.3), ReLU(),
            MaxPool2D(2), Flatten(), Dense(8), BatchNorm1D(eps=1e-3), ReLU(), Dense(3),
        ],
        reuse_buffers=True,
    )
    net.build((1, 8, 8), np.random.RandomState(seed), dtype)
    rng = np.random.RandomState(seed + 1)
    for layer in net.layers:
        if isinstance(layer, (BatchNorm1D, BatchNorm2D)):
            layer.weight[...] = rng.uniform(0.5, 1.5, size=layer.weight.shape)
            layer.bias[...] = rng.uniform(-0.5, 0.5, size=layer.bias.shape)
    return net


def batches(dtype, sizes=(100, 79, 30)):
    """Batches of 3, 2 and 1 shards."""
    rng = np.random.RandomState(4)
    return [
        ((rng.rand(n, 1, 8, 8) * 3 + 1).astype(dtype), rng.randint(0, 3, size=n))
        for n in sizes
    ]


def train_sharded(dtype, parallel_training, threads, processes=False, weighted=False):
    parallel_training(processes)
    net = bn_network(dtype)
    results = []
    data = batches(dtype)
    with _parallel.ShardedStep(net, SoftmaxCrossEntropy(), 100, n_steps=1, n_jobs=threads) as step:
        assert (step._processes is not None) == processes
        for X, y in data:
            w = np.linspace(0.5, 1.5, len(y)).astype(dtype) if weighted else None
            weight_sum = float(len(y)) if w is None else float(w.sum())
            loss = step(X, y, w, weight_sum)
            results.append((loss, [g.copy() for g in net.grads]))
    return net, results


def train_whole(dtype, weighted=False):
    net = bn_network(dtype)
    results = []
    for X, y in batches(dtype):
        w = np.linspace(0.5, 1.5, len(y)).astype(dtype) if weighted else None
        logits = net.forward(X, training=True, sample_weight=w)
        loss, dlogits = SoftmaxCrossEntropy()(logits, y, w)
        net.backward(dlogits)
        results.append((loss, [g.copy() for g in net.grads]))
    return net, results


needs_processes = pytest.mark.skipif(
    not _processes.processes_available(),
    reason="worker processes need the forkserver start method (Linux, macOS)",
)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threads", [1, 3])
def test_sharded_step_equals_the_whole_batch(threads, weighted, parallel_training):
    assert _parallel.n_shards(100) == 3
    whole, expected = train_whole(np.float64, weighted)
    sharded, got = train_sharded(np.float64, parallel_training, threads, weighted=weighted)
    for (loss, grads), (loss_ref, grads_ref) in zip(got, expected):
        assert loss == pytest.approx(loss_ref, rel=1e-12)
        for g, r in zip(grads, grads_ref):
            np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    # The running statistics moved once per batch, with the whole batch's.
    for a, b in zip(sharded.running_stats, whole.running_stats):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sharded_step_gives_the_same_bits_on_threads_and_processes(dtype, parallel_training):
    runs = {"one thread": train_sharded(dtype, parallel_training, 1)}
    runs["threads"] = train_sharded(dtype, parallel_training, 3)
    if _processes.processes_available():
        runs["processes"] = train_sharded(dtype, parallel_training, 2, processes=True)
    ref_net, ref = runs.pop("one thread")
    for net, results in runs.values():
        for (loss, grads), (loss_ref, grads_ref) in zip(results, ref):
            assert loss == loss_ref
            for g, r in zip(grads, grads_ref):
                np.testing.assert_array_equal(g, r)
        for a, b in zip(net.running_stats, ref_net.running_stats):
            np.testing.assert_array_equal(a, b)


@needs_processes
def test_worker_processes_meet_at_every_batchnorm(parallel_training, monkeypatch):
    """The workers answer once per meeting point: three forward meetings and
    two backward ones (the first layer's backward needs none), then the end."""
    messages = []
    original = _processes.ShardProcesses._send

    def spy(self, process, conn, message):
        messages.append(message[0] if message[0] == "resume" else "batch")
        return original(self, process, conn, message)

    monkeypatch.setattr(_processes.ShardProcesses, "_send", spy)
    train_sharded(np.float32, parallel_training, 2, processes=True)
    # Batches of 100 and 79 samples reach the workers; one of 30 is one shard.
    assert messages == 2 * (["batch"] + ["resume"] * 5)


def torch_bn_network(net, torch):
    """The torch module of ``bn_network`` with its parameters, in training mode."""
    nn = torch.nn
    bn0, conv, bn1, dense1, bn2, dense2 = (l for l in net.layers if l.params)
    module = nn.Sequential(
        nn.BatchNorm2d(1, momentum=bn0.momentum, eps=bn0.eps),
        nn.Conv2d(1, 4, 3, padding="same"),
        nn.BatchNorm2d(4, momentum=bn1.momentum, eps=bn1.eps),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64, 8), nn.BatchNorm1d(8, momentum=bn2.momentum, eps=bn2.eps),
        nn.ReLU(), nn.Linear(8, 3),
    ).double()
    ours = [bn0, conv, bn1, dense1, bn2, dense2]
    theirs = [m for m in module if any(True for _ in m.parameters())]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.weight.copy_(torch.from_numpy(a.weight.T if isinstance(a, Dense) else a.weight))
            b.bias.copy_(torch.from_numpy(a.bias))
    return module.train(), ours, theirs


def test_sharded_step_matches_torch(parallel_training):
    torch = pytest.importorskip("torch")
    reference = bn_network(np.float64)
    module, _, theirs = torch_bn_network(reference, torch)
    net, got = train_sharded(np.float64, parallel_training, 2)
    layers = [layer for layer in net.layers if layer.params]
    for (X, y), (loss, grads) in zip(batches(np.float64), got):
        module.zero_grad()
        loss_t = torch.nn.functional.cross_entropy(module(torch.from_numpy(X)), torch.from_numpy(y))
        loss_t.backward()
        assert loss == pytest.approx(loss_t.item(), rel=1e-10)
        expected = []
        for layer, m in zip(layers, theirs):
            w = m.weight.grad.numpy()
            expected += [w.T if isinstance(layer, Dense) else w, m.bias.grad.numpy()]
        for g, e in zip(grads, expected):
            np.testing.assert_allclose(g, e, rtol=1e-8, atol=1e-11)
    bns = [m for m in module if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    stats = [s.numpy() for m in bns for s in (m.running_mean, m.running_var)]
    for a, b in zip(net.running_stats, stats):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    module.eval()
    X = batches(np.float64)[0][0][:7]  # inference: the running statistics
    np.testing.assert_allclose(
        net.forward(X), module(torch.from_numpy(X)).detach().numpy(), rtol=1e-9, atol=1e-11
    )


@pytest.mark.parametrize("processes", [False, pytest.param(True, marks=needs_processes)])
def test_sgd_steps_through_shards_match_torch(processes, parallel_training):
    """Batches of 100, 79 and 30 samples (3, 2 and 1 shards), an SGD step
    after each: parameters and running statistics follow torch's."""
    torch = pytest.importorskip("torch")
    from skcnn.optimizers import SGD

    parallel_training(processes)
    net = bn_network(np.float64)
    module, ours, theirs = torch_bn_network(net, torch)
    sgd = SGD(net.params, learning_rate=0.1, momentum=0.9, nesterov=True)
    sgd_t = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    rng = np.random.RandomState(5)
    with _parallel.ShardedStep(net, SoftmaxCrossEntropy(), 100, n_steps=1, n_jobs=2) as step:
        assert (step._processes is not None) == processes
        for n in (100, 79, 30, 100):
            X, y = rng.rand(n, 1, 8, 8) * 3 + 1, rng.randint(0, 3, size=n)
            loss = step(X, y, None, float(n))
            step.optimizer_step(sgd)
            sgd_t.zero_grad()
            loss_t = torch.nn.functional.cross_entropy(
                module(torch.from_numpy(X)), torch.from_numpy(y)
            )
            loss_t.backward()
            sgd_t.step()
            assert loss == pytest.approx(loss_t.item(), rel=1e-9)
    for layer, m in zip(ours, theirs):
        w = m.weight.detach().numpy()
        np.testing.assert_allclose(layer.weight, w.T if isinstance(layer, Dense) else w,
                                   rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(layer.bias, m.bias.detach().numpy(), rtol=1e-8, atol=1e-10)
    bns = [m for m in module if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    stats = [s.numpy() for m in bns for s in (m.running_mean, m.running_var)]
    for a, b in zip(net.running_stats, stats):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "threads, processes", [(1, False), (3, False), pytest.param(2, True, marks=needs_processes)]
)
def test_a_canonical_batch_of_duplicates_matches_torch_on_the_repeated_batch(
    threads, processes, parallel_training
):
    """The estimator's training step: a batch with repeated samples, merged
    by ``canonical_batch`` (weights count the copies), then split into
    shards, gives torch's loss, gradients and running statistics on the
    batch as it came."""
    torch = pytest.importorskip("torch")
    from skcnn._training.batches import canonical_batch, sample_label_keys

    parallel_training(processes)
    rng = np.random.RandomState(9)
    X_unique = rng.rand(70, 64) * 3 + 1
    y_unique = rng.randint(0, 3, size=70)
    counts = rng.randint(1, 4, size=70)
    order = rng.permutation(counts.sum())
    X, y = X_unique.repeat(counts, axis=0)[order], y_unique.repeat(counts)[order]
    rows, w = canonical_batch(np.arange(len(y)), sample_label_keys(X, y), X, y, None)
    assert len(rows) == 70 and w.sum() == len(y) and _parallel.n_shards(70) == 2

    net = bn_network(np.float64)
    module, ours, theirs = torch_bn_network(net, torch)
    with _parallel.ShardedStep(net, SoftmaxCrossEntropy(), 70, n_steps=1, n_jobs=threads) as step:
        assert (step._processes is not None) == processes
        for _ in range(2):  # the second step starts from moved running statistics
            loss = step(X[rows].reshape(-1, 1, 8, 8), y[rows], w, float(w.sum()))
            module.zero_grad()
            loss_t = torch.nn.functional.cross_entropy(
                module(torch.from_numpy(X.reshape(-1, 1, 8, 8))), torch.from_numpy(y)
            )
            loss_t.backward()
            assert loss == pytest.approx(loss_t.item(), rel=1e-10)
            for layer, m in zip(ours, theirs):
                g = m.weight.grad.numpy()
                np.testing.assert_allclose(
                    layer.grads[0], g.T if isinstance(layer, Dense) else g, rtol=1e-8, atol=1e-11
                )
                np.testing.assert_allclose(layer.grads[1], m.bias.grad.numpy(), rtol=1e-8,
                                           atol=1e-11)
    bns = [m for m in module if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    stats = [s.numpy() for m in bns for s in (m.running_mean, m.running_var)]
    for a, b in zip(net.running_stats, stats):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@needs_processes
def test_worker_processes_hold_no_running_statistics(parallel_training, monkeypatch):
    """Only the caller moves and reads them: the workers' copy of the
    network has none that could go stale."""
    sent = []
    original = _processes.pickle.dumps

    def spy(obj, *args, **kwargs):
        sent.append(obj)
        return original(obj, *args, **kwargs)

    monkeypatch.setattr(_processes.pickle, "dumps", spy)
    net, _ = train_sharded(np.float32, parallel_training, 2, processes=True)
    templates = [obj[0] for obj in sent if isinstance(obj, tuple) and isinstance(obj[0], Sequential)]
    assert len(templates) == 1
    for layer in templates[0].layers:
        if layer.syncs_batch:
            assert layer.running_mean is None and layer.running_var is None
    assert all(np.isfinite(a).all() for a in net.running_stats)  # the caller's
