"""Where one skcnn training epoch goes, operation by operation.

Trains nets A and B of issue 3 ("Speed") on real MNIST digits (float32,
batch 64, Adam) and times every piece of each epoch by wrapping, from
outside and on this model only, the layers' ``forward`` / ``backward``, the
convolution kernels of :mod:`skcnn._functional.conv` they call, the loss, the
optimizer's ``step`` and the estimator's epoch loop. skcnn itself is not
modified. Prints two markdown tables per net: every timed region (with the
GFLOP/s of the GEMM-bound ones) and the same time grouped by kind of
operation (conv forward, conv weight gradient, conv input gradient, pool,
activation, dense, loss, optimizer, batch gathering, other).

Times are *exclusive*: a region's time excludes the timed regions inside it,
so the rows add up to the epoch. The numbers are the mean over ``--epochs``
epochs, after one untimed warm-up call that builds the model. The profile runs
on one thread (``--threads`` BLAS threads): it measures the work. In training,
skcnn splits every batch into shards that its threads run side by side
(``skcnn._training.parallel``), so on n cores an epoch takes about this work / n, plus
the optimizer's share. Run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_epoch.py
"""

import argparse
import functools
import time
from collections import defaultdict

import numpy as np
from _common import (
    load_mnist_split,
    machine_line,
    net_classifier,
    openblas_warning,
    table,
)
from threadpoolctl import threadpool_limits

import skcnn._functional.conv
import skcnn._loss
import skcnn._training.parallel
import skcnn.layers._conv
from skcnn.layers import Conv2D, Dense, Flatten, MaxPool2D

# Region name (after the layer prefix) -> kind of operation, for the grouped table.
KINDS = [
    ("conv", "forward > pad", "conv forward (pad)"),
    ("conv", "forward > im2col", "conv forward (im2col copy)"),
    ("conv", "forward", "conv forward (GEMM + bias)"),
    ("conv", "backward > dX", "conv input gradient"),
    ("conv", "backward > dX > pad", "conv input gradient"),
    ("conv", "backward > dX > im2col", "conv input gradient"),
    ("conv", "backward > im2col", "conv weight gradient (im2col copy)"),
    ("conv", "backward", "conv weight + bias gradient"),
    ("pool", "forward", "max-pool forward"),
    ("pool", "backward", "max-pool backward"),
    ("act", "forward", "activation forward"),
    ("act", "backward", "activation backward"),
    ("dense", "forward", "dense forward"),
    ("dense", "backward", "dense backward"),
    ("flatten", "forward", "flatten"),
    ("flatten", "backward", "flatten"),
]


class Profiler:
    """Nested wall-clock regions with exclusive (self) times.

    ``with profiler.region(name):`` or :meth:`wrap` adds the region's time to
    ``name`` minus the time of the regions opened inside it.
    """

    def __init__(self):
        self.exclusive = defaultdict(float)
        self.calls = defaultdict(int)
        self._stack = []  # [name, start, time of children]

    def start(self, name):
        self._stack.append([name, time.perf_counter(), 0.0])

    def stop(self):
        name, started, children = self._stack.pop()
        elapsed = time.perf_counter() - started
        self.exclusive[name] += elapsed - children
        self.calls[name] += 1
        if self._stack:
            self._stack[-1][2] += elapsed

    @property
    def current(self):
        """Name of the innermost open region (None at top level)."""
        return self._stack[-1][0] if self._stack else None

    def wrap(self, fn, name):
        """``fn`` timed as region ``name`` (a string, or a callable of the parent's name)."""

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.start(name(self.current) if callable(name) else name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop()

        timed.region = name
        return timed

    def reset(self):
        self.exclusive.clear()
        self.calls.clear()


def _layer_names(layers):
    """Readable names: conv1, pool1, relu1, ..., dense1, output."""
    counts = defaultdict(int)
    names = []
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    for layer in layers:
        if isinstance(layer, Dense) and layer is dense[-1]:
            names.append("output")
            continue
        kind = {Conv2D: "conv", MaxPool2D: "pool", Dense: "dense", Flatten: "flatten"}.get(
            type(layer), type(layer).__name__.lower()
        )
        counts[kind] += 1
        names.append(kind if kind == "flatten" else f"{kind}{counts[kind]}")
    return names


def _kind(layer):
    if isinstance(layer, Conv2D):
        return "conv"
    if isinstance(layer, MaxPool2D):
        return "pool"
    if isinstance(layer, Dense):
        return "dense"
    if isinstance(layer, Flatten):
        return "flatten"
    return "act"


def instrument(clf, profiler, restore):
    """Wrap the pieces of a built (warmed-up) estimator's epoch with timers.

    Instance attributes shadow the methods of this estimator, its layers and
    its optimizer only. The module-level kernels and the loss are replaced
    too: ``(owner, attribute, original)`` triples are appended to ``restore``
    so that the caller can put them back. Returns, per region name, the
    floating-point operations of one sample (for GFLOP/s).
    """
    flops = {}
    layers = clf._network.layers
    for name, layer in zip(_layer_names(layers), layers):
        layer.forward = profiler.wrap(layer.forward, f"{name} forward")
        layer.backward = profiler.wrap(layer.backward, f"{name} backward")
        if isinstance(layer, Conv2D):
            o, ho, wo = layer.output_shape
            kh, kw = layer.kernel_size
            gemm = 2 * ho * wo * kh * kw * layer.input_shape[0] * o
            flops[f"{name} forward"] = gemm
            flops[f"{name} backward"] = gemm  # dW (bias: a GEMV, negligible)
            flops[f"{name} backward > dX"] = gemm
        elif isinstance(layer, Dense):
            gemm = 2 * layer.input_shape[0] * layer.units
            flops[f"{name} forward"] = gemm
            flops[f"{name} backward"] = gemm * (1 if layer is layers[0] else 2)

    def child(label):
        return lambda parent: f"{parent} > {label}"

    for owner, attr, name in [
        (skcnn._functional.conv, "pad_nhwc", child("pad")),
        (skcnn._functional.conv, "im2col_nhwc", child("im2col")),
        (skcnn.layers._conv, "conv2d_backward_input", child("dX")),
        (skcnn._loss.SoftmaxCrossEntropy, "__call__", "loss (softmax cross-entropy)"),
        (skcnn._training.parallel.ShardedStep, "optimizer_step", "optimizer step (Adam)"),
    ]:
        original = getattr(owner, attr, None)
        if original is None:  # skcnn's internals moved: time the layer as a whole
            print(f"<!-- {owner.__name__}.{attr} not found: not timed separately -->")
            continue
        setattr(owner, attr, profiler.wrap(original, name))
        restore.append((owner, attr, original))
    # Inside _run_epoch but outside _train_step: permutation, X[batch] gather, loop.
    clf._run_epoch = profiler.wrap(clf._run_epoch, "batch gathering + epoch loop")
    # Inside _train_step but outside the layers, loss and optimizer: Python glue.
    clf._train_step = profiler.wrap(clf._train_step, "train step glue")
    return flops


def kind_of(region, layer_kinds):
    """The row of the grouped table a region belongs to."""
    layer, _, rest = region.partition(" ")
    if layer in layer_kinds:
        for kind, suffix, label in KINDS:
            if layer_kinds[layer] == kind and rest == suffix:
                return label
    if region == "partial_fit (validation, snapshot)":
        return "partial_fit overhead (validation, snapshot)"
    return region


def replica_with_timers(profiler, original):
    """``Layer.replica`` whose twins time their own forward / backward.

    Training splits each batch into shards run by replicas of the network
    (``skcnn._training.parallel``); a replica copies its layer's attributes, timers
    included, which would run the original layer's methods. This rebinds them.
    """

    def replica(layer):
        twin = original(layer)
        for attr in ("forward", "backward"):
            timer = layer.__dict__.get(attr)
            if timer is not None:
                method = getattr(type(twin), attr).__get__(twin)
                setattr(twin, attr, profiler.wrap(method, timer.region))
        return twin

    return replica


def profile_net(net, X, y, epochs, seed=0):
    """Profile ``epochs`` epochs of one net.

    Returns the mean exclusive seconds per region, the flops per sample of the
    GEMM regions, the kind of every layer name, and one untimed epoch's seconds.
    """
    # One thread (n_jobs=1): the timers are not thread-safe, and the profile counts work.
    clf = net_classifier(net, seed).set_params(n_jobs=1)
    classes = np.arange(10)
    profiler = Profiler()
    restore = [(skcnn.layers.Layer, "replica", skcnn.layers.Layer.replica)]
    skcnn.layers.Layer.replica = replica_with_timers(profiler, skcnn.layers.Layer.replica)
    try:
        clf.partial_fit(X[:256], y[:256], classes=classes)  # build + create the optimizer
        started = time.perf_counter()
        clf.partial_fit(X, y)  # one epoch without timers, to show the timers' overhead
        plain = time.perf_counter() - started
        flops = instrument(clf, profiler, restore)
        fit = profiler.wrap(clf.partial_fit, "partial_fit (validation, snapshot)")
        for _ in range(epochs):
            fit(X, y)
    finally:
        for owner, attr, original in restore:
            setattr(owner, attr, original)
    layer_kinds = dict(zip(_layer_names(clf._network.layers), map(_kind, clf._network.layers)))
    regions = {name: t / epochs for name, t in profiler.exclusive.items()}
    return regions, flops, layer_kinds, plain


def print_tables(net, regions, flops, layer_kinds, plain, n_samples):
    total = sum(regions.values())
    print(f"\n## Net {net}: {n_samples} images, one epoch = {total:.3f} s with timers "
          f"({plain:.3f} s for an untimed epoch)\n")
    rows = []
    for name, t in sorted(regions.items(), key=lambda item: -item[1]):
        rate = ""
        if name in flops and t > 0:
            rate = f"{flops[name] * n_samples / t / 1e9:.1f}"
        rows.append([name, f"{t:.3f}", f"{100 * t / total:.1f}", rate])
    print(table(["region", "s/epoch", "%", "GFLOP/s"], rows))
    grouped = defaultdict(float)
    for name, t in regions.items():
        grouped[kind_of(name, layer_kinds)] += t
    print(f"\nNet {net} grouped by kind of operation:\n")
    print(table(
        ["operation", "s/epoch", "%"],
        [[name, f"{t:.3f}", f"{100 * t / total:.1f}"]
         for name, t in sorted(grouped.items(), key=lambda item: -item[1])],
    ))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=["A", "B", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (mean is reported)")
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="BLAS threads (default 1; skcnn's own training threads are always off here)",
    )
    parser.add_argument("--quick", action="store_true", help="512 images, 1 epoch: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.epochs = 512, 1
    X, y, _, _ = load_mnist_split(args.n_train, 1)
    with threadpool_limits(args.threads):
        print(f"# skcnn epoch profile\n\n{machine_line()}; float32, batch 64, Adam; "
              f"mean of {args.epochs} epochs.")
        warning = openblas_warning()
        if warning:
            print(f"\n{warning}")
        for net in ["A", "B"] if args.net == "both" else [args.net]:
            print_tables(net, *profile_net(net, X, y, args.epochs), X.shape[0])


if __name__ == "__main__":
    main()
