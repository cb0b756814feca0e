"""What BatchNorm2D costs next to the convolution it follows, ours and PyTorch's.

For each shape (net B's two convolutions, float32, batch 64) it times one
training forward + backward of the convolution and one of a BatchNorm2D on
the convolution's output, in skcnn and in PyTorch, and prints the ratio
BN time / conv time of each library (and BN ours / BN PyTorch's). The four
measurements are alternated round after round (the first rotating) and the
medians kept, so that machine drift hits all alike.

Both libraries run on one thread (``torch.set_num_threads(1)``, one BLAS
thread for numpy), as a training shard of skcnn does. PyTorch's tensors are
its default NCHW memory; ours are channels-last, as our layers pass them.

With ``--epoch`` it also trains net B with and without BatchNorm (after
each convolution and the hidden dense layer) on 1,024 MNIST images through
the data-parallel step: on one thread, on two worker processes (the
BatchNorm shards meet at every BatchNorm layer), and, for BatchNorm, as one
shard per batch (what a network with BatchNorm would cost if it gave up
splitting its batches), alternated round after round.

Run::

    nice python benchmarks/bench_batchnorm.py [--rounds 7] [--epoch] [--quick]
"""

import argparse
import functools
import statistics

import numpy as np
from _common import (
    alternate,
    load_average,
    load_mnist_split,
    machine_line,
    net_layers,
    table,
    torch,
)
from threadpoolctl import threadpool_limits

from skcnn._loss import SoftmaxCrossEntropy
from skcnn._network import Sequential
from skcnn._training import parallel as _parallel
from skcnn.layers import BatchNorm2D, Conv2D
from skcnn.optimizers import Adam

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


def measure(shape, rounds, repeats):
    rng = np.random.RandomState(0)
    steps = {"ours": ours(*shape, rng)}
    if torch is not None:
        steps["torch"] = theirs(*shape, rng)
    calls = {
        (lib, kind): step for lib, lib_steps in steps.items()
        for kind, step in zip(("conv", "bn"), lib_steps)
    }
    for step in calls.values():  # warm up: buffers, page faults, lazy init
        step()
    times = alternate(calls, rounds, repeats)
    return {key: statistics.median(values) for key, values in times.items()}


def net_b(batchnorm):
    """Net B (``_common.net_layers``), with BatchNorm after each convolution and
    the hidden dense layer if ``batchnorm``, built for MNIST images."""
    net = Sequential(net_layers("B", batchnorm), reuse_buffers=True)
    net.build((1, 28, 28), np.random.RandomState(0), np.float32)
    return net


# name: (BatchNorm, n_jobs, largest number of shards per batch)
EPOCH_CONFIGS = {
    "net B, 1 thread": (False, 1, _parallel.MAX_SHARDS),
    "net B, 2 processes": (False, 2, _parallel.MAX_SHARDS),
    "net B + BN, 1 thread": (True, 1, _parallel.MAX_SHARDS),
    "net B + BN, 2 processes": (True, 2, _parallel.MAX_SHARDS),
    "net B + BN, one shard": (True, 1, 1),
}


def measure_epochs(rounds, n_images=1024):
    """Seconds per ``n_images`` training images of each configuration (medians)."""
    X, y, _, _ = load_mnist_split(n_images, 1)
    steps = {}
    try:
        for name, (batchnorm, n_jobs, max_shards) in EPOCH_CONFIGS.items():
            net = net_b(batchnorm)
            step = _parallel.ShardedStep(
                net, SoftmaxCrossEntropy(), 64, n_steps=10**6, n_jobs=n_jobs, max_shards=max_shards
            ).__enter__()
            steps[name] = (step, Adam(net.params, learning_rate=1e-3))

        def epoch(step, optimizer):
            for i in range(0, len(y), 64):
                step(X[i : i + 64], y[i : i + 64], None, 64.0)
                step.optimizer_step(optimizer)

        calls = {name: functools.partial(epoch, *args) for name, args in steps.items()}
        # The first round warms up.
        times = {name: t[1:] for name, t in alternate(calls, rounds + 1).items()}
        on_processes = {name: step._processes is not None for name, (step, _) in steps.items()}
    finally:
        for step, _ in steps.values():
            step.__exit__(None, None, None)
    return {name: statistics.median(t) for name, t in times.items()}, on_processes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--epoch", action="store_true", help="also time training epochs")
    parser.add_argument(
        "--quick", action="store_true",
        help="a smoke run: 1 round of 2 steps, epochs (with --epoch) of 256 images",
    )
    args = parser.parse_args(argv)
    n_images = 1024
    if args.quick:
        args.rounds, args.repeats, n_images = 1, 2, 256
    if torch is not None:
        torch.set_num_threads(1)
    print(machine_line())
    print(
        f"float32, batch {BATCH}, one thread; medians of {args.rounds} alternated rounds "
        f"of {args.repeats} steps (forward + backward, training)\n"
    )
    rows = []
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
        rows.append(row)
    print(table(
        ["conv (in -> out, image)", "ours conv ms", "ours BN ms", "ours BN/conv",
         "torch conv ms", "torch BN ms", "torch BN/conv", "BN ours/torch"],
        rows,
    ))
    if args.epoch:
        seconds, on_processes = measure_epochs(args.rounds, n_images)
        base = seconds["net B, 1 thread"]
        print(f"\nTraining, batch 64, Adam, medians of {args.rounds} alternated rounds\n")
        print(table(
            ["configuration", "worker processes", f"s / {n_images:,} images",
             "vs net B, 1 thread"],
            [[name, "yes" if on_processes[name] else "no", f"{value:.3f}", f"{value / base:.2f}"]
             for name, value in seconds.items()],
        ))
    print(f"\nload after: {load_average()}")


if __name__ == "__main__":
    main()
