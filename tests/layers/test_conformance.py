"""Layer conformance: every public layer class passes the same checks, as
``check_estimator`` runs one battery over every estimator.

``CONFORMANCE`` below is the one place a new layer is added: a few example
constructions with the sample shape they take, and its PyTorch twin. A test
fails for a class of ``skcnn.layers.PUBLIC_LAYERS`` without an entry, and
another for a layer class with a public name missing from ``__all__`` (which
would drop it from saved models' trusted types, the ONNX export and these
checks).

The checks (``check_*``, each also callable on a layer of one's own):
gradients of the input and the parameters against central finite
differences in float64; float32 against float64; shapes (``compute_output_shape``,
``build``, ``forward``); dtype and memory layout (channels-last in,
channels-last out; inputs never written); ``backward(input_grad=False)``;
inference without a cache; clone, ``get_params`` and ``set_params``; pickle,
replicas and skops; the ONNX converter against onnxruntime; PyTorch.
"""

import importlib
import math
import pickle
import pkgutil
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from sklearn.base import clone
from tests.support.gradcheck import numerical_gradient

import skcnn.layers
from skcnn._network import Sequential
from skcnn.layers import (
    PUBLIC_LAYERS,
    AvgPool1D,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    Identity,
    Layer,
    LeakyReLU,
    Logistic,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Tanh,
)

try:
    import torch

    F = torch.nn.functional
except ImportError:  # the twins below are only called when torch is there
    torch = F = None

BATCH = 3


@dataclass
class Entry:
    """How to check one layer class.

    ``examples``: ``(make, input_shape)`` pairs, a function returning a new
    layer and the shape of one sample it takes (tiny: the checks differentiate
    numerically). ``torch(layer, params, training)`` returns the function of
    a ``torch.Tensor`` batch that PyTorch computes for the built ``layer``,
    with ``params`` the torch tensors of ``layer.params`` (in order).
    """

    examples: list
    torch: Callable = field(repr=False, default=None)


def _conv(layer, p, training):
    conv = F.conv1d if layer.input_ndim == 2 else F.conv2d
    return lambda x: conv(x, *p, stride=layer.stride, padding=layer.padding)


def _pool(name):
    def twin(layer, p, training):
        pool = getattr(F, f"{name}{layer.input_ndim - 1}d")
        return lambda x: pool(x, layer.pool_size, layer.stride)

    return twin


def _global(name):
    def twin(layer, p, training):
        pool = getattr(F, f"adaptive_{name}_pool{layer.input_ndim - 1}d")
        return lambda x: torch.flatten(pool(x, 1), 1)

    return twin


def _batchnorm(layer, p, training):
    mean, var = torch.from_numpy(layer.running_mean.copy()), torch.from_numpy(layer.running_var.copy())
    return lambda x: F.batch_norm(
        x, mean, var, *p, training=training, momentum=layer.momentum, eps=layer.eps
    )


def _elementwise(function):
    return lambda layer, p, training: function


#: The conformance table: every class of PUBLIC_LAYERS, with examples that
#: reach its options (strides, padding kinds, no bias, windows that do not
#: tile, signals and images).
CONFORMANCE = {
    Conv2D: Entry(
        [
            (lambda: Conv2D(3, 3, padding=1), (2, 5, 6)),
            (lambda: Conv2D(2, (2, 3), stride=(2, 1), bias=False), (3, 5, 5)),
            (lambda: Conv2D(2, 4, padding="same"), (1, 5, 4)),
        ],
        _conv,
    ),
    Conv1D: Entry(
        [
            (lambda: Conv1D(3, 3, padding="same"), (2, 8)),
            (lambda: Conv1D(2, 4, stride=2, padding=1, bias=False), (3, 10)),
            (lambda: Conv1D(2, 2, padding="same"), (1, 7)),
        ],
        _conv,
    ),
    MaxPool2D: Entry(
        [(lambda: MaxPool2D(2), (2, 4, 6)), (lambda: MaxPool2D((2, 3), stride=(1, 2)), (2, 5, 7))],
        _pool("max_pool"),
    ),
    MaxPool1D: Entry(
        [(lambda: MaxPool1D(2), (2, 8)), (lambda: MaxPool1D(3, stride=2), (2, 9))],
        _pool("max_pool"),
    ),
    AvgPool2D: Entry(
        [(lambda: AvgPool2D(2), (2, 5, 4)), (lambda: AvgPool2D((3, 2), stride=(2, 1)), (1, 7, 5))],
        _pool("avg_pool"),
    ),
    AvgPool1D: Entry(
        [(lambda: AvgPool1D(2), (2, 7)), (lambda: AvgPool1D(3, stride=1), (2, 6))],
        _pool("avg_pool"),
    ),
    GlobalAvgPool2D: Entry([(GlobalAvgPool2D, (2, 3, 4))], _global("avg")),
    GlobalAvgPool1D: Entry([(GlobalAvgPool1D, (3, 5))], _global("avg")),
    GlobalMaxPool2D: Entry([(GlobalMaxPool2D, (2, 3, 4))], _global("max")),
    GlobalMaxPool1D: Entry([(GlobalMaxPool1D, (3, 5))], _global("max")),
    BatchNorm2D: Entry(
        [(BatchNorm2D, (2, 3, 3)), (lambda: BatchNorm2D(momentum=0.3, eps=1e-3), (3, 2, 2))],
        _batchnorm,
    ),
    BatchNorm1D: Entry(
        [(BatchNorm1D, (4,)), (lambda: BatchNorm1D(eps=1e-3), (2, 5))],
        _batchnorm,
    ),
    Dense: Entry(
        [(lambda: Dense(3), (5,)), (lambda: Dense(2, bias=False), (4,))],
        lambda layer, p, training: lambda x: F.linear(x, p[0].T, *p[1:]),
    ),
    Flatten: Entry(
        [(Flatten, (2, 3, 4)), (Flatten, (3, 5))],
        lambda layer, p, training: lambda x: torch.flatten(x, 1),
    ),
    Dropout: Entry(  # PyTorch's masks are its own: compared at inference only
        [(lambda: Dropout(0.3), (2, 3, 4)), (lambda: Dropout(0.5), (6,))],
        lambda layer, p, training: torch.nn.Dropout(layer.rate).eval(),
    ),
    ReLU: Entry([(ReLU, (2, 3, 4)), (ReLU, (3, 5))], _elementwise(F and F.relu)),
    LeakyReLU: Entry(
        [(LeakyReLU, (2, 3, 4)), (lambda: LeakyReLU(-0.5), (3, 5)), (lambda: LeakyReLU(2.0), (4,))],
        lambda layer, p, training: lambda x: F.leaky_relu(x, layer.negative_slope),
    ),
    Tanh: Entry([(Tanh, (2, 3, 4)), (Tanh, (3, 5))], _elementwise(torch and torch.tanh)),
    Logistic: Entry([(Logistic, (2, 3, 4))], _elementwise(torch and torch.sigmoid)),
    Identity: Entry([(Identity, (2, 3, 4))], _elementwise(lambda x: x)),
}

EXAMPLES = [
    pytest.param(cls, make, shape, id=f"{cls.__name__}-{i}")
    for cls, entry in CONFORMANCE.items()
    for i, (make, shape) in enumerate(entry.examples)
]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def distinct_values(rng, shape, gap=1e-3):
    """Values with no two closer than ``gap`` and none within ``gap`` of 0:
    no ties in a max-pool and no kink of an activation within a finite
    difference's step."""
    size = math.prod(shape)
    values = (rng.permutation(size) - size // 2 + 0.5) * gap * 4
    return values.reshape(shape) + rng.uniform(-gap, gap, size=shape)


def channels_last(X):
    """The same NCHW-shaped (NCL-shaped) values over channels-last memory,
    as the layers hand them to each other; flat batches as they are."""
    if X.ndim < 3:
        return X
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(X, 1, -1)), -1, 1)


def is_channels_last(Y):
    return Y.ndim < 3 or np.moveaxis(Y, 1, -1).flags.c_contiguous


def built(make, shape, dtype=np.float64, seed=0):
    """A new layer built for ``shape``, its parameters and running
    statistics random (not 0 and 1: converters and twins must read them)."""
    layer = make()
    layer.build(shape, np.random.RandomState(seed), dtype)
    rng = np.random.RandomState(seed + 1)
    for name in layer.param_names + ("running_mean", "running_var"):
        array = getattr(layer, name, None)
        if array is not None:
            low = 0.5 if name in ("running_var", "weight") and layer.syncs_batch else -1
            array[...] = rng.uniform(low, 1.5, size=array.shape)
    return layer


def forward(layer, X, training=False):
    """``layer.forward`` as a network calls it: a random layer (Dropout)
    gets a fixed seed and sample keys, so that its masks do not move."""
    if layer.takes_seed:
        return layer.forward(X, training, seed=7, keys=np.arange(len(X), dtype=np.uint64))
    return layer.forward(X, training=training)


def batch(shape, dtype=np.float64, seed=2):
    return distinct_values(np.random.RandomState(seed), (BATCH,) + tuple(shape)).astype(dtype)


def training_pass(layer, X, G, input_grad=True):
    """Output, input gradient and parameter gradients of one training pass."""
    out = forward(layer, X, training=True)
    dX = layer.backward(G, input_grad=input_grad)
    return out, dX, [g.copy() for g in layer.grads]


def upstream(layer, X, seed=3):
    shape = np.shape(forward(layer, X))
    return np.random.RandomState(seed).standard_normal(shape).astype(X.dtype)


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------


def check_gradients(make, shape, rtol=1e-6, atol=1e-8):
    """Input and parameter gradients against central finite differences of
    ``sum(forward(X, training=True) * G)``, in float64."""
    layer = built(make, shape)
    X = batch(shape)
    G = upstream(layer, X)
    _, dX, grads = training_pass(layer, X, G)
    assert len(grads) == len(layer.params)

    def f():
        out = forward(layer, X, training=True)
        layer.clear_cache()
        return float(np.sum(out * G))

    np.testing.assert_allclose(dX, numerical_gradient(f, X), rtol=rtol, atol=atol)
    for k, (param, grad) in enumerate(zip(layer.params, grads)):
        assert grad.shape == param.shape and grad.dtype == param.dtype
        np.testing.assert_allclose(
            grad, numerical_gradient(f, param), rtol=rtol, atol=atol,
            err_msg=f"gradient of {layer.param_names[k]}",
        )


def check_float32(make, shape):
    """A float32 layer with the float64 one's parameters computes the same
    values, gradients and parameters in float32, to float32's precision."""
    layer64, layer32 = built(make, shape), built(make, shape, np.float32)
    for name in layer64.param_names + ("running_mean", "running_var"):
        if getattr(layer64, name, None) is not None:
            getattr(layer32, name)[...] = getattr(layer64, name)
    X = batch(shape)
    G = upstream(layer64, X)
    results64 = training_pass(layer64, X, G)
    results32 = training_pass(layer32, X.astype(np.float32), G.astype(np.float32))
    for p in layer32.params:
        assert p.dtype == np.float32
    for got, want in zip(
        [results32[0], results32[1], *results32[2]], [results64[0], results64[1], *results64[2]]
    ):
        assert got.dtype == np.float32
        scale = float(np.abs(want).max()) or 1.0
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)


def check_shapes(make, shape):
    """``compute_output_shape`` (unbuilt), ``build``'s return, ``output_shape``
    and the forward pass agree; a layer with ``input_ndim`` refuses samples
    of another rank with a ValueError naming the shape."""
    fresh = make()
    expected = fresh.compute_output_shape(shape)
    assert isinstance(expected, tuple) and all(isinstance(s, int) for s in expected)
    assert fresh.params == [] and fresh.output_shape is None
    layer = make()
    assert layer.build(shape, np.random.RandomState(0), np.float64) == expected
    assert layer.output_shape == expected and layer.input_shape == tuple(shape)
    X = batch(shape)
    assert forward(layer, X).shape == (BATCH,) + expected
    assert forward(layer, X, training=True).shape == (BATCH,) + expected
    if layer.input_ndim is not None:
        assert len(shape) == layer.input_ndim
        for other in ((4,), (2, 4), (2, 4, 4)):
            if len(other) != layer.input_ndim:
                with pytest.raises(ValueError, match=re.escape(f"input_shape={other!r}")):
                    make().compute_output_shape(other)
    assert isinstance(layer.forward_flops(), int) and layer.forward_flops() >= 0
    assert isinstance(layer.scratch_size(), int) and layer.scratch_size() >= 0


def check_dtype_and_layout(make, shape):
    """What the network relies on: outputs and gradients in the input's
    dtype and shape; channels-last memory in gives channels-last memory out
    (so the next layer reads it without a copy); inputs and upstream
    gradients never written to; training and inference give the same values
    for a layer without randomness or batch statistics."""
    for dtype in (np.float64, np.float32):
        layer = built(make, shape, dtype)
        X = channels_last(batch(shape, dtype))
        X_saved = X.copy()
        inference = forward(layer, X)
        G = channels_last(upstream(layer, X))
        G_saved = G.copy()
        out, dX, grads = training_pass(layer, X, G)
        for array in (inference, out, dX):
            assert isinstance(array, np.ndarray) and array.dtype == dtype
        assert dX.shape == X.shape
        assert all(g.dtype == dtype for g in grads)
        if out.ndim == X.ndim:
            assert is_channels_last(inference) and is_channels_last(out)
        np.testing.assert_array_equal(X, X_saved)
        np.testing.assert_array_equal(G, G_saved)
        if not (layer.takes_seed or layer.syncs_batch):
            np.testing.assert_array_equal(out, inference)


def check_input_grad_false(make, shape):
    """``backward(input_grad=False)`` returns None and fills the same
    parameter gradients as ``backward()``."""
    X = batch(shape)
    a, b = built(make, shape), built(make, shape)
    G = upstream(a, X)
    _, dX_none, grads_none = training_pass(a, X, G, input_grad=False)
    _, dX, grads = training_pass(b, X, G)
    assert dX_none is None and dX is not None
    for got, want in zip(grads_none, grads):
        np.testing.assert_array_equal(got, want)


def check_backward_needs_a_training_forward(make, shape):
    """Inference keeps nothing: backward after it raises a RuntimeError."""
    layer = built(make, shape)
    X = batch(shape)
    Y = forward(layer, X)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones_like(Y))


def check_params(make, shape):
    """``get_params`` gives the constructor's arguments; ``clone`` makes an
    unbuilt copy with them; ``set_params`` with them changes nothing."""
    layer = built(make, shape)
    params = layer.get_params()
    assert sorted(params) == sorted(type(layer)._get_param_names())
    twin = clone(layer, safe=False)
    assert type(twin) is type(layer) and twin is not layer
    assert twin.get_params() == params
    assert twin.output_shape is None and twin.params == []
    assert layer.set_params(**params) is layer and layer.get_params() == params
    assert repr(twin) == repr(make())


def check_pickle_and_replica(make, shape):
    """A pickled layer predicts the same bits; a replica shares the
    parameters and computes the original's gradients in its own arrays."""
    layer = built(make, shape)
    X = batch(shape)
    loaded = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(forward(loaded, X), forward(layer, X))
    assert [g.shape for g in loaded.grads] == [p.shape for p in layer.params]
    G = upstream(layer, X)
    twin = layer.replica()
    assert all(a is b for a, b in zip(twin.params, layer.params))
    _, dX, grads = training_pass(layer, X, G)
    before = [g.copy() for g in layer.grads]
    _, dX_twin, grads_twin = training_pass(twin, X, G)
    np.testing.assert_array_equal(dX_twin, dX)
    for got, want, untouched, original in zip(grads_twin, grads, layer.grads, before):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(untouched, original)


def check_skops(make, shape):
    """Saved with skops and loaded with ``skcnn.SKOPS_TRUSTED_TYPES``, a
    layer predicts the same bits."""
    sio = pytest.importorskip("skops.io", reason="needs skops (pip install skops)")
    from skcnn import SKOPS_TRUSTED_TYPES

    layer = built(make, shape)
    data = sio.dumps(layer)
    untrusted = set(sio.get_untrusted_types(data=data))
    assert untrusted <= set(SKOPS_TRUSTED_TYPES), untrusted - set(SKOPS_TRUSTED_TYPES)
    loaded = sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    X = batch(shape)
    np.testing.assert_array_equal(forward(loaded, X), forward(layer, X))


class _OnnxGraph:
    """A standalone graph with the interface converters use
    (:class:`skcnn.onnx.OnnxGraph`): one layer's converter alone."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def _name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint, value):
        from onnx import numpy_helper

        value = np.asarray(value)
        value = value.astype(np.float32) if value.dtype.kind == "f" else value
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        from onnx import helper

        output = output or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output


def onnx_converter(cls):
    """The converter registered for ``cls``, or a failure naming the class."""
    pytest.importorskip("skl2onnx", reason="needs the 'onnx' extra: pip install '.[onnx]'")
    import skcnn.onnx

    convert = skcnn.onnx.LAYER_CONVERTERS.get(cls)
    assert convert is not None, (
        f"{cls.__name__} has no ONNX converter: register one in skcnn/onnx/_layers.py "
        "with register_layer_converter."
    )
    return convert


def check_onnx(make, shape):
    """The layer's registered converter, run by onnxruntime, computes the
    layer's inference output (float32, to 1e-5)."""
    layer = built(make, shape, np.float32)
    convert = onnx_converter(type(layer))
    ort = pytest.importorskip("onnxruntime", reason="needs the 'onnx' extra: pip install '.[onnx]'")
    from onnx import TensorProto, helper

    graph = _OnnxGraph()
    out = convert(layer, graph, "x")
    if out == "x":  # a pass-through layer
        out = graph.node("Identity", ["x"])
    model = helper.make_model(
        helper.make_graph(
            graph.nodes, type(layer).__name__,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, *shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    X = batch(shape, np.float32)
    (got,) = session.run(None, {"x": X})
    expected = forward(layer, X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def check_torch(make, shape, twin):
    """PyTorch computes the same values and gradients in float64: the
    inference pass, and the training pass of a layer without randomness."""
    if torch is None:
        pytest.skip("needs PyTorch (pip install '.[bench]')")
    layer = built(make, shape)
    X = batch(shape)
    cases = [False] if layer.takes_seed else [False, True]
    for training in cases:
        leaves = [torch.tensor(p, requires_grad=True) for p in layer.params]
        x = torch.tensor(X, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about even kernels with 'same'
            out_t = twin(layer, leaves, training)(x)
        if not training:
            np.testing.assert_allclose(forward(layer, X), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
            continue
        G = upstream(layer, X)
        out, dX, grads = training_pass(layer, X, G)
        (out_t * torch.from_numpy(G)).sum().backward()
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dX, x.grad.numpy(), rtol=1e-10, atol=1e-12)
        for grad, leaf in zip(grads, leaves):
            np.testing.assert_allclose(grad, leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def check_pool_blocks(make, shape):
    """A layer that takes a convolution's output in pool-blocked memory
    (``takes_pool_blocks``) computes what it computes on plain arrays."""
    if make().takes_pool_blocks(shape) is None:
        return
    conv = Conv2D if len(shape) == 3 else Conv1D
    X = batch(shape)
    results = []
    for blocked in (True, False):
        net = Sequential([conv(shape[0], 1), make()], reuse_buffers=True)
        net.build(shape, np.random.RandomState(0), np.float64)
        assert net.layers[0].pool_blocks is not None
        if not blocked:
            net.layers[0].pool_blocks = None
        out = net.forward(X, training=True)
        net.backward(np.ones_like(out))
        results.append([out.copy(), *[g.copy() for g in net.grads]])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# The tests: the checks over the table
# ---------------------------------------------------------------------------

CHECKS = [
    check_gradients, check_float32, check_shapes, check_dtype_and_layout, check_input_grad_false,
    check_backward_needs_a_training_forward, check_params, check_pickle_and_replica, check_skops,
    check_onnx, check_pool_blocks,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__[len("check_"):])
@pytest.mark.parametrize("cls, make, shape", EXAMPLES)
def test_layer_conformance(cls, make, shape, check):
    assert type(make()) is cls
    check(make, shape)


@pytest.mark.parametrize("cls, make, shape", EXAMPLES)
def test_layer_matches_torch(cls, make, shape):
    check_torch(make, shape, CONFORMANCE[cls].torch)


@pytest.mark.parametrize("cls", PUBLIC_LAYERS, ids=lambda cls: cls.__name__)
def test_every_public_layer_has_an_entry_and_an_onnx_converter(cls):
    assert cls in CONFORMANCE, (
        f"{cls.__name__} has no entry in CONFORMANCE (tests/layers/test_conformance.py): "
        "add example constructions and its PyTorch twin there."
    )
    onnx_converter(cls)


def test_every_entry_is_a_public_layer():
    assert [cls.__name__ for cls in CONFORMANCE if cls not in PUBLIC_LAYERS] == []


def _layer_classes_with_public_names():
    found = {}
    for info in pkgutil.iter_modules(skcnn.layers.__path__):
        module = importlib.import_module(f"skcnn.layers.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, Layer) and not name.startswith("_"):
                found[name] = obj
    return found


def test_every_layer_class_with_a_public_name_is_in_all():
    """A public layer left out of ``__all__`` would silently miss the
    trusted types of saved models, the ONNX coverage and these checks."""
    found = _layer_classes_with_public_names()
    assert {"Conv2D", "Conv1D", "LeakyReLU", "Layer"} <= set(found)
    assert sorted(set(found) - set(skcnn.layers.__all__)) == []
    assert set(PUBLIC_LAYERS) == set(found.values()) - set(skcnn.layers.BASES)


# ---------------------------------------------------------------------------
# The checks can fail
# ---------------------------------------------------------------------------


class _LeakyFromOutput(LeakyReLU):
    """The bug issue 22 found: a leaky relu's derivative read from its output,
    wrong where the slope is negative."""

    derivative_from = "output"


def test_the_gradient_check_catches_a_derivative_from_the_output():
    check_gradients(lambda: _LeakyFromOutput(0.5), (6,))  # a positive slope hides the bug
    with pytest.raises(AssertionError):
        check_gradients(lambda: _LeakyFromOutput(-0.5), (6,))


class _ScaleByTwo(ReLU):
    """A layer whose backward forgets a factor of its forward."""

    def _apply(self, X):
        return 2 * np.maximum(X, 0)


def test_the_checks_catch_a_wrong_backward_and_a_missing_converter():
    with pytest.raises(AssertionError):
        check_gradients(_ScaleByTwo, (5,))
    pytest.importorskip("skl2onnx", reason="needs the 'onnx' extra: pip install '.[onnx]'")
    with pytest.raises(AssertionError, match="_ScaleByTwo has no ONNX converter"):
        onnx_converter(_ScaleByTwo)
