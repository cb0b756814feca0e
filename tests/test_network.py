"""The network: the layer stack, its gradients end to end and the estimator's
architecture (``skcnn._network``)."""

import numpy as np
import pytest
from tests.support.gradcheck import numerical_gradient

from skcnn._functional import conv as conv_kernels
from skcnn._random import mix_seed
from skcnn._loss import SoftmaxCrossEntropy
from skcnn._architecture import build_cnn_layers
from skcnn._network import Sequential
from skcnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU


def test_dropout_masks_follow_the_seed_and_the_sample_values():
    net = Sequential([Flatten(), Dropout(0.5), Dense(3), Dropout(0.5), Dense(2)])
    net.build((1, 4, 4), np.random.RandomState(0), np.float64)
    X = np.random.RandomState(1).rand(6, 1, 4, 4)
    X[3] = X[0]  # a repeated sample

    def masks(X, *entropy):
        net.forward(X, training=True, seed=entropy)
        return [layer._pop_cache() for layer in net.layers if isinstance(layer, Dropout)]

    first, again, other = masks(X, 1, 0), masks(X, 1, 0), masks(X, 1, 1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    # Identical samples get identical masks; distinct ones do not.
    np.testing.assert_array_equal(first[0][3], first[0][0])
    assert not np.array_equal(first[0][1], first[0][0])
    # A sample's mask does not depend on its batch: order and company.
    order = [5, 2, 0]
    for a, b in zip(masks(X[order], 1, 0), first):
        np.testing.assert_array_equal(a, b[order])
    # The network gives the layer at position 1 the seed mix_seed(1, 0, 1);
    # a layer alone hashes its own input, the same values here.
    layer = net.layers[1]
    layer.forward(X.reshape(6, -1), training=True, seed=mix_seed(1, 0, 1))
    np.testing.assert_array_equal(layer._pop_cache(), first[0])
    # Without a seed, each training pass moves the layer's own seed on: a
    # new mask for the same sample every time.
    layer.forward(X.reshape(6, -1), training=True)
    once = layer._pop_cache()
    layer.forward(X.reshape(6, -1), training=True)
    assert not np.array_equal(layer._pop_cache(), once)


def test_conv_hands_pool_blocked_memory_only_to_a_tiling_pool():
    def convs(layers, input_shape=(2, 8, 8)):
        net = Sequential(layers)
        net.build(input_shape, np.random.RandomState(0), np.float64)
        return [layer.pool_blocks for layer in layers if isinstance(layer, Conv2D)]

    assert convs([Conv2D(3, padding="same"), MaxPool2D(2), Conv2D(3), Flatten()]) == [(2, 2), None]
    assert convs([Conv2D(3), MaxPool2D(4)]) == [None]  # 6 x 6 output: 4 x 4 windows leave 2
    assert convs([Conv2D(3, padding="same"), MaxPool2D(3)]) == [None]  # 8 % 3 != 0
    assert convs([Conv2D(3, padding="same"), MaxPool2D(2, stride=1)]) == [None]
    assert convs([Conv2D(3, padding="same"), ReLU(), MaxPool2D(2)]) == [None]
    assert convs([Conv2D(3, padding="same"), MaxPool2D((1, 4))]) == [(1, 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("im2col_bytes", [None, 1])
def test_pool_blocked_training_pass_equals_the_plain_one(dtype, im2col_bytes, monkeypatch):
    """Same losses and gradients with and without the pool-blocked hand-over
    (and with the im2col matrix built whole or sample by sample)."""
    if im2col_bytes is not None:
        monkeypatch.setattr(conv_kernels, "IM2COL_CHUNK_BYTES", im2col_bytes)
    def make():
        layers = cnn_layers((2, 12, 8), 3, (4, 5), (3, 3), (2, 2), "same", (6,), "relu")
        net = Sequential(layers, reuse_buffers=True)
        net.build((2, 12, 8), np.random.RandomState(0), dtype)
        return net

    blocked, plain = make(), make()
    assert [l.pool_blocks for l in blocked.layers if isinstance(l, Conv2D)] == [(2, 2), (2, 2)]
    for layer in plain.layers:
        if isinstance(layer, Conv2D):
            layer.pool_blocks = None
    X = np.random.RandomState(1).rand(5, 2, 12, 8).astype(dtype)
    X[:, :, :4] = 0  # blank rows: ties in the pools
    y = np.array([0, 1, 2, 1, 0])
    for net in (blocked, plain):
        _, dlogits = SoftmaxCrossEntropy()(net.forward(X, training=True), y)
        net.backward(dlogits)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in zip(blocked.grads, plain.grads):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # Inference and inspection never see blocked memory.
    np.testing.assert_allclose(blocked.forward(X), plain.forward(X), rtol=tol, atol=tol)
    assert all(isinstance(out, np.ndarray) for out in blocked.forward_all(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reused_buffers_give_the_numbers_of_fresh_ones(dtype):
    """Arrays reused across training passes (zero borders and columns of
    ones written once) give the numbers of freshly allocated ones."""
    def make(reuse):
        layers = [
            Conv2D(3, padding="same"), MaxPool2D(2), ReLU(),
            Conv2D(4, kernel_size=2, stride=2, padding=1), ReLU(),  # shifted-GEMM path
            Conv2D(2, padding=(2, 1)), ReLU(), Flatten(), Dense(3),
        ]
        net = Sequential(layers, reuse_buffers=reuse)
        net.build((2, 12, 10), np.random.RandomState(0), dtype)
        return net

    reused, fresh = make(True), make(False)
    rng = np.random.RandomState(1)
    y = np.array([0, 1, 2, 1])
    for _ in range(3):  # new data every pass, through the same arrays
        X = (rng.standard_normal((4, 2, 12, 10)) * 10).astype(dtype)
        results = []
        for net in (reused, fresh):
            _, dlogits = SoftmaxCrossEntropy()(net.forward(X, training=True), y)
            net.backward(dlogits)
            results.append([g.copy() for g in net.grads])
        for got, want in zip(*results):
            np.testing.assert_array_equal(got, want)


def test_build_cnn_layers_puts_dropout_before_every_dense_layer():
    layers = cnn_layers(
        (1, 8, 8), n_outputs=3, filters=(2,), kernel_size=(3, 3), pool_size=(2, 2),
        padding="same", hidden_layer_sizes=(5, 4), activation="relu", dropout=0.5,
    )
    assert _layer_types(layers) == [
        "Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dropout", "Dense", "ReLU",
        "Dropout", "Dense", "ReLU", "Dropout", "Dense",
    ]
    assert {layer.rate for layer in layers if isinstance(layer, Dropout)} == {0.5}




def test_sequential_end_to_end_finite_differences():
    rng = np.random.RandomState(16)
    net = Sequential([
        Conv2D(3, kernel_size=3, padding="same"),
        MaxPool2D(2),
        ReLU(),
        Conv2D(4, kernel_size=(2, 3)),
        ReLU(),
        Flatten(),
        Dense(3),
    ])
    assert net.build((2, 6, 6), rng, np.float64) == (3,)
    for layer in net.layers:
        if layer.params and getattr(layer, "bias", None) is not None:
            layer.bias[...] = 0.1 * rng.standard_normal(layer.bias.shape)
    X = rng.standard_normal((3, 2, 6, 6))
    y = np.array([0, 2, 1])
    w = np.array([1.0, 2.5, 0.5])
    loss_fn = SoftmaxCrossEntropy()

    loss, dlogits = loss_fn(net.forward(X, training=True), y, w)
    net.backward(dlogits)
    analytic = [g.copy() for g in net.grads]
    assert len(analytic) == len(net.params) == 6

    def f():
        return loss_fn(net.forward(X), y, w)[0]

    assert f() == pytest.approx(loss, rel=1e-14)
    for param, grad in zip(net.params, analytic):
        assert np.abs(grad).max() > 0
        np.testing.assert_allclose(
            grad, numerical_gradient(f, param), rtol=1e-6, atol=1e-9
        )


def test_sequential_params_are_live_arrays_in_layer_order():
    net = Sequential([Conv2D(2), ReLU(), Flatten(), Dense(3)])
    net.build((1, 4, 4), np.random.RandomState(0), np.float64)
    conv, dense = net.layers[0], net.layers[3]
    expected = [conv.weight, conv.bias, dense.weight, dense.bias]
    assert all(a is b for a, b in zip(net.params, expected))
    assert len(net.params) == len(expected)
    assert [g.shape for g in net.grads] == [p.shape for p in expected]


def cnn_layers(*args, **kwargs):
    """The layers of build_cnn_layers, without their names."""
    return [layer for _, layer in build_cnn_layers(*args, **kwargs)]


def test_build_cnn_layers_names_its_layers():
    named = build_cnn_layers(
        (1, 8, 8), n_outputs=3, filters=(2, 4), kernel_size=(3, 3), pool_size=(2, 2),
        padding="same", hidden_layer_sizes=(5,), activation="relu", dropout=0.5,
    )
    assert [name for name, _ in named] == [
        "conv1", "pool1", "relu1", "conv2", "pool2", "relu2", "flatten",
        "drop1", "fc1", "relu3", "drop2", "out",
    ]
    tanh = build_cnn_layers(
        (1, 8, 8), n_outputs=3, filters=(2,), kernel_size=(3, 3), pool_size=(2, 2),
        padding="same", hidden_layer_sizes=(), activation="tanh",
    )
    assert [name for name, _ in tanh] == ["conv1", "tanh1", "pool1", "flatten", "out"]


def _layer_types(layers):
    return [type(layer).__name__ for layer in layers]


def test_build_cnn_layers_block_order():
    kwargs = dict(
        n_outputs=3, filters=(2, 4), kernel_size=(3, 3), pool_size=(2, 2),
        padding="same", hidden_layer_sizes=(5,),
    )
    relu = cnn_layers((1, 8, 8), activation="relu", **kwargs)
    assert _layer_types(relu) == [
        "Conv2D", "MaxPool2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU",
        "Flatten", "Dense", "ReLU", "Dense",
    ]
    tanh = cnn_layers((1, 8, 8), activation="tanh", **kwargs)
    assert _layer_types(tanh) == [
        "Conv2D", "Tanh", "MaxPool2D", "Conv2D", "Tanh", "MaxPool2D",
        "Flatten", "Dense", "Tanh", "Dense",
    ]
    net = Sequential(relu)
    assert net.build((1, 8, 8), np.random.RandomState(0), np.float64) == (3,)
    assert relu[6].output_shape == (4 * 2 * 2,)
    assert relu[-1].units == 3 and relu[0].filters == 2 and relu[3].filters == 4


def test_build_cnn_layers_clips_pools_and_drops_1x1_pools():
    layers = cnn_layers(
        (1, 3, 5), n_outputs=2, filters=(2, 3, 4), kernel_size=(3, 3),
        pool_size=(2, 2), padding="same", hidden_layer_sizes=(), activation="relu",
    )
    # (2, 3, 5) -pool 2x2-> (2, 1, 2) -conv-> (3, 1, 2) -pool clipped to 1x2->
    # (3, 1, 1) -conv-> (4, 1, 1): a 1x1 pool would be a no-op and is left out.
    assert _layer_types(layers) == [
        "Conv2D", "MaxPool2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU",
        "Conv2D", "ReLU", "Flatten", "Dense",
    ]
    assert layers[1].pool_size == (2, 2)
    assert layers[4].pool_size == (1, 2)
    net = Sequential(layers)
    net.build((1, 3, 5), np.random.RandomState(0), np.float64)
    for layer in net.layers:
        assert min(layer.output_shape) >= 1, layer
    assert layers[4].output_shape == (3, 1, 1)
    assert layers[-2].output_shape == (4,)
    out = net.forward(np.random.RandomState(1).standard_normal((2, 1, 3, 5)))
    assert out.shape == (2, 2)


def test_build_cnn_layers_pool_larger_than_input_is_clipped():
    layers = cnn_layers(
        (2, 4, 3), n_outputs=2, filters=(3,), kernel_size=(1, 1),
        pool_size=(5, 5), padding="valid", hidden_layer_sizes=(), activation="tanh",
    )
    assert layers[2].pool_size == (4, 3)
    net = Sequential(layers)
    net.build((2, 4, 3), np.random.RandomState(0), np.float64)
    assert layers[2].output_shape == (3, 1, 1)


@pytest.mark.parametrize("seed", range(3))
def test_pool_then_relu_equals_relu_then_pool(seed):
    """The conv -> pool -> relu block gives exactly the outputs and gradients
    of conv -> relu -> pool, also with the ties a blank background makes."""
    rng = np.random.RandomState(seed)
    input_shape = (2, 7, 6)

    def make(order):
        layers = [Conv2D(3, kernel_size=3, padding="same")]
        layers += [MaxPool2D(2), ReLU()] if order == "pool-relu" else [ReLU(), MaxPool2D(2)]
        layers += [Conv2D(2, kernel_size=2), ReLU(), Flatten(), Dense(3)]
        net = Sequential(layers)
        net.build(input_shape, np.random.RandomState(seed), np.float64)
        return net

    a, b = make("pool-relu"), make("relu-pool")
    for pa, pb in zip(a.params, b.params):
        pa[...] = rng.standard_normal(pa.shape)
        pb[...] = pa
    # Biases of mixed sign: zero patches give constant windows, positive or not.
    a.layers[0].bias[...] = b.layers[0].bias[...] = [0.5, -0.5, 0.0]
    X = rng.randint(-1, 2, size=(4,) + input_shape).astype(np.float64)
    X[:, :, :4, :4] = 0.0
    y = rng.randint(0, 3, size=4)
    loss_fn = SoftmaxCrossEntropy()

    out_a, out_b = a.forward(X, training=True), b.forward(X, training=True)
    np.testing.assert_array_equal(out_a, out_b)
    loss_a, d_a = loss_fn(out_a, y)
    loss_b, d_b = loss_fn(out_b, y)
    a.backward(d_a)
    b.backward(d_b)
    assert loss_a == loss_b
    for ga, gb in zip(a.grads, b.grads):
        np.testing.assert_array_equal(ga, gb)
    assert np.abs(a.layers[0].grads[0]).max() > 0
