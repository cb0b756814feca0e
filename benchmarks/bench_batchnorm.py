"""What BatchNorm2D costs next to the convolution it follows, ours and PyTorch's.

For each shape (net B's two convolutions, float32, batch 64) it times one
training forward + backward of the convolution and one of a BatchNorm2D on
the convolution's output, in skcnn and in PyTorch, and prints the ratio
BN time / conv time of each library (and BN ours / BN PyTorch's). The four
measurements are alternated round after round and the medians kept, so that
machine drift hits all alike.

Both libraries run on one thread (``torch.set_num_threads(1)``, one BLAS
thread for numpy), as a training shard of skcnn does. PyTorch's tensors are
its default NCHW memory; ours are channels-last, as our layers pass them.

Run::

    nice python benchmarks/bench_batchnorm.py [--rounds 7]
"""

import argparse
import statistics
import time

import numpy as np
from _machine import cpu_model, load_average, numpy_blas, skcnn_version
from threadpoolctl import threadpool_limits

from skcnn.layers import BatchNorm2D, Conv2D

try:
    import torch
except ImportError:  # the torch columns print n/a
    torch = None

# (input channels, filters, image side): net B's convolutions on MNIST.
SHAPES = [(1, 32, 28), (32, 64, 14)]
BATCH = 64


def ours(c_in, filters, side, rng):
    conv, bn = Conv2D(filters, 3, padding="same"), BatchNorm2D()
    conv.reuse_buffers = bn.reuse_buffers = True  # as in the estimator's network
    conv.build((c_in, side, side), rng, np.float32)
    bn.build(conv.output_shape, rng, np.float32)
    X = rng.rand(BATCH, c_in, side, side).astype(np.float32)
    Y = conv.forward(X)  # channels-last memory, as the layers pass it
    G = np.ascontiguousarray(rng.standard_normal(Y.shape).astype(np.float32).transpose(0, 2, 3, 1))
    G = G.transpose(0, 3, 1, 2)

    def conv_step():
        conv.forward(X, training=True)
        conv.backward(G)

    def bn_step():
        bn.forward(Y, training=True)
        bn.backward(G)

    return conv_step, bn_step


def theirs(c_in, filters, side, rng):
    conv = torch.nn.Conv2d(c_in, filters, 3, padding="same")
    bn = torch.nn.BatchNorm2d(filters).train()
    X = torch.from_numpy(rng.rand(BATCH, c_in, side, side).astype(np.float32))
    Y = conv(X).detach().requires_grad_()
    G = torch.from_numpy(rng.standard_normal(tuple(Y.shape)).astype(np.float32))

    def conv_step():
        conv.zero_grad()
        conv(X).backward(G)

    def bn_step():
        bn.zero_grad()
        Y.grad = None
        bn(Y).backward(G)

    return conv_step, bn_step


def timed(fn, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(shape, rounds, repeats):
    rng = np.random.RandomState(0)
    steps = {"ours": ours(*shape, rng)}
    if torch is not None:
        steps["torch"] = theirs(*shape, rng)
    times = {(lib, kind): [] for lib in steps for kind in ("conv", "bn")}
    for lib_steps in steps.values():  # warm up: buffers, page faults, lazy init
        for step in lib_steps:
            step()
    for _ in range(rounds):
        for lib, (conv_step, bn_step) in steps.items():
            times[lib, "conv"].append(timed(conv_step, repeats))
            times[lib, "bn"].append(timed(bn_step, repeats))
    return {key: statistics.median(values) for key, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(1)
    print(f"skcnn {skcnn_version()}; {cpu_model()}; {numpy_blas()}; load {load_average()}")
    print(
        f"float32, batch {BATCH}, one thread; medians of {args.rounds} alternated rounds "
        f"of {args.repeats} steps (forward + backward, training)\n"
    )
    print(
        "| conv (in -> out, image) | ours conv ms | ours BN ms | ours BN/conv "
        "| torch conv ms | torch BN ms | torch BN/conv | BN ours/torch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        with threadpool_limits(1, user_api="blas"):
            t = measure(shape, args.rounds, args.repeats)
        c_in, filters, side = shape
        row = [
            f"{c_in} -> {filters}, {side}x{side}",
            f"{1e3 * t['ours', 'conv']:.2f}",
            f"{1e3 * t['ours', 'bn']:.2f}",
            f"{t['ours', 'bn'] / t['ours', 'conv']:.2f}",
        ]
        if torch is not None:
            row += [
                f"{1e3 * t['torch', 'conv']:.2f}",
                f"{1e3 * t['torch', 'bn']:.2f}",
                f"{t['torch', 'bn'] / t['torch', 'conv']:.2f}",
                f"{t['ours', 'bn'] / t['torch', 'bn']:.2f}",
            ]
        else:
            row += ["n/a"] * 4
        print("| " + " | ".join(row) + " |")
    print(f"\nload after: {load_average()}")


if __name__ == "__main__":
    main()
