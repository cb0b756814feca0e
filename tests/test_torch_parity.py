"""Same weights, same data: skcnn and PyTorch autograd agree in float64.

Layout conventions compared here: convolution weights are ``(out, in, kh, kw)``
in both; Flatten reads ``(C, H, W)`` in both; our Dense weight is ``(in, out)``,
the transpose of ``torch.nn.Linear.weight``.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from skcnn._loss import SoftmaxCrossEntropy  # noqa: E402
from skcnn._architecture import build_cnn_layers
from skcnn._network import Sequential  # noqa: E402
from skcnn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU  # noqa: E402
from skcnn.optimizers import SGD, Adam  # noqa: E402

RTOL, ATOL = 1e-10, 1e-12


def leaf(array):
    """A float64 torch leaf tensor (its own copy) that records gradients."""
    return torch.tensor(np.ascontiguousarray(array), dtype=torch.float64, requires_grad=True)


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# Single layers
# ---------------------------------------------------------------------------

CONV_CASES = [
    # (input (C, H, W), filters, kernel_size, stride, padding)
    ((2, 7, 7), 3, 3, 1, "valid"),
    ((2, 6, 7), 3, 3, 1, "same"),
    ((1, 6, 5), 2, 4, 1, "same"),  # even kernel: the extra padding goes after
    ((2, 5, 6), 2, (2, 3), 1, "same"),
    ((3, 8, 7), 4, 3, 2, 1),
    ((2, 9, 8), 3, (3, 2), (3, 2), (2, 1)),
    ((2, 5, 5), 2, 1, 2, "valid"),
    ((1, 4, 4), 2, 5, 1, 2),  # kernel larger than the input, padding makes room
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_torch(case):
    input_shape, filters, kernel, stride, padding = case
    rng = np.random.RandomState(0)
    conv = Conv2D(filters, kernel_size=kernel, stride=stride, padding=padding)
    conv.build(input_shape, rng, np.float64)
    conv.bias[...] = rng.standard_normal(filters)
    X = rng.standard_normal((3,) + input_shape)

    out = conv.forward(X, training=True)
    G = rng.standard_normal(out.shape)
    dX = conv.backward(G)

    x, w, b = leaf(X), leaf(conv.weight), leaf(conv.bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about even kernels with 'same'
        out_t = F.conv2d(x, w, b, stride=stride, padding=padding)
    (out_t * torch.from_numpy(G)).sum().backward()

    assert out.shape == tuple(out_t.shape)
    close(out, out_t)
    close(dX, x.grad)
    close(conv.grads[0], w.grad)
    close(conv.grads[1], b.grad)


POOL_CASES = [
    # (input (C, H, W), pool_size, stride)
    ((2, 6, 6), 2, None),
    ((2, 7, 5), 2, None),  # floor mode: a row and a column left over
    ((1, 6, 6), 3, 1),  # overlapping windows
    ((2, 7, 6), (3, 2), (2, 1)),  # overlapping along both axes
    ((2, 6, 7), (2, 3), (2, 1)),  # overlapping along the columns only
    ((2, 7, 6), (3, 2), (1, 2)),  # overlapping along the rows only
    ((1, 8, 7), 2, 3),  # gaps between windows
    ((3, 5, 6), (1, 3), None),
]


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_maxpool2d_matches_torch(case, ties):
    input_shape, pool, stride = case
    rng = np.random.RandomState(1)
    layer = MaxPool2D(pool, stride=stride)
    layer.build(input_shape, rng, np.float64)
    shape = (2,) + input_shape
    if ties:
        X = rng.randint(0, 3, size=shape).astype(np.float64)
        X[:, :, :3, :3] = 1.0  # constant windows as well
    else:
        X = rng.standard_normal(shape)

    out = layer.forward(X, training=True)
    G = rng.randint(-9, 10, size=out.shape).astype(np.float64)
    dX = layer.backward(G)

    x = leaf(X)
    out_t = F.max_pool2d(x, pool, stride=pool if stride is None else stride)
    (out_t * torch.from_numpy(G)).sum().backward()

    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(dX, x.grad.numpy())


# ---------------------------------------------------------------------------
# A whole network: net B scaled down
# ---------------------------------------------------------------------------

N_SAMPLES, IMAGE = 6, (1, 8, 8)


def net_b_layers(order):
    """conv 4 same -> relu -> pool 2 -> conv 8 same -> relu -> pool 2 -> flatten
    -> dense 16 -> relu -> dense 3; ``"estimator"`` builds it as the estimator
    does (pool before relu)."""
    if order == "estimator":
        named = build_cnn_layers(
            IMAGE, 3, filters=(4, 8), kernel_size=(3, 3), pool_size=(2, 2),
            padding="same", hidden_layer_sizes=(16,), activation="relu",
        )
        return [layer for _, layer in named]
    return [
        Conv2D(4, 3, padding="same"), ReLU(), MaxPool2D(2),
        Conv2D(8, 3, padding="same"), ReLU(), MaxPool2D(2),
        Flatten(), Dense(16), ReLU(), Dense(3),
    ]


def make_net(order, seed=0):
    net = Sequential(net_b_layers(order))
    assert net.build(IMAGE, np.random.RandomState(seed), np.float64) == (3,)
    rng = np.random.RandomState(seed + 1)
    conv1, conv2, dense1, dense2 = (l for l in net.layers if l.params)
    # Mixed-sign biases: blank patches give constant windows, so pool ties.
    conv1.bias[...] = [0.2, -0.1, 0.0, 0.3]
    conv2.bias[...] = rng.uniform(-0.2, 0.3, size=8)
    dense1.bias[...] = 0.1 * rng.standard_normal(16)
    dense2.bias[...] = 0.1 * rng.standard_normal(3)
    return net


def digit_like_images(seed=2):
    """Blank background with a few blobs at three intensity levels."""
    rng = np.random.RandomState(seed)
    X = np.zeros((N_SAMPLES,) + IMAGE)
    for x in X:
        r, c = rng.randint(0, 4, size=2)
        x[0, r : r + 4, c : c + 3] = rng.choice([0.5, 1.0], size=(4, 3))
    return X


def torch_params(net):
    """Leaf tensors for the net's parameters, in torch's layouts."""
    out = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            out += [leaf(layer.weight.T), leaf(layer.bias)]
        elif layer.params:
            out += [leaf(layer.weight), leaf(layer.bias)]
    return out


def torch_net_b(params, x):
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding="same")), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding="same")), 2)
    h = torch.flatten(h, 1)
    h = F.relu(F.linear(h, w3, b3))
    return F.linear(h, w4, b4)


def torch_loss(logits, y, w=None):
    if w is None:
        return F.cross_entropy(logits, y)
    w = torch.from_numpy(w)
    return (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()


def as_torch_layout(net, arrays):
    """Our parameter-shaped arrays in torch's layouts (Dense weights transposed)."""
    out, arrays = [], iter(arrays)
    for layer in net.layers:
        for k in range(len(layer.params)):
            a = next(arrays)
            out.append(a.T if isinstance(layer, Dense) and k == 0 else a)
    return out


@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "weighted"])
@pytest.mark.parametrize("order", ["relu-pool", "estimator"])
def test_network_matches_torch(order, weighted):
    net = make_net(order)
    X = digit_like_images()
    y = np.array([0, 1, 2, 1, 0, 2])
    w = np.array([1.0, 0.5, 2.0, 1.0, 3.0, 0.25]) if weighted else None

    logits = net.forward(X, training=True)
    loss, dlogits = SoftmaxCrossEntropy()(logits, y, w)
    net.backward(dlogits)

    params = torch_params(net)
    logits_t = torch_net_b(params, torch.from_numpy(X))
    loss_t = torch_loss(logits_t, torch.from_numpy(y), w)
    loss_t.backward()

    # The images do produce tied windows in the first pool.
    conv1_out = net.layers[0].forward(X)
    windows = conv1_out.reshape(N_SAMPLES, 4, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(N_SAMPLES, 4, 4, 4, 4)
    assert (np.sort(windows, axis=-1)[..., -1] == np.sort(windows, axis=-1)[..., -2]).any()

    close(logits, logits_t)
    assert loss == pytest.approx(loss_t.item(), rel=RTOL)
    grads = as_torch_layout(net, net.grads)
    assert len(grads) == len(params) == 8
    for ours, p in zip(grads, params):
        assert ours.shape == tuple(p.shape)
        assert np.abs(ours).max() > 0
        close(ours, p.grad)


def run_steps(net, params_t, make_ours, make_theirs, n_steps, before_torch_step=None):
    X = digit_like_images()
    y = np.array([0, 1, 2, 1, 0, 2])
    yt = torch.from_numpy(y)
    ours = make_ours(net.params)
    theirs = make_theirs(params_t)
    loss_fn = SoftmaxCrossEntropy()
    for t in range(1, n_steps + 1):
        _, dlogits = loss_fn(net.forward(X, training=True), y)
        net.backward(dlogits)
        ours.step(net.params, net.grads)

        theirs.zero_grad()
        torch_loss(torch_net_b(params_t, torch.from_numpy(X)), yt).backward()
        if before_torch_step is not None:
            before_torch_step(theirs, t)
        theirs.step()

        for a, p in zip(as_torch_layout(net, net.params), params_t):
            close(a, p, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("order", ["relu-pool", "estimator"])
def test_adam_steps_match_torch(order):
    """Two Adam steps on net B, against ``torch.optim.Adam``.

    Our Adam (scikit-learn's) folds the bias correction into the step:
    ``p -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``; torch
    adds ``eps`` after bias-correcting ``v``. The two agree exactly when torch's
    epsilon at step t is ``eps / sqrt(1 - b2**t)``, so set it so each step.
    """
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    net = make_net(order)
    params_t = torch_params(net)
    start = [p.copy() for p in net.params]

    def rescale_eps(opt, t):
        for group in opt.param_groups:
            group["eps"] = eps / np.sqrt(1 - b2**t)

    run_steps(
        net, params_t,
        lambda p: Adam(p, learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps),
        lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, b2), eps=eps),
        n_steps=2, before_torch_step=rescale_eps,
    )
    # The steps did move the parameters (by about lr per step, Adam's scale).
    moved = max(np.abs(p - s).max() for p, s in zip(net.params, start))
    assert 0.5 * lr < moved < 3 * lr


def test_adam_differs_from_torch_only_by_epsilon_placement():
    """Without rescaling eps the difference stays far below a step (a sign error or
    a missing bias correction would be of the order of the step itself)."""
    lr = 0.01
    net = make_net("relu-pool")
    params_t = torch_params(net)
    start = [p.copy() for p in as_torch_layout(net, net.params)]
    X = digit_like_images()
    y = np.array([0, 1, 2, 1, 0, 2])
    _, dlogits = SoftmaxCrossEntropy()(net.forward(X, training=True), y)
    net.backward(dlogits)
    Adam(net.params, learning_rate=lr).step(net.params, net.grads)
    opt = torch.optim.Adam(params_t, lr=lr)
    torch_loss(torch_net_b(params_t, torch.from_numpy(X)), torch.from_numpy(y)).backward()
    opt.step()
    for ours, p, s in zip(as_torch_layout(net, net.params), params_t, start):
        theirs = p.detach().numpy()
        # Parameters whose gradient is far above eps move by the same lr * sign(g).
        big = np.abs(p.grad.numpy()) > 1e-4
        np.testing.assert_allclose((ours - s)[big], (theirs - s)[big], rtol=1e-2)
        np.testing.assert_allclose(np.abs(theirs - s)[big], lr, rtol=1e-2)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_steps_match_torch(nesterov):
    lr, mu = 0.05, 0.9
    net = make_net("estimator")
    params_t = torch_params(net)
    run_steps(
        net, params_t,
        lambda p: SGD(p, learning_rate=lr, momentum=mu, nesterov=nesterov),
        lambda p: torch.optim.SGD(p, lr=lr, momentum=mu, nesterov=nesterov),
        n_steps=3,
    )
