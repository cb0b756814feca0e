"""Long fits that survive a crash: checkpoints, and a fit resumed to the same bits.

``Checkpoint`` is a callback of scikit-learn's callback protocol
(``sklearn.callback``, scikit-learn >= 1.9): set on an estimator with
``est.set_callbacks(Checkpoint("run.skops"))``, it saves everything the fit
needs to go on, at epoch boundaries, in a file that a kill at any moment
leaves complete. ``resume_fit`` finishes an interrupted fit from it, to the
bits the fit would have ended with; ``load_checkpoint`` reads the estimator
it holds (the way to continue a loop of ``partial_fit`` calls). The machinery
is in ``skcnn._training.checkpoint``; the user guide's page "Checkpoints and
resuming a fit" has the recipe.
"""

import os
import threading

from ._persistence import SKOPS_TRUSTED_TYPES
from ._training import checkpoint as _checkpoint

__all__ = ["Checkpoint", "load_checkpoint", "resume_fit"]

# Makes "is this Checkpoint saving another fit?" and its answer one step for
# fits that start in several threads at once.
_SETUP_LOCK = threading.Lock()


class Checkpoint:
    """Save a fit at epoch boundaries, so that a killed fit can be resumed.

    A fit writes the checkpoint at its start, after every ``every``-th epoch
    and at its end; a ``partial_fit`` call after it ran. The file holds the
    estimator as it stands (weights, optimizer state, batch-norm running
    statistics, loss curve, scores, counters, random state), what the
    epoch loop carries into its next epoch (the random streams, early
    stopping's best weights, the epoch) and a fingerprint of the call (the
    estimator's class, its parameters, digests of the data).
    :func:`resume_fit` finishes the fit from it, to the same bits.

    Each file is written atomically: to a temporary file in the same
    directory, flushed to disk, then renamed over ``path``. A kill at any
    moment leaves the previous complete checkpoint (and perhaps a hidden
    ``.{name}.*.partial`` file, which ``resume_fit`` removes).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file, replaced at each write. One fit per path.
    every : int, default=1
        Write after every ``every``-th epoch of a fit (SGD and Adam; L-BFGS
        is saved at its start and end only, see Notes).
    format : {"skops", "pickle"}, default="skops"
        skops files load without running code from the file, with the types
        of :data:`skcnn.SKOPS_TRUSTED_TYPES`; networks with layer classes of
        your own need ``"pickle"``, which loads anything (load only files
        you trust).

    Notes
    -----
    A fit that Ctrl-C ends keeps its last epoch's checkpoint (its end is not
    written), so that ``resume_fit`` continues the fit rather than keep the
    interrupted model. The first write, before any training, raises if it
    fails (a missing directory, a model skops cannot save); later failures
    warn and training goes on. L-BFGS keeps its state inside scipy's
    optimizer, which cannot be saved: an unfinished L-BFGS fit resumes from
    its start, to the same bits.

    Examples
    --------
    >>> from skcnn import NumpyCNNClassifier
    >>> from skcnn.callbacks import Checkpoint
    >>> clf = NumpyCNNClassifier(max_iter=50, random_state=0)
    >>> clf = clf.set_callbacks(Checkpoint("run.skops"))  # doctest: +SKIP
    """

    def __init__(self, path, every=1, format="skops"):
        _checkpoint.check_settings(path, every, format)
        self.path = path
        self.every = every
        self.format = format
        self._writers = {}  # the fit in progress's writer, by its root task

    def __repr__(self):
        return f"Checkpoint({os.fspath(self.path)!r}, every={self.every!r}, format={self.format!r})"

    def setup(self, estimator, context):
        """Begin a training call: check that the file can be written there.

        Parameters
        ----------
        estimator : NumpyCNNClassifier or NumpyCNNRegressor
            The estimator being trained.
        context : sklearn.callback.CallbackContext
            The call's root task.

        Raises
        ------
        ValueError
            When this Checkpoint is saving another fit in progress (in
            another thread): the two would write over each other's file.
        """
        writer = _checkpoint.CheckpointWriter(
            self.path, self.every, self.format, SKOPS_TRUSTED_TYPES
        )
        with _SETUP_LOCK:
            if self._writers:
                raise ValueError(
                    f"{self!r} is saving another fit in progress: one fit per path. Give "
                    "each estimator fitted at the same time its own Checkpoint (another path)."
                )
            self._writers[context.root_uuid] = writer

    def teardown(self, estimator, context):
        """End a training call.

        Parameters
        ----------
        estimator : NumpyCNNClassifier or NumpyCNNRegressor
            The estimator being trained.
        context : sklearn.callback.CallbackContext
            The call's root task.
        """
        self._writers.pop(context.root_uuid, None)

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        """Write the checkpoint of a fit's start.

        Parameters
        ----------
        estimator : NumpyCNNClassifier or NumpyCNNRegressor
            The estimator being trained.
        context : sklearn.callback.CallbackContext
            The task (the call, or one of its epochs).
        X, y, metadata : object, default=None
            The data passed to fit (its fingerprint is saved).
        """
        self._writers[context.root_uuid].task_begins(
            estimator, context, (X, y, _weights(metadata))
        )

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None):
        """Write the checkpoint of an epoch, or of the call's end.

        Parameters
        ----------
        estimator : NumpyCNNClassifier or NumpyCNNRegressor
            The estimator being trained.
        context : sklearn.callback.CallbackContext
            The task (the call, or one of its epochs).
        X, y, metadata : object, default=None
            The data passed to fit (its fingerprint is saved).

        Returns
        -------
        stop : bool
            False: a checkpoint never stops training.
        """
        self._writers[context.root_uuid].task_ends(
            estimator, context, (X, y, _weights(metadata))
        )
        return False


def _weights(metadata):
    return None if metadata is None else metadata.get("sample_weight")


def resume_fit(path, X, y, sample_weight=None, *, estimator=None):
    """Finish the fit that wrote the checkpoint at ``path``, to the same bits.

    The fit's preparation runs again on ``X``, ``y`` and ``sample_weight``
    (validation, the early-stopping split from the same random state), the
    saved state is installed, and the remaining epochs run through the same
    loop: the model ends bit-identical to the fit that was not interrupted
    (for any ``n_jobs``). A checkpoint of a fit that ended returns its
    estimator; one of an unfinished L-BFGS fit fits again from the start.
    The resumed fit goes on writing the checkpoint.

    Parameters
    ----------
    path : str or os.PathLike
        A checkpoint written by :class:`Checkpoint` during ``fit``.
    X : {array-like, sparse matrix}
        The training data of that fit.
    y : array-like
        Its targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Its sample weights.
    estimator : NumpyCNNClassifier or NumpyCNNRegressor, default=None
        The estimator the script fits. When given, the checkpoint must be of
        its class and parameters (all but ``verbose`` and ``n_jobs``, which
        it lends the resumed fit, with its callbacks); it is not changed.
        Without it, the resumed fit runs with the saved parameters and a
        ``Checkpoint`` like the one that wrote the file.

    Returns
    -------
    estimator : NumpyCNNClassifier or NumpyCNNRegressor
        The estimator loaded from the checkpoint, fitted.

    Raises
    ------
    ValueError
        When the data differ from the fit's (naming ``X``, ``y`` or
        ``sample_weight``), when ``estimator`` is of another class or has
        another parameter (naming it), when the file is truncated, damaged
        or no checkpoint, or was written by ``partial_fit``.
    """
    payload = _checkpoint.read_checkpoint(path, SKOPS_TRUSTED_TYPES)
    callbacks = [Checkpoint(path, every=payload["every"], format=payload["format"])]
    model, point = _checkpoint.prepare_resume(
        payload, path, X, y, sample_weight, estimator, callbacks
    )
    if point is None:  # the fit had ended
        return model
    return model._fit(X, y, sample_weight, incremental=False, resume=point)


def load_checkpoint(path):
    """The estimator a checkpoint holds, as it stood when it was written.

    For a loop of ``partial_fit`` calls, the way to continue after a crash:
    the estimator after its last completed call, whose next ``partial_fit``
    gives the bits the uninterrupted loop would have (``len(loss_curve_)``
    counts the calls it went through). For a fit, the model at the epoch
    of the checkpoint (its weights of that epoch, before early stopping
    keeps its best ones): ``resume_fit`` finishes it.

    Parameters
    ----------
    path : str or os.PathLike
        A checkpoint written by :class:`Checkpoint`.

    Returns
    -------
    estimator : NumpyCNNClassifier or NumpyCNNRegressor
        The estimator, without callbacks: set ``Checkpoint`` again to go on
        checkpointing.

    Raises
    ------
    ValueError
        When the file is truncated, damaged or no checkpoint.
    """
    return _checkpoint.read_checkpoint(path, SKOPS_TRUSTED_TYPES)["estimator"]
