"""scikit-learn's callbacks (``sklearn.callback``) in the training loops.

A training call is one root task, ``"fit"`` or ``"partial_fit"``, with one
``"epoch"`` subtask per epoch it may run (per iteration for L-BFGS), so that
``ProgressBar``, ``ScoringMonitor`` and any ``FitCallback`` follow it as they
follow scikit-learn's own estimators, under a meta-estimator's tasks too.
Every task reports the call's data (``X``, ``y``, ``sample_weight`` as
metadata) and, on request, a ``fitted_estimator`` that predicts as the model
did then; a hook that returns True ends the call, as early stopping does.

The hooks run on the calling thread between epochs, never where the shards
of a batch train. With scikit-learn < 1.9 ``set_callbacks`` raises an
ImportError that names the version needed; training is unchanged.
"""

import copy
from contextlib import contextmanager

import sklearn

try:
    from sklearn.callback import CallbackSupportMixin
    # What sklearn's own ``with_callbacks`` and ``_fit_context`` wrap a fit
    # in: it tears the callbacks down however the fit ends.
    from sklearn.callback._callback_support import callback_management_context
except ImportError as error:  # scikit-learn < 1.9
    _IMPORT_ERROR = error

    class CallbackSupportMixin:
        """``set_callbacks`` for a scikit-learn without ``sklearn.callback``."""

        def set_callbacks(self, *callbacks):
            """Set callbacks: this needs scikit-learn >= 1.9.

            Parameters
            ----------
            *callbacks : callback instances
                The callbacks to set.

            Raises
            ------
            ImportError
                Always: the installed scikit-learn has no ``sklearn.callback``.
            """
            raise ImportError(
                f"{type(self).__name__}.set_callbacks needs scikit-learn >= 1.9 "
                f"(its sklearn.callback module); scikit-learn {sklearn.__version__} "
                f"is installed ({_IMPORT_ERROR}). Upgrade it with "
                "pip install -U 'scikit-learn>=1.9', or use verbose=True for "
                "one line per epoch."
            ) from _IMPORT_ERROR


class _NoEpochTasks:
    """The epoch hooks of a training call without callbacks: nothing to do."""

    def begin(self):
        pass

    def end(self):
        return False


NO_EPOCH_TASKS = _NoEpochTasks()


class _EpochTasks:
    """The ``"epoch"`` subtasks of one training call's root task."""

    def __init__(self, estimator, context, X, y, metadata):
        self._estimator = estimator
        self._context = context
        self._data = {"X": X, "y": y, "metadata": metadata}
        self._epoch = None  # the task of the epoch that began and has not ended

    def begin(self):
        """Begin the next epoch's task (before the epoch runs)."""
        self._epoch = self._context.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(
            estimator=self._estimator, reconstruction_attributes=self.snapshot, **self._data
        )

    def end(self):
        """End the epoch's task after a completed epoch; True if a callback asks to stop."""
        epoch, self._epoch = self._epoch, None
        return epoch.call_on_fit_task_end(
            estimator=self._estimator, reconstruction_attributes=self.snapshot, **self._data
        )

    def close(self):
        """End, as an empty task, an epoch that began but did not complete
        (divergence, Ctrl-C): every begun task ends, as scikit-learn's own
        solvers do."""
        if self._epoch is not None:
            self._epoch.call_on_fit_task_end(estimator=self._estimator)
            self._epoch = None

    def snapshot(self):
        """What makes a copy of the estimator predict as the model does now.

        Called only when a hook asks for ``fitted_estimator``: the network is
        copied (its weights, not its training buffers, see
        ``Layer.__getstate__``) so that later epochs do not change the copy.
        """
        estimator = self._estimator
        attributes = {
            "_network": copy.deepcopy(estimator._network),
            "loss_curve_": list(estimator.loss_curve_),
        }
        if estimator.validation_scores_ is not None:
            attributes["validation_scores_"] = list(estimator.validation_scores_)
        return attributes


@contextmanager
def epoch_tasks(estimator, X, y, sample_weight, incremental):
    """Run a training call as a task of the estimator's callbacks.

    Sets the callbacks up and reports the root task's beginning on entry,
    yields the epoch hooks for the epoch loop (``begin`` before an epoch,
    ``end`` after a completed one, returning whether to stop), reports the
    root task's end when the call succeeds, and always tears the callbacks
    down. Without callbacks it yields hooks that do nothing.

    Parameters
    ----------
    estimator : BaseCNN
        The estimator being trained, its network built.
    X, y : array-like
        The data of the call, as passed to ``fit`` or ``partial_fit``.
    sample_weight : array-like or None
        Reported to the callbacks as ``metadata={"sample_weight": ...}``.
    incremental : bool
        Whether the call is ``partial_fit`` (one epoch).

    Yields
    ------
    epochs : object with ``begin()`` and ``end() -> bool``
        The epoch hooks.
    """
    if not getattr(estimator, "_skl_callbacks", None):
        yield NO_EPOCH_TASKS
        return
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    with callback_management_context(estimator):
        n_epochs = 1 if incremental else estimator.max_iter  # epochs, or L-BFGS iterations
        root = estimator._init_callback_context(
            task_name="partial_fit" if incremental else "fit", max_subtasks=n_epochs
        )
        root.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
        epochs = _EpochTasks(estimator, root, X, y, metadata)
        yield epochs
        epochs.close()
        root.call_on_fit_task_end(
            estimator=estimator, X=X, y=y, metadata=metadata,
            reconstruction_attributes=epochs.snapshot,
        )
