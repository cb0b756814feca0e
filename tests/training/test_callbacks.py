"""scikit-learn's callbacks (sklearn.callback, scikit-learn >= 1.9): one task per
epoch, stopping, progress bars nested in meta-estimators, worker processes,
pickling, and a scikit-learn without the module."""

import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcnn import NumpyCNNClassifier, NumpyCNNRegressor

try:
    from sklearn.callback import ProgressBar, ScoringMonitor
except ImportError:  # scikit-learn < 1.9: only the last test runs
    ProgressBar = ScoringMonitor = None
needs_callbacks = pytest.mark.skipif(
    ScoringMonitor is None, reason="callbacks need scikit-learn >= 1.9 (sklearn.callback)"
)

# Tiny, quick networks that learn digits in a few epochs (no dropout: every
# epoch moves the model).
TINY = dict(filters=(4,), hidden_layer_sizes=(), dropout=0.0, learning_rate_init=0.02,
            batch_size=64, n_iter_no_change=100, random_state=0)


def tiny(**params):
    return NumpyCNNClassifier(**{**TINY, **params})


class Recorder:
    """A callback that records every hook: (hook, task name, task id, and at the
    end of a task the fitted estimator it was given)."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after  # stop at the end of this epoch (1-based)
        self.events, self.fitted, self.data, self.pids = [], [], [], []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        self.data.append((X, y, metadata))
        self.pids.append(os.getpid())
        if context.task_name == "epoch":
            self.fitted.append(fitted_estimator)
            return self.stop_after is not None and context.task_id + 1 >= self.stop_after
        return False


def epoch_scores(monitor, name="accuracy"):
    return [row[name] for row in monitor.get_logs().data if row["task_name"] == "epoch"]


@needs_callbacks
def test_scoring_monitor_logs_the_score_of_every_epoch(few_digits):
    X, y = few_digits
    monitor = ScoringMonitor(scoring="accuracy")
    clf = tiny(max_iter=3).set_callbacks(monitor).fit(X, y)
    scores = epoch_scores(monitor)
    assert len(scores) == clf.n_iter_ == 3
    # The score at epoch k is that of a model trained for k epochs (training
    # is deterministic with random_state), and the root task's is the final model's.
    for k, score in enumerate(scores, start=1):
        assert score == tiny(max_iter=k).fit(X, y).score(X, y)
    (root,) = [row for row in monitor.get_logs().data if row["task_name"] == "fit"]
    assert root["accuracy"] == clf.score(X, y) == scores[-1]
    assert scores[-1] > 0.5  # it learned


@needs_callbacks
def test_every_task_reports_the_data_and_a_model_frozen_at_that_epoch(few_digits):
    X, y = few_digits
    weights = np.linspace(0.5, 1.5, len(y))
    recorder = Recorder()
    clf = tiny(max_iter=3).set_callbacks(recorder).fit(X, y, sample_weight=weights)
    assert recorder.events == [
        ("setup", "fit"), ("begin", "fit", 0),
        ("begin", "epoch", 0), ("end", "epoch", 0),
        ("begin", "epoch", 1), ("end", "epoch", 1),
        ("begin", "epoch", 2), ("end", "epoch", 2),
        ("end", "fit", 0), ("teardown", "fit"),
    ]
    for X_seen, y_seen, metadata in recorder.data:
        assert X_seen is X and y_seen is y and metadata["sample_weight"] is weights
    # Each fitted estimator keeps the model of its epoch although training went on.
    for k, fitted in enumerate(recorder.fitted, start=1):
        reference = tiny(max_iter=k).fit(X, y, sample_weight=weights)
        assert_array_equal(fitted.predict_proba(X), reference.predict_proba(X))
        assert fitted.loss_curve_ == reference.loss_curve_
    assert fitted is not clf and "_callback_fit_ctx" not in vars(clf)


@needs_callbacks
def test_partial_fit_is_one_task_of_one_epoch(few_digits):
    X, y = few_digits
    recorder, monitor = Recorder(), ScoringMonitor(scoring="accuracy")
    clf = tiny().set_callbacks(recorder, monitor)
    for _ in range(2):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert recorder.events[:6] == [
        ("setup", "partial_fit"), ("begin", "partial_fit", 0), ("begin", "epoch", 0),
        ("end", "epoch", 0), ("end", "partial_fit", 0), ("teardown", "partial_fit"),
    ]
    runs = monitor.get_logs(select="all")
    assert len(runs) == 2 and [len(run.data) for run in runs] == [2, 2]
    assert runs[-1].data[-1]["accuracy"] == clf.score(X, y)


@needs_callbacks
def test_the_regressor_reports_its_epochs(few_digits):
    X, y = few_digits
    monitor = ScoringMonitor(scoring="r2")
    reg = NumpyCNNRegressor(**{**TINY, "max_iter": 2}).set_callbacks(monitor).fit(X, y)
    scores = epoch_scores(monitor, "r2")
    # Scored during training, where BLAS runs on one thread: equal to rounding.
    assert len(scores) == 2 and scores[-1] == pytest.approx(reg.score(X, y), rel=1e-6)


@needs_callbacks
def test_lbfgs_iterations_are_tasks_and_a_callback_stops_them(few_digits):
    """Full-batch L-BFGS reports one "epoch" task per iteration, with the
    iterate's model, and stops after the one a callback ends with True."""
    X, y = few_digits
    params = dict(solver="lbfgs", max_iter=6)
    monitor = ScoringMonitor(scoring="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = tiny(**params).set_callbacks(monitor).fit(X, y)
        three = tiny(**{**params, "max_iter": 3}).fit(X, y)
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(epochs) == clf.n_iter_ == 6
    assert epochs[2]["accuracy"] == three.score(X, y)  # the iterate after 3 iterations
    recorder = Recorder(stop_after=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stopped = tiny(**params).set_callbacks(recorder).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert stopped.n_iter_ == len(stopped.loss_curve_) == 3
    assert_array_equal(stopped.predict_proba(X), three.predict_proba(X))
    assert [e[1] for e in recorder.events if e[0] == "end"] == ["epoch"] * 3 + ["fit"]


@needs_callbacks
def test_a_callback_stops_training_after_an_epoch(few_digits):
    X, y = few_digits
    recorder = Recorder(stop_after=3)
    clf = tiny(max_iter=10).set_callbacks(recorder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert clf.n_iter_ == len(clf.loss_curve_) == 3
    assert recorder.events[-2:] == [("end", "fit", 0), ("teardown", "fit")]
    assert_array_equal(clf.predict_proba(X), tiny(max_iter=3).fit(X, y).predict_proba(X))
    assert clf.score(X, y) > 0.5


@needs_callbacks
def test_a_stop_with_early_stopping_keeps_the_best_validation_epoch(few_digits):
    X, y = few_digits
    recorder = Recorder(stop_after=5)
    # A large step makes the validation score go up and down: the best epoch is the 4th.
    clf = tiny(max_iter=10, early_stopping=True, learning_rate_init=0.1)
    clf.set_callbacks(recorder).fit(X, y)
    assert clf.n_iter_ == len(clf.validation_scores_) == 5
    best = int(np.argmax(clf.validation_scores_))
    assert best < 4
    assert_array_equal(clf.predict_proba(X), recorder.fitted[best].predict_proba(X))
    # The tasks report the data as passed, the validation hold-out included.
    assert all(X_seen is X and y_seen is y for X_seen, y_seen, _ in recorder.data)


@needs_callbacks
def test_an_epoch_that_diverged_ends_its_task_empty(few_digits):
    X, y = few_digits
    recorder, monitor = Recorder(), ScoringMonitor(scoring="accuracy")
    clf = tiny(max_iter=5, solver="sgd", learning_rate_init=1e8)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        clf.set_callbacks(recorder, monitor).fit(X, y)
    assert clf.n_iter_ == 1  # counted, as in MLPClassifier, but its weights are not kept
    assert recorder.events[2:] == [
        ("begin", "epoch", 0), ("end", "epoch", 0), ("end", "fit", 0), ("teardown", "fit"),
    ]
    assert recorder.fitted == [None] and recorder.data[0] == (None, None, None)
    assert epoch_scores(monitor) == []  # nothing to score: the epoch did not complete


@needs_callbacks
def test_a_failing_fit_tears_the_callbacks_down_and_changes_nothing(few_digits):
    X, y = few_digits

    class Failing(Recorder):
        def on_fit_task_end(self, estimator, context, **kwargs):
            if context.task_id == 1:
                raise RuntimeError("callback failed")
            return super().on_fit_task_end(estimator, context, **kwargs)

    recorder = Failing()
    clf = tiny(max_iter=3).set_callbacks(recorder)
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.fit(X, y)
    assert recorder.events[-1] == ("teardown", "fit")
    assert not hasattr(clf, "n_iter_") and clf._skl_callbacks == [recorder]


@needs_callbacks
def test_progress_bar_shows_the_epochs(few_digits, capsys):
    pytest.importorskip("rich")
    X, y = few_digits
    tiny(max_iter=3).set_callbacks(ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert re.search(r"NumpyCNNClassifier - fit .*100%", out)
    assert not re.search(r"\b[0-9]{1,2}%", out)


@needs_callbacks
def test_without_rich_the_progress_bar_says_so_and_nothing_else_changes(few_digits,
                                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(ImportError, match="requires rich"):
        ProgressBar()
    X, y = few_digits
    monitor = ScoringMonitor(scoring="accuracy")
    tiny(max_iter=2).set_callbacks(monitor).fit(X, y)
    assert len(epoch_scores(monitor)) == 2


@needs_callbacks
def test_callbacks_in_a_parallel_grid_search_over_a_pipeline(few_digits, capsys):
    """ProgressBar set on the search reaches the networks in joblib's worker
    processes, under the search's and the pipeline's tasks; a ScoringMonitor
    set on the network logs the epochs of every fit back to this process."""
    pytest.importorskip("rich")
    X, y = few_digits
    monitor = ScoringMonitor(scoring="accuracy")
    pipe = make_pipeline(StandardScaler(), tiny(max_iter=2).set_callbacks(monitor))
    search = GridSearchCV(pipe, {"numpycnnclassifier__learning_rate_init": [0.01, 0.02]},
                          cv=2, n_jobs=2)
    search.set_callbacks(ProgressBar(max_propagation_depth=None)).fit(X, y)
    out = capsys.readouterr().out
    assert re.search(r"GridSearchCV - fit .*100%", out)
    nested = r"Pipeline - fit-final-estimator \| NumpyCNNClassifier - fit .*100%"
    assert len(re.findall(nested, out)) == 2 * 2 + 1  # every candidate and split, the refit
    assert not re.search(r"\b[0-9]{1,2}%", out)
    # One run: the search's; two epochs and the end of every fit of the network.
    rows = monitor.get_logs().data
    assert monitor.get_logs().estimator_name == "GridSearchCV"
    assert [row["task_name"] for row in rows].count("epoch") == 2 * (2 * 2 + 1)
    assert [row["task_name"] for row in rows].count("fit") == 2 * 2 + 1
    assert search.score(X, y) > 0.5


@needs_callbacks
def test_callbacks_run_in_this_process_while_workers_train(few_digits, worker_processes, worker_starts):
    X, y = few_digits
    recorder, monitor = Recorder(), ScoringMonitor(scoring="accuracy")
    # 300 samples in batches of 60: two shards each, one on a worker process.
    clf = tiny(max_iter=3, n_jobs=2).set_callbacks(recorder, monitor).fit(X, y)
    assert worker_starts == [1], "training did not use worker processes"
    assert len(epoch_scores(monitor)) == clf.n_iter_ == 3
    assert recorder.pids == [os.getpid()] * 4  # three epochs and the fit
    # The model is the same as on one thread, epoch by epoch.
    for k, fitted in enumerate(recorder.fitted, start=1):
        expected = tiny(max_iter=k, n_jobs=1).fit(X, y).predict_proba(X)
        assert_array_equal(fitted.predict_proba(X), expected)


@needs_callbacks
def test_clone_and_pickle_keep_the_callbacks(few_digits):
    X, y = few_digits
    monitor = ScoringMonitor(scoring="accuracy")
    clf = tiny(max_iter=2).set_callbacks(monitor)
    assert clone(clf)._skl_callbacks == [monitor]  # by reference, as scikit-learn clones
    restored = pickle.loads(pickle.dumps(clf))
    assert isinstance(restored._skl_callbacks[0], ScoringMonitor)
    clf.fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    # The unpickled copy's callbacks work on their own.
    restored.set_params(max_iter=1).fit(X, y)
    assert len(epoch_scores(restored._skl_callbacks[0])) == 1
    assert len(epoch_scores(monitor)) == 2


# A scikit-learn without sklearn.callback (< 1.9): scikit-learn itself is
# imported as installed, then the module is hidden from skcnn.
OLD_SKLEARN = """
import pickle, sys
import sklearn.base, sklearn.model_selection
sys.modules["sklearn.callback"] = None
from sklearn.base import clone
from sklearn.datasets import load_digits
from skcnn import NumpyCNNClassifier, NumpyCNNRegressor
X, y = load_digits(return_X_y=True)
X, y = X[:300] / 16, y[:300]
for Estimator in (NumpyCNNClassifier, NumpyCNNRegressor):
    try:
        Estimator().set_callbacks()
    except ImportError as error:
        print("ImportError:", error)
clf = NumpyCNNClassifier(filters=(4,), hidden_layer_sizes=(), dropout=0.0,
                         learning_rate_init=0.02, max_iter=3, random_state=0)
clf = pickle.loads(pickle.dumps(clone(clf).fit(X, y)))
clf.partial_fit(X, y)
print("accuracy:", clf.score(X, y))
"""


def test_without_sklearn_callback_set_callbacks_names_the_version_and_fit_works():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", OLD_SKLEARN], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    errors = re.findall(r"ImportError: (\w+)\.set_callbacks needs scikit-learn >= 1\.9", proc.stdout)
    assert errors == ["NumpyCNNClassifier", "NumpyCNNRegressor"], proc.stdout
    assert float(re.search(r"accuracy: ([\d.]+)", proc.stdout)[1]) > 0.5


@needs_callbacks
def test_the_fitted_copy_is_made_only_for_hooks_that_ask_for_it(few_digits, monkeypatch):
    """Copying the network takes time: an epoch's task copies it only when a
    hook takes ``fitted_estimator``."""
    from skcnn._training import callbacks as _callbacks

    X, y = few_digits
    calls = []
    original = _callbacks._EpochTasks.snapshot

    def counting(self):
        calls.append(self._epoch)
        return original(self)

    monkeypatch.setattr(_callbacks._EpochTasks, "snapshot", counting)

    class Silent(Recorder):
        def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None):
            self.events.append(("end", context.task_name, context.task_id))

    silent = Silent()
    tiny(max_iter=3).set_callbacks(silent).fit(X, y)
    assert [e[1] for e in silent.events if e[0] == "end"] == ["epoch"] * 3 + ["fit"]
    assert calls == []
    tiny(max_iter=3).set_callbacks(Recorder()).fit(X, y)
    assert len(calls) == 3 + 1  # every epoch, and the fit


@needs_callbacks
def test_verbose_prints_the_same_lines_with_callbacks(few_digits, capsys):
    X, y = few_digits

    def lines(clf):
        clf.fit(X, y)
        # Every line but the times, which vary.
        return [re.sub(r"[\d.]+ ?s\b", "", line) for line in capsys.readouterr().out.splitlines()]

    plain = lines(tiny(max_iter=3, verbose=True))
    with_callbacks = lines(tiny(max_iter=3, verbose=True).set_callbacks(Recorder()))
    assert len([line for line in plain if line.startswith("Iteration")]) == 3, plain
    assert with_callbacks == plain
