"""Checkpoints and resumed fits (issue 24): a fit resumed from any checkpoint
ends with the bits of the fit that was not interrupted; a process killed with
SIGKILL in an epoch or in the middle of a write resumes so; other data,
another estimator, a damaged file are refused with a clear error."""

import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skcnn import SKOPS_TRUSTED_TYPES, NumpyCNNClassifier, NumpyCNNRegressor
from skcnn._training import checkpoint as _checkpoint
from skcnn.augmentation import RandomShift
from skcnn.layers import BatchNorm2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU

pytest.importorskip("sklearn.callback", reason="checkpoints are callbacks: they need scikit-learn >= 1.9")
from skcnn.callbacks import Checkpoint, load_checkpoint, resume_fit  # noqa: E402

try:
    import skops.io

    FORMATS = ["skops", "pickle"]
except ImportError:
    FORMATS = [pytest.param("skops", marks=pytest.mark.skip(reason="skops is not installed")),
               "pickle"]
DEFAULT_FORMAT = FORMATS[0] if isinstance(FORMATS[0], str) else "pickle"

N_SAMPLES = 300
NETWORK = ("filters", "hidden_layer_sizes")
# Tiny networks on 300 digits: a few epochs of each cost a few hundredths of a second.
TINY = dict(filters=(4,), hidden_layer_sizes=(8,), batch_size=64, max_iter=4, random_state=0)
CONFIGS = {
    "adam, dropout, early stopping that stops": (NumpyCNNClassifier, dict(
        solver="adam", dropout=0.2, early_stopping=True, n_iter_no_change=1, tol=10.0,
        learning_rate_init=0.01,
    )),
    "sgd, adaptive step cut after epoch 3": (NumpyCNNClassifier, dict(
        solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=10.0, dropout=0.0,
    )),
    "augmentation, batch norm, sample weights": (NumpyCNNClassifier, dict(
        layers=[("conv", Conv2D(4, 3, padding="same")), ("pool", MaxPool2D(2)),
                ("bn", BatchNorm2D()), ("relu", ReLU()), ("flat", Flatten()),
                ("fc", Dense(8)), ("relu2", ReLU())],
        augment=[RandomShift(1)], solver="adam", learning_rate_init=0.01,
        batchnorm_statistics="training_set",
    )),
    "regressor, sgd invscaling, early stopping": (NumpyCNNRegressor, dict(
        solver="sgd", learning_rate="invscaling", learning_rate_init=0.05,
        early_stopping=True, dropout=0.2,
    )),
}


def make(kind, **params):
    """``kind`` with the TINY settings and ``params`` (a layer list replaces
    TINY's network)."""
    tiny = {k: v for k, v in TINY.items() if not ("layers" in params and k in NETWORK)}
    return kind(**tiny, **params)


def data(kind, digits):
    X, y = digits
    X, y = X[:N_SAMPLES], y[:N_SAMPLES]
    return (X, y) if kind is NumpyCNNClassifier else (X, y.astype(float))


class CopyAt:
    """A callback that copies the checkpoint file after the tasks it names,
    ``(task name, epochs in loss_curve_)``: set after the Checkpoint, it
    keeps the files a kill at those moments would have left."""

    def __init__(self, path, *moments):
        self.path, self.moments, self.copies = Path(path), set(moments), {}

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, X=None):
        self._copy(context.task_name + " begins", len(estimator.loss_curve_))

    def on_fit_task_end(self, estimator, context, *, X=None):
        self._copy(context.task_name, len(estimator.loss_curve_))
        return False

    def _copy(self, task, n_iter):
        if (task, n_iter) in self.moments and self.path.exists():
            copy = self.path.with_name(f"{self.path.name}.{task.replace(' ', '-')}{n_iter}")
            shutil.copy(self.path, copy)
            self.copies[task, n_iter] = copy


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def assert_same_model(a, b, X):
    """Every number a fitted model holds, and its predictions, to the bit."""
    for p, q in zip(a._network.params + a._network.running_stats,
                    b._network.params + b._network.running_stats, strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_
    for name in ("n_iter_", "t_", "_epochs", "best_loss_", "validation_scores_",
                 "best_validation_score_", "_no_improvement_count"):
        assert getattr(a, name, None) == getattr(b, name, None), name
    if a._optimizer is not None:
        for p, q in zip(a._optimizer.arrays(), b._optimizer.arrays(), strict=True):
            np.testing.assert_array_equal(p, q)
        assert a._optimizer.learning_rate == b._optimizer.learning_rate
    for p, q in zip(a._rng.get_state(), b._rng.get_state(), strict=True):
        np.testing.assert_array_equal(p, q)
    out = "predict_proba" if hasattr(a, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(a, out)(X), getattr(b, out)(X))


# ---------------------------------------------------- resumed to the bits


@pytest.mark.parametrize("config", CONFIGS)
def test_a_fit_resumed_from_any_checkpoint_ends_with_the_same_bits(config, digits, tmp_path):
    kind, params = CONFIGS[config]
    X, y = data(kind, digits)
    w = np.linspace(0.5, 2, len(X)) if "sample weights" in config else None
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("fit begins", 0), *[("epoch", k) for k in (1, 2, 3, 4)])
    est = make(kind, **params).set_callbacks(Checkpoint(path, format=DEFAULT_FORMAT), copier)
    fit_quietly(est, X, y, sample_weight=w)
    reference = fit_quietly(make(kind, **params), X, y, sample_weight=w)
    assert_same_model(est, reference, X)  # checkpoints change nothing
    assert len(copier.copies) == 1 + reference.n_iter_
    if DEFAULT_FORMAT == "skops":  # what the epoch loop carries needs no other type
        untrusted = skops.io.get_untrusted_types(file=copier.copies["epoch", 2])
        assert set(untrusted) <= set(SKOPS_TRUSTED_TYPES)
    for copy in [*copier.copies.values(), path]:  # the fit's start, every epoch, its end
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resumed = resume_fit(copy, X, y, sample_weight=w)
        assert_same_model(resumed, reference, X)
        # The epochs after the checkpoint warn as the fit did; a finished fit is returned.
        warned = any(isinstance(c.message, ConvergenceWarning) for c in caught)
        assert warned == (copy != path and reference.n_iter_ == reference.max_iter), copy.name
    if "stops" in config:  # after epoch 3: resumed from epoch 3, it stops at once
        assert reference.n_iter_ == 3 < reference.max_iter
    if "cut" in config:
        assert reference._optimizer.learning_rate == reference.learning_rate_init / 5


@pytest.mark.parametrize("shards_on", ["threads_only", "worker_processes"])
def test_a_resumed_fit_has_the_same_bits_with_other_n_jobs(shards_on, digits, tmp_path, request):
    request.getfixturevalue(shards_on)  # the shards of a batch side by side, however small
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("epoch", 2))
    est = NumpyCNNClassifier(**TINY, n_jobs=2).set_callbacks(Checkpoint(path, format="pickle"), copier)
    fit_quietly(est, X, y)
    script = NumpyCNNClassifier(**TINY, n_jobs=1, verbose=True)
    resumed = resume_fit(copier.copies["epoch", 2], X, y, estimator=script)
    assert resumed is not script and resumed.n_jobs == 1 and resumed.verbose
    assert not hasattr(script, "n_iter_")  # the script's estimator is left alone
    assert_same_model(resumed, est, X)


def test_without_random_state_the_resumed_fit_splits_and_shuffles_as_the_fit_did(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    params = {**TINY, "random_state": None, "early_stopping": True}
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("epoch", 2))
    np.random.seed(7)  # the global stream, which random_state=None draws from
    est = fit_quietly(NumpyCNNClassifier(**params).set_callbacks(
        Checkpoint(path, format="pickle"), copier), X, y)
    np.random.seed(7)
    reference = fit_quietly(NumpyCNNClassifier(**params), X, y)
    # With random_state=None a fit's _rng is numpy's global RandomState itself:
    # keep a copy of its state after the fit.
    reference._rng = pickle.loads(pickle.dumps(reference._rng))
    assert_same_model(est, reference, X)
    np.random.seed(8)  # elsewhere now: the checkpoint keeps the fit's own state
    assert_same_model(fit_quietly_resume(copier.copies["epoch", 2], X, y), reference, X)


def test_the_resumed_fit_goes_on_writing_the_checkpoint(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("epoch", 1))
    est = fit_quietly(NumpyCNNClassifier(**TINY).set_callbacks(
        Checkpoint(path, every=1, format="pickle"), copier), X, y)
    path.unlink()
    shutil.copy(copier.copies["epoch", 1], path)
    resumed = resume_fit(path, X, y)
    [checkpoint] = resumed._skl_callbacks
    assert (checkpoint.path, checkpoint.every, checkpoint.format) == (path, 1, "pickle")
    assert_same_model(load_checkpoint(path), est, X)  # the resumed fit's end


def test_every_sets_the_epochs_written(digits, tmp_path, monkeypatch):
    X, y = data(NumpyCNNClassifier, digits)
    written = []
    dumps = _checkpoint.dumps
    monkeypatch.setattr(_checkpoint, "dumps", lambda payload, format: (
        written.append((payload["stage"], payload["estimator"].n_iter_)), dumps(payload, format)
    )[1])
    fit_quietly(NumpyCNNClassifier(**{**TINY, "max_iter": 5}).set_callbacks(
        Checkpoint(tmp_path / "run.ckpt", every=2, format="pickle")), X, y)
    assert written == [("start", 0), ("epoch", 2), ("epoch", 4), ("end", 5)]


def test_lbfgs_is_saved_at_its_start_and_end_and_resumes_from_its_start(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("epoch", 3))
    est = NumpyCNNClassifier(**{**TINY, "max_iter": 6}, solver="lbfgs", dropout=0.0)
    fit_quietly(est.set_callbacks(Checkpoint(path, format=DEFAULT_FORMAT), copier), X, y)
    unfinished = copier.copies["epoch", 3]  # written at the start: 0 iterations
    assert load_checkpoint(unfinished).loss_curve_ == []
    assert_same_model(resume_fit(unfinished, X, y), est, X)
    assert_same_model(resume_fit(path, X, y), est, X)


def test_ctrl_c_keeps_the_last_epoch_checkpoint_which_resumes(digits, tmp_path, monkeypatch):
    X, y = data(NumpyCNNClassifier, digits)
    reference = fit_quietly(NumpyCNNClassifier(**TINY), X, y)
    original, calls = NumpyCNNClassifier._train_step, []

    def step(self, *args):
        calls.append(1)
        if len(calls) == 12:  # in the third epoch (5 batches each)
            signal.raise_signal(signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(NumpyCNNClassifier, "_train_step", step)
    path = tmp_path / "run.ckpt"
    with pytest.warns(UserWarning, match="interrupted by the user"):
        NumpyCNNClassifier(**TINY).set_callbacks(Checkpoint(path, format="pickle")).fit(X, y)
    monkeypatch.undo()
    assert load_checkpoint(path).n_iter_ == 2
    assert_same_model(fit_quietly_resume(path, X, y), reference, X)


def test_a_resumed_fits_warnings_point_at_the_callers_line(digits, tmp_path):
    # As fit's do: max_iter's ConvergenceWarning names the script, not skcnn.
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("epoch", 2))
    fit_quietly(make(NumpyCNNClassifier).set_callbacks(Checkpoint(path, format="pickle"), copier),
                X, y)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations") as record:
        resume_fit(copier.copies["epoch", 2], X, y)
    assert {Path(w.filename).name for w in record} == {Path(__file__).name}


def fit_quietly_resume(path, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return resume_fit(path, X, y, **kwargs)


# ------------------------------------------------------------- partial_fit


@pytest.mark.parametrize("format", FORMATS)
def test_a_partial_fit_loop_continues_from_its_checkpoint(format, digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    chunks = np.array_split(np.arange(len(X)), 4)
    classes = np.unique(y)
    path = tmp_path / "stream.ckpt"
    copier = CopyAt(path, ("partial_fit", 2))
    stream = NumpyCNNClassifier(**TINY, dropout=0.2).set_callbacks(Checkpoint(path, format=format), copier)
    for rows in chunks:
        stream.partial_fit(X[rows], y[rows], classes=classes)
    continued = load_checkpoint(path)
    assert continued.n_iter_ == 1 and len(continued.loss_curve_) == 4
    assert_same_model(continued, stream, X)
    # The loop killed after its second call goes on from the checkpoint of then.
    continued = load_checkpoint(copier.copies["partial_fit", 2])
    assert not hasattr(continued, "_skl_callbacks")
    done = len(continued.loss_curve_)
    assert done == 2
    for rows in chunks[done:]:
        continued.partial_fit(X[rows], y[rows])
    assert_same_model(continued, stream, X)
    with pytest.raises(ValueError, match="written by partial_fit.*load_checkpoint"):
        resume_fit(path, X, y)


# ---------------------------------------------------------------- refusals


@pytest.fixture
def checkpointed(digits, tmp_path):
    """A classifier's fit with early stopping and sample weights, checkpointed
    at its start: (path, X, y, sample_weight)."""
    X, y = data(NumpyCNNClassifier, digits)
    w = np.ones(len(X))
    path = tmp_path / "run.ckpt"
    copier = CopyAt(path, ("epoch", 1))
    est = NumpyCNNClassifier(**{**TINY, "max_iter": 2}, early_stopping=True)
    fit_quietly(est.set_callbacks(Checkpoint(path, format=DEFAULT_FORMAT), copier), X, y, w)
    return copier.copies["epoch", 1], X, y, w


@pytest.mark.parametrize("change, what", [
    (lambda X, y, w: (X[::-1], y[::-1], w), r"another X, y \(300 samples then, 300 now\)"),
    (lambda X, y, w: (X[:-10], y[:-10], w[:-10]), r"another X, y, sample_weight \(300 samples then, 290"),
    (lambda X, y, w: (X + 1e-3, y, w), r"another X \("),
    (lambda X, y, w: (X, np.roll(y, 1), w), r"another y \("),
    (lambda X, y, w: (X, y, None), r"another sample_weight \("),
    (lambda X, y, w: (X, y, 2 * w), r"another sample_weight \("),
])
def test_other_data_are_refused_naming_what_differs(checkpointed, change, what):
    path, X, y, w = checkpointed
    before = path.read_bytes()
    with pytest.raises(ValueError, match="resume_fit refuses other data: .*" + what):
        resume_fit(path, *change(X, y, w))
    assert path.read_bytes() == before


def test_another_estimator_class_or_architecture_is_refused(checkpointed):
    path, X, y, w = checkpointed
    with pytest.raises(ValueError, match="holds a fit of NumpyCNNClassifier, not of NumpyCNNRegressor"):
        resume_fit(path, X, y, w, estimator=NumpyCNNRegressor(**TINY))
    script = NumpyCNNClassifier(**{**TINY, "max_iter": 2, "filters": (6,)}, early_stopping=True)
    with pytest.raises(ValueError, match=r"with filters=\(4,\); the estimator has filters=\(6,\)"):
        resume_fit(path, X, y, w, estimator=script)
    script.set_params(filters=(4,), max_iter=3)
    with pytest.raises(ValueError, match="max_iter=2; the estimator has max_iter=3.*only verbose and n_jobs"):
        resume_fit(path, X, y, w, estimator=script)
    script.set_params(max_iter=2, n_jobs=2)
    assert fit_quietly_resume(path, X, y, sample_weight=w, estimator=script).n_iter_ == 2


@pytest.mark.parametrize("format", FORMATS)
def test_a_truncated_or_damaged_file_is_refused(format, digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    fit_quietly(NumpyCNNClassifier(**{**TINY, "max_iter": 1}).set_callbacks(
        Checkpoint(path, format=format)), X, y)
    blob = path.read_bytes()
    broken = tmp_path / "broken.ckpt"
    damaged_array = bytearray(blob)
    # A byte inside the weights (the largest array: the middle of the file's biggest run).
    position = blob.find(load_checkpoint(path).coefs_[0].tobytes()[:16])
    assert position > 0
    damaged_array[position + 5] ^= 0xFF
    for content in (blob[: len(blob) // 2], blob[:-1], bytes(damaged_array), b""):
        broken.write_bytes(content)
        with pytest.raises(ValueError, match="'.*broken.ckpt' is truncated or damaged, and was not loaded"):
            load_checkpoint(broken)
        with pytest.raises(ValueError, match="truncated or damaged"):
            resume_fit(broken, X, y)


def test_what_is_no_checkpoint_is_refused(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    model = fit_quietly(NumpyCNNClassifier(**{**TINY, "max_iter": 1}), X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    with pytest.raises(ValueError, match="is not a skcnn checkpoint \\(it holds a NumpyCNNClassifier\\)"):
        load_checkpoint(path)
    path.write_text("hello")
    with pytest.raises(ValueError, match="neither a skops nor a pickle file"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing.ckpt")


# ------------------------------------------------------ settings and writes


@pytest.mark.parametrize("kwargs, message", [
    (dict(every=0), r"every must be a positive integer \(epochs\). Received every=0."),
    (dict(every=1.5), "Received every=1.5."),
    (dict(every=True), "Received every=True."),
    (dict(format="json"), r"format must be 'skops' or 'pickle'. Received format='json'."),
])
def test_bad_settings_are_refused_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Checkpoint("run.ckpt", **kwargs)
    with pytest.raises(TypeError, match="path must be a str or an os.PathLike. Received path=3."):
        Checkpoint(3)


def test_a_first_write_that_fails_stops_the_fit_before_it_trains(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    fitted = fit_quietly(NumpyCNNClassifier(**TINY), X, y)
    coefs = [c.copy() for c in fitted.coefs_]
    fitted.set_callbacks(Checkpoint(tmp_path / "missing" / "run.ckpt", format=DEFAULT_FORMAT))
    with pytest.raises(FileNotFoundError, match="the directory '.*missing' does not exist"):
        fitted.fit(X, y)
    for a, b in zip(fitted.coefs_, coefs):
        np.testing.assert_array_equal(a, b)


class PauseAtFirstEpoch:
    """A callback that holds a fit after its first epoch until ``go`` is set."""

    def __init__(self):
        self.paused, self.go = threading.Event(), threading.Event()

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, X=None):
        pass

    def on_fit_task_end(self, estimator, context, *, X=None):
        if context.task_name == "epoch" and not self.paused.is_set():
            self.paused.set()
            assert self.go.wait(60)
        return False


def test_a_checkpoint_saving_a_fit_in_another_thread_refuses_a_second(digits, tmp_path):
    # Two fits at once would write over each other's file: the second is
    # refused before it trains, and the first goes on and resumes as before.
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    checkpoint, pause = Checkpoint(path, format="pickle"), PauseAtFirstEpoch()
    first = NumpyCNNClassifier(**TINY).set_callbacks(checkpoint, pause)
    thread = threading.Thread(target=fit_quietly, args=(first, X, y))
    thread.start()
    try:
        assert pause.paused.wait(60)
        second = NumpyCNNClassifier(**TINY).set_callbacks(checkpoint)
        with pytest.raises(ValueError, match=r"is saving another fit in progress: one fit per path"):
            second.fit(X, y)
        assert not hasattr(second, "n_iter_")
    finally:
        pause.go.set()
        thread.join()
    assert first.n_iter_ == 4
    assert_same_model(load_checkpoint(path), first, X)
    fit_quietly(second, X, y)  # the first fit has ended: the Checkpoint is free again
    assert_same_model(load_checkpoint(path), first, X)


class PickleAtEpochEnd(PauseAtFirstEpoch):
    """A callback that pickles the estimator being trained after each epoch."""

    def __init__(self):
        self.blobs = []

    def __getstate__(self):
        return {}  # not the pickles it took

    def __setstate__(self, state):
        self.blobs = []

    def on_fit_task_end(self, estimator, context, *, X=None):
        if context.task_name == "epoch":
            self.blobs.append(pickle.dumps(estimator))
        return False


def test_an_estimator_pickled_in_the_middle_of_a_fit_holds_no_training_data(digits, tmp_path):
    # The fit in progress keeps its data where a Checkpoint finds it; a copy
    # is the model alone, and loads as one.
    X, y = data(NumpyCNNClassifier, digits)
    spy = PickleAtEpochEnd()
    est = NumpyCNNClassifier(**TINY).set_callbacks(Checkpoint(tmp_path / "run.ckpt", format="pickle"), spy)
    fit_quietly(est, X, y)
    assert len(spy.blobs) == 4
    for blob in spy.blobs:
        assert b"_training_call" not in blob and len(blob) < X.nbytes
        assert not hasattr(pickle.loads(blob), "_training_call")


class MyReLU(ReLU):
    """A layer class of the user's own, which skops does not trust."""


def test_a_layer_of_ones_own_needs_pickle(digits, tmp_path):
    pytest.importorskip("skops.io", reason="skops is not installed")
    X, y = data(NumpyCNNClassifier, digits)
    layers = [("conv", Conv2D(4, 3)), ("relu", MyReLU()), ("flat", Flatten())]
    est = make(NumpyCNNClassifier, layers=layers)
    with pytest.raises(TypeError, match=r"holds \['.*MyReLU'\]. Use format='pickle'"):
        est.set_callbacks(Checkpoint(tmp_path / "run.skops")).fit(X, y)
    assert not hasattr(est, "n_iter_")
    fit_quietly(est.set_callbacks(Checkpoint(tmp_path / "run.pkl", format="pickle")), X, y)
    assert_same_model(load_checkpoint(tmp_path / "run.pkl"), est, X)


def test_a_later_write_that_fails_warns_and_training_goes_on(digits, tmp_path, monkeypatch):
    X, y = data(NumpyCNNClassifier, digits)
    path = tmp_path / "run.ckpt"
    write, writes = _checkpoint.write_atomically, []

    def flaky(target, blob):
        writes.append(1)
        if len(writes) == 3:  # epoch 2
            raise OSError(28, "No space left on device")
        write(target, blob)

    monkeypatch.setattr(_checkpoint, "write_atomically", flaky)
    est = NumpyCNNClassifier(**TINY).set_callbacks(Checkpoint(path, format="pickle"))
    with pytest.warns(UserWarning, match="could not write .*No space left on device.*Training goes on"):
        fit_quietly(est, X, y)
    assert est.n_iter_ == 4 and load_checkpoint(path).n_iter_ == 4


# ------------------------------------------------------------ SIGKILL tests

# A training process: fits the tiny classifier with a Checkpoint; MODE says
# where it stops to be killed, after writing the marker file.
KILLED = textwrap.dedent("""
    import sys, time, warnings
    from pathlib import Path
    from sklearn.datasets import load_digits
    from skcnn import NumpyCNNClassifier
    from skcnn._training import checkpoint
    from skcnn.callbacks import Checkpoint

    path, marker, mode, tiny = sys.argv[1], Path(sys.argv[2]), sys.argv[3], eval(sys.argv[4])
    X, y = load_digits(return_X_y=True)
    X, y = X[:{n}] / 16, y[:{n}]

    def wait_for_the_kill():
        marker.write_text("here")
        time.sleep(120)

    if mode == "epoch":  # in the middle of the third epoch
        original = NumpyCNNClassifier._train_step

        def step(self, step, X_batch, y_batch, w_batch, weight_sum, key):
            if key == (2, 2):
                wait_for_the_kill()
            return original(self, step, X_batch, y_batch, w_batch, weight_sum, key)

        NumpyCNNClassifier._train_step = step
    else:  # halfway through the third write (after epoch 2)
        writes = []

        def halfway(temporary):
            writes.append(temporary)
            if len(writes) == 3:
                wait_for_the_kill()

        checkpoint._halfway_hook = halfway
    warnings.simplefilter("ignore")
    NumpyCNNClassifier(**tiny).set_callbacks(Checkpoint(path, format="pickle")).fit(X, y)
""").format(n=N_SAMPLES)


def kill_while_training(tmp_path, mode, params):
    path, marker = tmp_path / "run.ckpt", tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path), str(marker), mode, repr(params)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"the training process ended early: {process.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("the training process did not reach the kill point in 60 s")
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return path


def test_sigkill_in_an_epoch_resumes_to_the_same_bits(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    params = {**TINY, "dropout": 0.2}
    path = kill_while_training(tmp_path, "epoch", params)
    assert load_checkpoint(path).n_iter_ == 2  # the last complete epoch
    reference = fit_quietly(NumpyCNNClassifier(**params), X, y)
    assert_same_model(fit_quietly_resume(path, X, y), reference, X)


def test_sigkill_in_the_middle_of_a_write_leaves_the_previous_checkpoint(digits, tmp_path):
    X, y = data(NumpyCNNClassifier, digits)
    path = kill_while_training(tmp_path, "write", TINY)
    [partial] = tmp_path.glob(".run.ckpt.*.partial")
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_checkpoint(partial)  # what the killed write had written
    assert load_checkpoint(path).n_iter_ == 1  # the previous checkpoint, whole
    reference = fit_quietly(NumpyCNNClassifier(**TINY), X, y)
    assert_same_model(fit_quietly_resume(path, X, y), reference, X)
    assert not partial.exists()  # resume_fit removed it
