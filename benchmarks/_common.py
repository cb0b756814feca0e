"""What the benchmark scripts share: the machine, the data, the networks,
timing in turns, and markdown tables.

The scripts run as ``python benchmarks/<script>.py``, which puts this folder
on ``sys.path``; they import from here and never from one another, so that a
network (net B, say) has one definition that every script times. The tests
never import this folder.

- **Machine**: what a run was made on (skcnn's commit, CPU, BLAS kernel,
  load), printed at the top of every result.
- **Data**: the MNIST split the scripts share (first images to train, last
  ones to test), and the noisy sinusoids of issue 21.
- **Networks**: nets A and B of issue 3 as skcnn estimators, as skcnn layer
  lists and as PyTorch modules; the PyTorch twin of an estimator's built-in
  network (2-D, or 1-D ``Conv1d`` for signals); one PyTorch training loop;
  the MNIST recipe of issue 14 (``mnist_recipe``).
- **Memory**: the process's resident memory, sampled during a call.
- **Timing**: :func:`timed`, and :func:`alternate`, which takes the things
  compared in turns (A B A B, the first rotating) so that machine drift hits
  them alike.
- **Tables**: markdown tables and the cells the scripts print.
"""

import os
import platform
import statistics
import subprocess
import threading
import time
from contextlib import contextmanager

import numpy as np
import sklearn
from threadpoolctl import threadpool_info

import skcnn
import skcnn.layers
from skcnn import NumpyCNNClassifier
from skcnn.augmentation import RandomRotation, RandomShift
from skcnn.datasets import load_mnist
from skcnn.layers import (
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
)

try:
    import torch
    from torch import nn
except ImportError:  # PyTorch is an optional benchmark dependency
    torch = nn = None

N_CLASSES = 10
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MNIST_SHAPE = (1, 28, 28)


# ------------------------------------------------------------------ machine


def skcnn_version():
    """skcnn's version, with the git commit of its source and whether it has local changes."""
    version = skcnn.__version__
    source = os.path.dirname(os.path.abspath(skcnn.__file__))
    try:
        commit = subprocess.run(
            ["git", "-C", source, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", source, "status", "--porcelain", "--", "."],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version} (git {commit}{', with uncommitted changes' if dirty else ''})"


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def numpy_blas():
    """numpy's BLAS as threadpoolctl reports it: library, version, kernel, threads."""
    found = [
        f"{info.get('internal_api')} {info.get('version')} "
        f"({info.get('architecture', '?')} kernel, {info.get('num_threads')} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", "")
    ]
    return ", ".join(found) or "unknown BLAS"


def openblas_warning():
    """A markdown warning if OPENBLAS_* variables are set, else None."""
    pinned = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    if not pinned:
        return None
    return (
        f"**Warning**: {pinned} set in the environment; it can pin a slower "
        "OpenBLAS kernel. Run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`."
    )


def load_average():
    """The 1, 5 and 15 minute load averages as ``a/b/c``."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_header(threads=None):
    """Markdown paragraphs naming the code, the machine, the libraries and the BLAS kernel.

    ``threads``: the threads the script gives every framework, if it sets them.
    """
    lines = [
        f"**skcnn** {skcnn_version()}.",
        f"**Machine**: {cpu_model()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}; numpy {np.__version__} with {numpy_blas()}; "
        f"scikit-learn {sklearn.__version__}; "
        f"torch {torch.__version__ if torch is not None else 'not installed'}"
        + (f" ({torch.get_num_threads()} threads)" if torch is not None else "")
        + ("" if threads is None else f"; benchmark threads: {threads}")
        + f"; load average at start {load_average()} (other processes on the machine add "
        "noise).",
    ]
    warning = openblas_warning()
    return lines + ([warning] if warning else [])


def machine_line():
    """The machine in one line, for the scripts that print a compact header."""
    return (
        f"skcnn {skcnn_version()}; {cpu_model()}, {os.cpu_count()} cores; "
        f"numpy {np.__version__} with {numpy_blas()}; load average at start {load_average()}"
    )


# --------------------------------------------------------------------- data


def load_mnist_split(n_train, n_test):
    """Real MNIST: the first ``n_train`` images for training, the last ``n_test`` for testing.

    Returns float32 images of shape (n, 1, 28, 28) scaled to [0, 1] and int64
    labels: ``X_train, y_train, X_test, y_test``.
    """
    images, labels = load_mnist(return_X_y=True)
    if n_train + n_test > images.shape[0]:
        raise ValueError(
            f"n_train + n_test must be at most {images.shape[0]}. "
            f"Received n_train={n_train}, n_test={n_test}."
        )
    X = (images.astype(np.float32) / np.float32(255)).reshape(-1, *MNIST_SHAPE)
    y = labels.astype(np.int64)
    return X[:n_train], y[:n_train], X[-n_test:], y[-n_test:]


def sinusoids(n, length=128, seed=0):
    """The signals of issue 21: ``n`` noisy sinusoids of ``length`` samples and
    their frequencies.

    ``sin(2 pi f t + phase)`` for ``t`` in ``[0, 1)`` plus Gaussian noise of
    standard deviation 0.5, with ``f`` uniform in 1-10 cycles per signal and
    the phase uniform: the frequency is read from the shape of the wave,
    wherever it starts. Returns ``X`` (float64) of shape ``(n, length)`` and
    ``y`` of shape ``(n,)``.
    """
    rng = np.random.RandomState(seed)
    t = np.arange(length) / length
    f = rng.uniform(1, 10, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    X = np.sin(2 * np.pi * f[:, None] * t + phase[:, None]) + rng.normal(0, 0.5, (n, length))
    return X, f


# ----------------------------------------------------- nets A and B in skcnn

NETS = {
    "A": {
        "filters": (8,),
        "padding": "valid",
        "hidden_layer_sizes": (),
        "description": 'conv 8 3x3 "valid" -> relu -> pool 2 -> softmax',
    },
    "B": {
        "filters": (32, 64),
        "padding": "same",
        "hidden_layer_sizes": (128,),
        "description": 'conv 32 "same" -> relu -> pool -> conv 64 "same" -> relu '
        "-> pool -> dense 128 -> relu -> softmax",
    },
}


def net_params(net):
    """The built-in network's parameters of net ``"A"`` or ``"B"`` (3x3 kernels, 2x2 pools)."""
    spec = NETS[net]
    return {
        "filters": spec["filters"], "kernel_size": 3, "pool_size": 2,
        "padding": spec["padding"], "hidden_layer_sizes": spec["hidden_layer_sizes"],
    }


def net_classifier(net, seed=0):
    """The skcnn estimator for net ``"A"`` or ``"B"``: Adam, batch 64, no L2, no dropout.

    The PyTorch nets of :func:`net_torch` have neither L2 nor dropout either.
    """
    return NumpyCNNClassifier(
        solver="adam",
        learning_rate_init=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        alpha=0.0,
        dropout=0.0,
        random_state=seed,
        **net_params(net),
    )


def net_layers(net, batchnorm=False):
    """Net ``"A"`` or ``"B"`` as a list of skcnn layers, the 10-unit output last.

    conv -> (BatchNorm2D) -> relu -> pool per block, flatten, then dense ->
    (BatchNorm1D) -> relu per hidden layer, as the PyTorch nets order them.
    """
    spec = NETS[net]

    def bn(layer):
        return [layer] if batchnorm else []

    layers = []
    for filters in spec["filters"]:
        layers += [Conv2D(filters, 3, padding=spec["padding"])] + bn(BatchNorm2D())
        layers += [ReLU(), MaxPool2D(2)]
    layers.append(Flatten())
    for units in spec["hidden_layer_sizes"]:
        layers += [Dense(units)] + bn(BatchNorm1D()) + [ReLU()]
    return layers + [Dense(N_CLASSES)]


# ------------------------------------------------------- the MNIST recipe

MNIST_RECIPE_EPOCHS = 60


def mnist_recipe(random_state=0, max_iter=MNIST_RECIPE_EPOCHS, verbose=True):
    """The documented architecture and training of the MNIST recipe (issue 14):
    ``mnist_accuracy.py`` measures its accuracy, ``bench_checkpoint.py`` the
    cost of checkpointing it."""
    layers = [
        ("conv1", Conv2D(32, kernel_size=3, padding="same")),
        ("relu1", ReLU()),
        ("conv2", Conv2D(32, kernel_size=3, padding="same")),
        ("pool1", MaxPool2D(2)),
        ("bn1", BatchNorm2D()),
        ("relu2", ReLU()),
        ("conv3", Conv2D(64, kernel_size=3, padding="same")),
        ("relu3", ReLU()),
        ("conv4", Conv2D(64, kernel_size=3, padding="same")),
        ("pool2", MaxPool2D(2)),
        ("bn2", BatchNorm2D()),
        ("relu4", ReLU()),
        ("flatten", Flatten()),
        ("drop1", Dropout(0.5)),
        ("fc", Dense(256)),
        ("relu5", ReLU()),
        ("drop2", Dropout(0.5)),
    ]
    return NumpyCNNClassifier(
        layers=layers,
        augment=[RandomShift(2), RandomRotation(10, order=0)],
        # SGD with Nesterov momentum whose step is divided by 5 each time the
        # training loss stalls for 3 epochs, on all 8,000 images (no
        # early-stopping hold-out), for a budget of 60 epochs.
        solver="sgd",
        learning_rate_init=0.05,
        learning_rate="adaptive",
        n_iter_no_change=3,
        early_stopping=False,
        max_iter=max_iter,
        random_state=random_state,
        verbose=verbose,
    )


# --------------------------------------------------- networks in PyTorch


@contextmanager
def _torch_seed(seed):
    """Seed a forked copy of torch's global generator (the global one is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def net_torch(net, seed=0, input_shape=MNIST_SHAPE):
    """Net ``"A"`` or ``"B"`` in PyTorch (conv -> relu -> pool), default initialization."""
    spec = NETS[net]
    channels, height, width = input_shape
    pad = 1 if spec["padding"] == "same" else 0
    modules = []
    with _torch_seed(seed):
        for filters in spec["filters"]:
            modules += [nn.Conv2d(channels, filters, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2)]
            height, width = (height + 2 * pad - 2) // 2, (width + 2 * pad - 2) // 2
            channels = filters
        modules.append(nn.Flatten())
        size = channels * height * width
        for units in spec["hidden_layer_sizes"]:
            modules += [nn.Linear(size, units), nn.ReLU()]
            size = units
        modules.append(nn.Linear(size, N_CLASSES))
        return nn.Sequential(*modules)


def torch_twin(estimator, input_shape, n_outputs, seed=0):
    """The built-in network of ``estimator`` (its parameters) in PyTorch.

    ``len(filters)`` blocks conv ("same" padding) -> max-pool -> relu, then
    flatten and, before every dense layer, dropout at the estimator's rate:
    the layers ``skcnn._architecture.build_cnn_layers`` builds. Samples of
    ``input_shape`` ``(C, H, W)`` get ``Conv2d`` / ``MaxPool2d`` (pools
    clipped to the input, as skcnn clips them); ``(C, L)`` gets ``Conv1d`` /
    ``MaxPool1d`` with the last entry of ``kernel_size`` and ``pool_size``,
    the network a signal needs. PyTorch's default initialization.
    """
    params = estimator.get_params()
    if params["activation"] != "relu" or params["padding"] != "same":
        raise ValueError(
            "torch_twin builds relu networks with 'same' padding. Received "
            f"activation={params['activation']!r}, padding={params['padding']!r}."
        )
    kernel = np.broadcast_to(params["kernel_size"], 2)
    pool = np.broadcast_to(params["pool_size"], 2)
    dropout = params["dropout"]
    channels, *spatial = input_shape
    one_d = len(spatial) == 1
    modules = []
    with _torch_seed(seed):
        for filters in params["filters"]:
            if one_d:
                k, p = int(kernel[1]), min(int(pool[1]), spatial[0])
                modules.append(nn.Conv1d(channels, filters, k, padding=k // 2))
                window = (p,)
                pooling = nn.MaxPool1d(p) if p > 1 else None
            else:
                k = tuple(int(v) for v in kernel)
                window = tuple(min(int(w), s) for w, s in zip(pool, spatial))
                modules.append(nn.Conv2d(channels, filters, k, padding=(k[0] // 2, k[1] // 2)))
                pooling = nn.MaxPool2d(window) if window != (1, 1) else None
            if pooling is not None:
                modules.append(pooling)
                spatial = [s // w for s, w in zip(spatial, window)]
            modules.append(nn.ReLU())
            channels = filters
        modules.append(nn.Flatten())
        size = channels * int(np.prod(spatial))
        for units in params["hidden_layer_sizes"]:
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
            modules += [nn.Linear(size, units), nn.ReLU()]
            size = units
        if dropout > 0:
            modules.append(nn.Dropout(dropout))
        modules.append(nn.Linear(size, n_outputs))
        return nn.Sequential(*modules)


def signal_layers(estimator):
    """The built-in network of ``estimator`` for ``(C, L)`` signals, in skcnn's 1-D layers.

    The layers and names of ``skcnn._architecture.build_cnn_layers`` with
    ``Conv1D`` / ``MaxPool1D`` (the last entry of ``kernel_size`` and
    ``pool_size``, "same" padding) in place of the 2-D layers; the estimator
    appends its output layer. None when ``skcnn.layers`` has no ``Conv1D``
    (or ``MaxPool1D``).
    """
    conv1d = getattr(skcnn.layers, "Conv1D", None)
    maxpool1d = getattr(skcnn.layers, "MaxPool1D", None)
    if conv1d is None or maxpool1d is None:
        return None
    params = estimator.get_params()
    kernel = int(np.broadcast_to(params["kernel_size"], 2)[1])
    pool = int(np.broadcast_to(params["pool_size"], 2)[1])
    layers, relu = [], 0
    for i, filters in enumerate(params["filters"], start=1):
        layers.append((f"conv{i}", conv1d(filters, kernel, padding=params["padding"])))
        if pool > 1:
            layers.append((f"pool{i}", maxpool1d(pool)))
        relu += 1
        layers.append((f"relu{relu}", ReLU()))
    layers.append(("flatten", Flatten()))
    drop = 0
    for i, units in enumerate(params["hidden_layer_sizes"], start=1):
        if params["dropout"] > 0:
            drop += 1
            layers.append((f"drop{drop}", Dropout(params["dropout"])))
        relu += 1
        layers += [(f"fc{i}", Dense(units)), (f"relu{relu}", ReLU())]
    if params["dropout"] > 0:
        layers.append((f"drop{drop + 1}", Dropout(params["dropout"])))
    return layers


class TorchTrainer:
    """A plain PyTorch training loop: shuffle, batch, Adam, one loss.

    Parameters
    ----------
    model : torch.nn.Module
    X : ndarray of shape (n_samples, ...), float32
    y : ndarray of shape (n_samples,)
        Class indices (``task="classification"``) or targets.
    seed : int
        Seeds a private ``torch.Generator`` for shuffling.
    learning_rate : float
    weight_decay : float
        Adam's ``weight_decay`` on the weights (tensors of more than one
        dimension), not the biases: skcnn's L2 penalty ``alpha`` is
        ``weight_decay=alpha / batch_size``.
    batch_size : int
    task : {"classification", "regression"}
        Cross-entropy on logits, or half the squared error (skcnn's
        regression loss) on one output.
    """

    def __init__(self, model, X, y, seed=0, learning_rate=LEARNING_RATE, weight_decay=0.0,
                 batch_size=BATCH_SIZE, task="classification"):
        self.model = model
        params = list(model.parameters())
        groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.ndim <= 1]}]
        if not weight_decay:
            groups = [{"params": params}]
        self.optimizer = torch.optim.Adam(groups, lr=learning_rate)
        self.X = torch.from_numpy(X)
        if task == "classification":
            self.y = torch.from_numpy(y.astype(np.int64))
        else:
            self.y = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(len(y), -1))
        self.batch_size = batch_size
        self.task = task
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def of_net(cls, net, X, y, seed=0):
        """A trainer of net ``"A"`` or ``"B"`` (:func:`net_torch`, seeded) with Adam's 1e-3."""
        return cls(net_torch(net, seed, X.shape[1:]), X, y, seed)

    @classmethod
    def twin_of(cls, estimator, X, y, seed=0, task="classification"):
        """A trainer of :func:`torch_twin` with the estimator's step, L2 penalty and batch size."""
        n_outputs = N_CLASSES if task == "classification" else 1
        return cls(
            torch_twin(estimator, X.shape[1:], n_outputs, seed), X, y, seed,
            learning_rate=estimator.learning_rate_init,
            weight_decay=estimator.alpha / estimator.batch_size,
            batch_size=estimator.batch_size, task=task,
        )

    def _loss(self, output, target):
        if self.task == "classification":
            return nn.functional.cross_entropy(output, target)
        return 0.5 * nn.functional.mse_loss(output, target)

    def partial_fit(self):
        """Train one epoch over the data."""
        self.model.train()
        order = torch.randperm(self.X.shape[0], generator=self.generator)
        for start in range(0, self.X.shape[0], self.batch_size):
            batch = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss(self.model(self.X[batch]), self.y[batch])
            loss.backward()
            self.optimizer.step()
        return self

    def fit(self, epochs):
        """Train ``epochs`` epochs."""
        for _ in range(epochs):
            self.partial_fit()
        return self

    def _outputs(self, X, batch_size, transform):
        self.model.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, X.shape[0], batch_size):
                batch = torch.from_numpy(X[start : start + batch_size])
                out.append(transform(self.model(batch)).numpy())
        return np.concatenate(out)

    def predict(self, X, batch_size=1000):
        """Class indices (or targets) of float32 samples, batch by batch without autograd."""
        if self.task == "classification":
            return self._outputs(X, batch_size, lambda out: out.argmax(dim=1))
        return self._outputs(X, batch_size, lambda out: out[:, 0])

    def predict_proba(self, X, batch_size=1000):
        """Class probabilities of float32 samples, batch by batch without autograd."""
        return self._outputs(X, batch_size, lambda out: torch.softmax(out, dim=1))


# ------------------------------------------------------------------- memory


def status_kb(field):
    """A ``kB`` field of ``/proc/self/status`` (VmRSS, VmHWM, RssAnon, ...)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def reset_peak_rss():
    """Reset the peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class AnonPeak(threading.Thread):
    """Sample the process's anonymous resident memory (``RssAnon``) until stopped.

    Unlike the kernel's peak RSS, it ignores pages of shared libraries and
    files faulted back in during the call (reclaimed pages of a large
    library like libtorch would otherwise count as growth).
    """

    def __init__(self, interval=0.002):
        super().__init__(daemon=True)
        self.interval = interval
        self.start_kb = self.peak_kb = status_kb("RssAnon")
        self._done = threading.Event()

    def run(self):
        while not self._done.wait(self.interval):
            self.peak_kb = max(self.peak_kb, status_kb("RssAnon"))

    def stop(self):
        """Stop sampling; return the peak in kB."""
        self._done.set()
        self.join()
        self.peak_kb = max(self.peak_kb, status_kb("RssAnon"))
        return self.peak_kb


def memory_growth(call):
    """Run ``call()`` and measure how much memory it took.

    Returns ``(result, anon_mb, rss_mb, exact)``: the growth of the anonymous
    resident memory (sampled peak minus its value before the call), the
    growth of the kernel's peak RSS, and whether the peak RSS could be reset
    (if not, its growth is a lower bound). Meant for a fresh interpreter,
    whose memory holds nothing but what the measurement needs.
    """
    exact = reset_peak_rss()
    rss_before = status_kb("VmRSS")
    sampler = AnonPeak()
    sampler.start()
    result = call()
    anon_growth = sampler.stop() - sampler.start_kb
    rss_growth = max(0, status_kb("VmHWM") - rss_before)
    return result, anon_growth / 1024, rss_growth / 1024, exact


# ------------------------------------------------------------------- timing


def timed(fn, *args, repeats=1, **kwargs):
    """Call ``fn(*args, **kwargs)`` ``repeats`` times; return (seconds per call, last result)."""
    start = time.perf_counter()
    for _ in range(repeats):
        result = fn(*args, **kwargs)
    return (time.perf_counter() - start) / repeats, result


def rotated(items, k):
    """``items`` rotated left by ``k``: a different one goes first each round."""
    items = list(items)
    k %= len(items)
    return items[k:] + items[:k]


def alternate(calls, rounds, repeats=1):
    """Time every call of ``calls`` once per round, in turns.

    ``calls`` maps a name to a function of no argument. Round ``r`` runs them
    in their order rotated left by ``r`` (A B, then B A, ...), so that
    machine drift hits them alike; each is :func:`timed` over ``repeats``
    calls. Returns ``{name: [seconds per call in round 0, 1, ...]}``.
    """
    times = {name: [] for name in calls}
    for r in range(rounds):
        for name in rotated(calls, r):
            times[name].append(timed(calls[name], repeats=repeats)[0])
    return times


def median(values):
    return statistics.median(values)


def pair_ratios(numerator, denominator):
    """Ratios of the measurements taken in the same round."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


# ------------------------------------------------------------------- tables


def table(header, rows):
    """A markdown table as a string."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value, spec, missing="n/a"):
    """``value`` formatted with ``spec``, or ``missing`` for None."""
    return missing if value is None else format(value, spec)


def verdict(ok):
    """A goal's cell: "yes", a bold "no", or "n/a" when it was not measured."""
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def ratio_cell(ratios):
    """The median ratio in bold, then every round's ratio in order."""
    return f"**{median(ratios):.2f}** ({', '.join(f'{r:.2f}' for r in ratios)})"
