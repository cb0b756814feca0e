"""Predict speed of skcnn, its ONNX export in onnxruntime, and PyTorch CPU.

Nets A and B of ``_common.py`` (the networks ``bench_vs_torch.py`` times),
trained by skcnn for one epoch on the first ``--n-train`` MNIST images; the
ONNX model is ``skl2onnx.to_onnx`` of that model (``import skcnn.onnx``), and
PyTorch's network gets its weights, so that the three predict the same
labels (checked, and printed). Then, in one process, alternating the
frameworks (the first rotates every round) and taking the median of
``--repeats`` rounds after one warm-up call each:

- **batch**: the last ``--n-test`` MNIST images in one call: skcnn's
  ``predict``, ``session.run`` on the float32 images, PyTorch in ``eval``
  mode under ``torch.inference_mode()`` in batches of 1,000 (as
  ``bench_vs_torch.py`` predicts);
- **one image**: ``--single`` calls of one image each (what a service
  answering one request at a time sees).

Every framework gets ``--threads`` threads (skcnn's predict threads with BLAS
at one thread each, onnxruntime's intra-op threads, ``torch.set_num_threads``).
PyTorch is optional: without it its columns read "n/a". Run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_onnx.py
"""

import argparse
import functools
import os
import statistics
import warnings

import numpy as np
from _common import (
    N_CLASSES,
    NETS,
    TorchTrainer,
    alternate,
    load_average,
    load_mnist_split,
    machine_header,
    net_classifier,
    table,
    timed,
    torch,
)
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

FRAMEWORKS = ("skcnn", "onnxruntime", "torch")
LABELS = {"skcnn": "skcnn", "onnxruntime": "onnxruntime", "torch": "PyTorch CPU"}


def train(net, X, y):
    """skcnn's net ``net`` after one epoch on ``(X, y)``."""
    return net_classifier(net).partial_fit(X, y, classes=np.arange(N_CLASSES))


def onnx_session(model, X, threads):
    """The onnxruntime session of ``model``'s export, the seconds the export
    took, and the size of the ONNX model in bytes."""
    import onnxruntime as ort
    from skl2onnx import to_onnx

    import skcnn.onnx  # noqa: F401  (registers the converters)

    seconds, onx = timed(to_onnx, model, X[:1], options={"zipmap": False})
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    data = onx.SerializeToString()
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session, seconds, len(data)


def torch_with_weights(net, model, X, y):
    """PyTorch's net ``net`` holding ``model``'s weights, in a ``TorchTrainer``."""
    trainer = TorchTrainer.of_net(net, X[:1], y[:1])
    convs = [m for m in trainer.model if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in trainer.model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for module, weight, bias in zip(convs + linears, model.coefs_, model.intercepts_, strict=True):
            weight = weight if module in convs else weight.T  # Dense is (in, out)
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            module.bias.copy_(torch.from_numpy(bias))
    return trainer


def predictors(model, session, trainer):
    """A function images -> labels per framework."""
    fns = {
        "skcnn": model.predict,
        "onnxruntime": lambda X: session.run(["label"], {"X": X})[0],
    }
    if trainer is not None:
        fns["torch"] = trainer.predict
    return fns


def one_at_a_time(predict, X):
    for i in range(X.shape[0]):
        predict(X[i : i + 1])


def measure(fns, X, repeats, single):
    """Median images/s per framework on the batch ``X`` and one image at a time."""
    calls = {
        "batch": lambda predict: predict(X),
        "one image": lambda predict: one_at_a_time(predict, X[:single]),
    }
    n_images = {"batch": X.shape[0], "one image": single}
    names = list(fns)
    speeds = {}
    for case, call in calls.items():
        for name in names:  # warm-up
            call(fns[name])
        seconds = alternate({name: functools.partial(call, fns[name]) for name in names}, repeats)
        speeds[case] = {name: n_images[case] / statistics.median(s) for name, s in seconds.items()}
    return speeds


def report(net, args, X, y, X_test):
    print(f"\n## Net {net}: {NETS[net]['description']}\n")
    model = train(net, X, y)
    session, export_seconds, size = onnx_session(model, X_test, args.threads)
    trainer = torch_with_weights(net, model, X, y) if torch is not None and not args.no_torch else None
    fns = predictors(model, session, trainer)
    labels = {name: fn(X_test) for name, fn in fns.items()}
    agree = {name: float(np.mean(labels[name] == labels["skcnn"])) for name in fns}
    print(
        f"skcnn trained 1 epoch on {X.shape[0]} images; export {export_seconds:.2f} s, "
        f"ONNX model {size / 1024:.0f} KiB. Labels equal to skcnn's on the "
        f"{X_test.shape[0]} test images: "
        + ", ".join(f"{LABELS[n]} {100 * a:.2f} %" for n, a in agree.items() if n != "skcnn")
        + ".\n"
    )
    speeds = measure(fns, X_test, args.repeats, args.single)
    rows = []
    for case, speed in speeds.items():
        base = speed["skcnn"]
        cells = [f"{speed[n]:,.0f}" if n in speed else "n/a" for n in FRAMEWORKS]
        ratios = [f"**{speed[n] / base:.2f}**" if n in speed else "n/a" for n in FRAMEWORKS[1:]]
        rows.append([net, case] + cells + ratios)
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=["A", "B", "both"], default="both")
    parser.add_argument("--n-train", type=int, default=4000, help="training images (default 4000)")
    parser.add_argument("--n-test", type=int, default=2000, help="test images (default 2000)")
    parser.add_argument("--single", type=int, default=200, help="one-image calls per round (default 200)")
    parser.add_argument("--repeats", type=int, default=7, help="alternated rounds (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="threads per framework (default 2)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.single, args.repeats = 256, 256, 20, 2
    return args


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with threadpool_limits(args.threads):
        if torch is not None:
            torch.set_num_threads(args.threads)
        print("# Predict speed: skcnn, its ONNX export in onnxruntime, PyTorch CPU\n")
        import onnxruntime

        print("\n\n".join(machine_header(args.threads)))
        print(f"\nonnxruntime {onnxruntime.__version__}; process niceness {os.nice(0)}.")
        X, y, X_test, _ = load_mnist_split(args.n_train, args.n_test)
        nets = ["A", "B"] if args.net == "both" else [args.net]
        rows = [row for net in nets for row in report(net, args, X, y, X_test)]
        print(f"\nImages per second, median of {args.repeats} alternated rounds; "
              "speed relative to skcnn (above 1: faster than skcnn).\n")
        header = ["net", "calls"] + [f"{LABELS[n]} images/s" for n in FRAMEWORKS]
        header += [f"{LABELS[n]} / skcnn" for n in FRAMEWORKS[1:]]
        print(table(header, rows))
        print(f"\nLoad average (1/5/15 min) at the end: {load_average()}.")
        if torch is None or args.no_torch:
            print("\nPyTorch is not installed (or --no-torch): its columns read n/a.")


if __name__ == "__main__":
    main()
