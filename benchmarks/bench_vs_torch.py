"""skcnn side by side with PyTorch CPU and scikit-learn's MLPClassifier.

Trains the two networks of issue 3 ("Speed") on real MNIST digits in one
process, alternating the frameworks epoch by epoch so that machine drift
hits all of them alike, and prints markdown tables:

- seconds per training epoch (median over the epochs), and skcnn / torch;
- images per second at predict on the test images (median of a few
  alternated repeats), and the ratio of predict times;
- test accuracy after the same number of epochs (mean of a few seeds),
  and the difference;
- growth of the process's resident memory while predicting 60,000 images,
  each framework in a fresh subprocess;
- skcnn's epoch time at a quarter, half and all of the training set
  (linear scaling).

The networks (``_common.py``; float32, batch 64, Adam with learning rate 1e-3, shuffled):

- A: conv 8 3x3 "valid" -> relu -> max-pool 2 -> softmax (10 classes);
- B: conv 32 3x3 "same" -> relu -> pool 2 -> conv 64 3x3 "same" -> relu ->
  pool 2 -> dense 128 -> relu -> softmax.

PyTorch is optional: without it the torch columns read "n/a". Run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_vs_torch.py

(see ``benchmarks/README.md``: these variables pin an older, slower OpenBLAS
kernel on some machines).
"""

import argparse
import functools
import os
import statistics
import subprocess
import sys
import warnings

import numpy as np
from _common import (
    BATCH_SIZE,
    LEARNING_RATE,
    N_CLASSES,
    NETS,
    TorchTrainer,
    alternate,
    fmt,
    load_average,
    load_mnist_split,
    machine_header,
    memory_growth,
    net_classifier,
    table,
    torch,
    verdict,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

import skcnn
from skcnn._training.parallel import parallel_policy
from skcnn.datasets import load_mnist

EPOCHS = {"A": 5, "B": 3}
GOAL_TRAIN_RATIO = {"A": 1.5, "B": 1.0}
GOAL_PREDICT_RATIO = 1.0
GOAL_ACCURACY_POINTS = 0.5
GOAL_MEMORY_MB = 1024
# Slowest / fastest epoch of one framework (the first, which builds the model, left
# out) above which the run is flagged as noisy.
NOISY_SPREAD = 1.5
FRAMEWORKS = ("skcnn", "torch", "mlp")
LABELS = {"skcnn": "skcnn", "torch": "PyTorch CPU", "mlp": "sklearn MLPClassifier (dense 128)"}


# ----------------------------------------------------------------- models


def make_mlp(seed=0):
    """scikit-learn's dense baseline: one hidden layer of 128 relu units."""
    return MLPClassifier(
        hidden_layer_sizes=(128,),
        solver="adam",
        learning_rate_init=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        alpha=0.0,
        random_state=seed,
    )


# ------------------------------------------------------------- measuring


def train_side_by_side(net, X, y, epochs, frameworks, seed=0):
    """Train every framework for ``epochs`` epochs, alternating epoch by epoch.

    Returns the trained models and, per framework, the list of epoch seconds.
    """
    classes = np.arange(N_CLASSES)
    X_flat = X.reshape(X.shape[0], -1)
    models = {"skcnn": net_classifier(net, seed), "mlp": make_mlp(seed)}
    steps = {
        "skcnn": lambda: models["skcnn"].partial_fit(X, y, classes=classes),
        "mlp": lambda: models["mlp"].partial_fit(X_flat, y, classes=classes),
    }
    if "torch" in frameworks:
        models["torch"] = TorchTrainer.of_net(net, X, y, seed)
        steps["torch"] = models["torch"].partial_fit
    times = alternate({name: steps[name] for name in frameworks}, epochs)
    return models, times


def predict_fn(name, model):
    """A function images -> class indices for one framework's model."""
    if name in ("skcnn", "torch"):
        return model.predict
    return lambda X: model.predict(X.reshape(X.shape[0], -1))


def predict_side_by_side(models, X_test, repeats, frameworks):
    """Median predict seconds on ``X_test`` per framework (alternated), and predictions."""
    predictions = {}
    for name in frameworks:  # one untimed warm-up call each
        predictions[name] = predict_fn(name, models[name])(X_test)
    fns = {name: predict_fn(name, models[name]) for name in frameworks}
    times = alternate({name: functools.partial(fns[name], X_test) for name in frameworks}, repeats)
    return {name: statistics.median(t) for name, t in times.items()}, predictions


def scaling(net, X, y, sizes, rounds):
    """skcnn's epoch seconds at each training-set size: the best of ``rounds``, alternated.

    The minimum, not the median: other processes only ever add time, and a
    burst of load during one size's epoch would fake a non-linearity.
    """
    classes = np.arange(N_CLASSES)
    models = {n: net_classifier(net) for n in sizes}
    for n in sizes:  # build and warm up on a few batches
        models[n].partial_fit(X[:256], y[:256], classes=classes)
    times = alternate(
        {n: functools.partial(models[n].partial_fit, X[:n], y[:n]) for n in sizes}, rounds
    )
    return {n: min(t) for n, t in times.items()}


# ---------------------------------------------------- memory (subprocess)


def memory_worker(framework, net, n_images, threads):
    """Body of the subprocess: memory growth (MB) while predicting ``n_images`` images.

    The model is built by one short training call (its weights do not matter
    for memory); the images are MNIST tiled to ``n_images``, float32 of shape
    (n, 1, 28, 28), allocated before the measurement. There is no warm-up
    call: what the first ``predict`` allocates counts. Prints the growth of
    the anonymous resident memory (sampled peak minus the value before the
    call), the growth of the kernel's peak RSS, the input's size, and whether
    the peak RSS could be reset (if not, its growth is a lower bound).
    """
    with threadpool_limits(threads):
        if torch is not None:
            torch.set_num_threads(threads)
        X_train, y_train, _, _ = load_mnist_split(256, 64)
        if framework == "skcnn":
            model = net_classifier(net).partial_fit(X_train, y_train, classes=np.arange(N_CLASSES))
        elif framework == "mlp":
            model = make_mlp().partial_fit(
                X_train.reshape(len(X_train), -1), y_train, classes=np.arange(N_CLASSES)
            )
        else:
            model = TorchTrainer.of_net(net, X_train, y_train).partial_fit()
        predict = predict_fn(framework, model)
        images, _ = load_mnist(return_X_y=True)
        reps = -(-n_images // len(images))
        X = np.tile(images, (reps, 1, 1))[:n_images].astype(np.float32)
        X /= np.float32(255)
        X = X.reshape(-1, 1, 28, 28)
        del images

        def call():  # the predictions are dropped before the last sample, as a caller's would be
            predict(X)

        _, anon, rss, exact = memory_growth(call)
    print(f"{anon:.1f} {rss:.1f} {X.nbytes / 2**20:.1f} {int(exact)}")


_MEMORY_CACHE = {}


def measure_memory(framework, net, n_images, threads):
    """Run :func:`memory_worker` in a fresh interpreter.

    Returns a dict of MB (``anon``: growth of the anonymous resident memory,
    ``rss``: growth of the peak RSS, ``input``: the input's size) and
    ``exact`` (the peak RSS could be reset), or None if the worker failed.
    The MLP does not depend on ``net`` and is measured once.
    """
    key = (framework, None if framework == "mlp" else net, n_images, threads)
    if key not in _MEMORY_CACHE:
        _MEMORY_CACHE[key] = _run_memory_worker(framework, net, n_images, threads)
    return _MEMORY_CACHE[key]


def _run_memory_worker(framework, net, n_images, threads):
    cmd = [
        sys.executable, os.path.abspath(__file__), "--memory-worker", framework,
        "--net", net, "--memory-images", str(n_images), "--threads", str(threads),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"<!-- memory worker {framework}/{net} failed: {done.stderr.strip()[-500:]} -->")
        return None
    anon, rss, input_mb, exact = done.stdout.split()[-4:]
    return {"anon": float(anon), "rss": float(rss), "input": float(input_mb),
            "exact": bool(int(exact))}


# ----------------------------------------------------------------- output


def print_scaling(net, X, y, rounds):
    """Print skcnn's epoch time on a quarter, a half and all of the training
    images; return the largest over the smallest time per image."""
    sizes = [max(BATCH_SIZE, X.shape[0] // 4), max(BATCH_SIZE, X.shape[0] // 2), X.shape[0]]
    sizes = sorted(set(sizes))
    scale = scaling(net, X, y, sizes, rounds)
    base = scale[sizes[0]] / sizes[0]
    print(f"\nskcnn linear scaling (best epoch of {rounds} alternated rounds):\n")
    print(table(
        ["training images", "s/epoch", "s per 1,000 images", "relative to smallest"],
        [[f"{n:,}", f"{scale[n]:.3f}", f"{1000 * scale[n] / n:.3f}",
          f"{(scale[n] / n) / base:.2f}"] for n in sizes],
    ))
    return max(scale[n] / n for n in sizes) / min(scale[n] / n for n in sizes)


def report_net(net, args, X, y, X_test, y_test, frameworks):
    """Measure one net and print its tables; returns its summary row."""
    epochs = args.epochs or EPOCHS[net]
    print(f"\n## Net {net}: {NETS[net]['description']}\n")
    print(
        f"{X.shape[0]} training images, {X_test.shape[0]} test images, {epochs} epochs, "
        f"batch {BATCH_SIZE}, Adam lr {LEARNING_RATE}, float32.\n",
        flush=True,
    )
    models, epoch_times = train_side_by_side(net, X, y, epochs, frameworks)
    predict_times, predictions = predict_side_by_side(
        models, X_test, args.predict_repeats, frameworks
    )
    memory = {
        name: measure_memory(name, net, args.memory_images, args.threads) for name in frameworks
    }
    per_epoch = {name: statistics.median(t) for name, t in epoch_times.items()}
    seed_accuracies = {name: [100 * np.mean(p == y_test)] for name, p in predictions.items()}
    for seed in range(1, args.accuracy_seeds):  # untimed: accuracy only
        more, _ = train_side_by_side(net, X, y, epochs, frameworks, seed)
        for name in frameworks:
            predicted = predict_fn(name, more[name])(X_test)
            seed_accuracies[name].append(100 * np.mean(predicted == y_test))
    accuracy = {name: np.mean(a) for name, a in seed_accuracies.items()}
    spread = {name: np.std(a) for name, a in seed_accuracies.items()}
    rows = []
    for name in FRAMEWORKS:
        if name not in frameworks:
            rows.append([LABELS[name]] + ["n/a"] * 7)
            continue
        t = epoch_times[name]
        mem = memory[name]
        rows.append([
            LABELS[name],
            f"{per_epoch[name]:.3f}",
            f"{min(t):.3f}-{max(t):.3f}",
            f"{X_test.shape[0] / predict_times[name]:,.0f}",
            f"{accuracy[name]:.2f} ± {spread[name]:.2f}",
            "failed" if mem is None else (
                f"{mem['anon']:,.0f} / {mem['rss']:,.0f}"
                + ("" if mem["exact"] else " (lower bound)")
            ),
            f"{per_epoch['skcnn'] / per_epoch[name]:.2f}",
            f"{predict_times['skcnn'] / predict_times[name]:.2f}",
        ])
    print(table(
        ["framework", "s/epoch (median)", "s/epoch (min-max)", "predict images/s",
         f"test accuracy % (mean ± std of {args.accuracy_seeds} seeds)",
         f"predict memory growth, {args.memory_images:,} images: anon / peak RSS (MB)",
         "skcnn / this: epoch time", "skcnn / this: predict time"],
        rows,
    ))
    print("\nEvery epoch, in order (seconds; the first includes building the model):\n")
    print(table(
        ["epoch"] + [LABELS[n] for n in frameworks],
        [[e + 1] + [f"{epoch_times[n][e]:.3f}" for n in frameworks] for e in range(epochs)],
    ))
    print(f"\nTest accuracy (%) after {epochs} epochs, seed by seed (seed 0 is the timed run):\n")
    print(table(
        ["seed"] + [LABELS[n] for n in frameworks],
        [[seed] + [f"{seed_accuracies[n][seed]:.2f}" for n in frameworks]
         for seed in range(args.accuracy_seeds)],
    ))
    # max/min seconds per image over the sizes; --scaling-rounds 0 leaves the table out
    linear = print_scaling(net, X, y, args.scaling_rounds) if args.scaling_rounds else None
    has_torch = "torch" in frameworks
    summary = {
        "net": net,
        "epochs": epochs,
        "seeds": args.accuracy_seeds,
        "train": per_epoch["skcnn"] / per_epoch["torch"] if has_torch else None,
        "train_best": (
            min(epoch_times["skcnn"]) / min(epoch_times["torch"]) if has_torch else None
        ),
        # The first epoch includes building the model (and starting worker
        # processes), so it is left out of the spread.
        "noisy": max(max(t[1:] or t) / min(t[1:] or t) for t in epoch_times.values())
        > NOISY_SPREAD,
        "predict": predict_times["skcnn"] / predict_times["torch"] if has_torch else None,
        "accuracy": accuracy["skcnn"] - accuracy["torch"] if has_torch else None,
        "memory": None if memory["skcnn"] is None else memory["skcnn"]["anon"],
        "linear": linear,
    }
    return summary


def print_summary(summaries, memory_images):
    """The goals of issue 3, one row per net."""
    print("\n## Ratios skcnn / PyTorch against the goals of issue 3\n")
    rows = []
    for s in summaries:
        goal = GOAL_TRAIN_RATIO[s["net"]]
        rows.append([
            s["net"],
            f"{fmt(s['train'], '.2f')} (goal <= {goal})",
            verdict(None if s["train"] is None else s["train"] <= goal),
            fmt(s["train_best"], ".2f"),
            f"{fmt(s['predict'], '.2f')} (goal <= {GOAL_PREDICT_RATIO})",
            verdict(None if s["predict"] is None else s["predict"] <= GOAL_PREDICT_RATIO),
            f"{fmt(s['accuracy'], '+.2f')} after {s['epochs']} epochs (mean of {s['seeds']} seeds)",
            verdict(None if s["accuracy"] is None else s["accuracy"] >= -GOAL_ACCURACY_POINTS),
            fmt(s["memory"], ",.0f", "failed"),
            verdict(None if s["memory"] is None else s["memory"] <= GOAL_MEMORY_MB),
            fmt(s["linear"], ".2f"),
        ])
    print(table(
        ["net", "train time ratio (median epochs)", "ok", "best epochs",
         "predict time ratio", "ok",
         "accuracy skcnn - torch (points)", "ok (>= -0.5)",
         f"skcnn predict memory growth (anon), {memory_images:,} images (MB)", "ok (<= 1 GB)",
         "max/min s per image over sizes"],
        rows,
    ))
    noisy = [s["net"] for s in summaries if s["noisy"]]
    if noisy:
        print(
            f"\n**Noisy run** (net {', '.join(noisy)}): a framework's slowest epoch after the "
            f"first took more than {NOISY_SPREAD}x its fastest, so other processes were competing for the "
            "cores. The medians are suspect; the ratio of best epochs is the more robust "
            "figure. Rerun on a quieter machine."
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=["A", "B", "both"], default="both")
    parser.add_argument(
        "--epochs", type=int, default=None,
        help="epochs per framework (default: 5 for net A, 3 for net B)",
    )
    parser.add_argument("--n-train", type=int, default=8000, help="training images (default 8000)")
    parser.add_argument("--n-test", type=int, default=2000, help="test images (default 2000)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / torch threads (default 2)")
    parser.add_argument("--predict-repeats", type=int, default=5)
    parser.add_argument(
        "--accuracy-seeds", type=int, default=10,
        help="seeds whose test accuracy is averaged (the extra ones are not timed; default 10: "
        "the test accuracy after 3 epochs varies by about 0.5 points from seed to seed, "
        "in both frameworks)",
    )
    parser.add_argument(
        "--scaling-rounds", type=int, default=3,
        help="alternated rounds of the linear-scaling table (0 leaves it out; default 3)",
    )
    parser.add_argument(
        "--memory-images", type=int, default=60_000,
        help="images predicted by the memory subprocesses (default 60000)",
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="leave PyTorch out even if installed"
    )
    parser.add_argument(
        "--no-worker-processes", action="store_true",
        help="run skcnn's training shards on threads only, not on worker processes "
        "(for comparison; the models are the same)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--memory-worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test = 512, 256
        args.epochs = args.epochs or 2
        args.predict_repeats, args.scaling_rounds, args.accuracy_seeds = 2, 1, 2
        args.memory_images = 6000
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.memory_worker:
        memory_worker(args.memory_worker, args.net, args.memory_images, args.threads)
        return
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    frameworks = ["skcnn", "mlp"] if torch is None or args.no_torch else ["skcnn", "torch", "mlp"]
    # skcnn trains epoch by epoch (partial_fit), alternated with the other
    # frameworks: its worker processes are kept from one epoch to the next
    # (skcnn.reuse_workers(): the other frameworks' epochs may outlast the
    # workers' idle timeout). No estimator parameter chooses threads over
    # worker processes (the models are the same), hence the engine's policy
    # for --no-worker-processes.
    with (
        threadpool_limits(args.threads),
        skcnn.reuse_workers(),
        parallel_policy(worker_processes=not args.no_worker_processes),
    ):
        if torch is not None:
            torch.set_num_threads(args.threads)
        print("# skcnn vs PyTorch CPU vs scikit-learn MLPClassifier\n")
        print("\n\n".join(machine_header(args.threads)))
        if args.no_worker_processes:
            print("\nskcnn's training shards run on threads only (--no-worker-processes).")
        X, y, X_test, y_test = load_mnist_split(args.n_train, args.n_test)
        nets = ["A", "B"] if args.net == "both" else [args.net]
        summaries = [report_net(net, args, X, y, X_test, y_test, frameworks) for net in nets]
        print_summary(summaries, args.memory_images)
        print(f"\nLoad average (1/5/15 min) at the end: {load_average()}.")
        if torch is None or args.no_torch:
            print("\nPyTorch is not installed (or --no-torch): torch columns read n/a.")


if __name__ == "__main__":
    main()
