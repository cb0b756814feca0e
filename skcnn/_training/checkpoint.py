"""Checkpoints of a training call, and a fit resumed from one to the same bits.

A checkpoint is the estimator as it stands at an epoch boundary (its
parameters, network, optimizer state, running statistics, loss curve,
scores, counters and random state), what the epoch loop carries into its
next epoch (``LoopState``: the state of the call's RandomState, the dropout
and augmentation draws, early stopping's best weights, the epoch), the
state the call's RandomState began with, and a fingerprint of the call:
the estimator's class, the parameters that define the fit and digests of
the training data as the loop reads it.

Training is bit-reproducible from ``random_state``, so a resumed fit
repeats the call's deterministic preparation (validation, the
early-stopping split) from the saved random state, installs the saved
state and runs the remaining epochs through the same loop
(``BaseCNN._fit(resume=...)``): it ends with the bits of the fit that was
not interrupted. L-BFGS keeps no resumable state (scipy's optimizer holds
it): its fits are checkpointed at their start and end only, and resuming
an unfinished one fits again from the start, to the same bits.

A file is written atomically: the bytes go to a temporary file beside it,
flushed to disk, then renamed over it, so that a kill at any moment leaves
the previous complete checkpoint. The public names are in
``skcnn.callbacks``, which gives this module the types a skops file may
hold (``SKOPS_TRUSTED_TYPES``): nothing here imports the estimators.
"""

import contextlib
import glob
import hashlib
import os
import pickle
import secrets
import warnings
from dataclasses import fields

import numpy as np
from scipy.sparse import issparse

from .common import LoopState

#: The layout of the checkpoint's dictionary; a newer one is refused.
FORMAT_VERSION = 1
FORMATS = ("skops", "pickle")
# What a fit's checkpoints mark: its start, an epoch's end, the call's end.
START, EPOCH, END = "start", "epoch", "end"
# The parameters that may differ between a fit and its resumption: they
# change neither the bits (n_jobs) nor the training (verbose).
NOT_THE_FIT = ("verbose", "n_jobs")
# The temporary file of a write is ".{name}.{pid}.{random}" + this, beside it.
PARTIAL_SUFFIX = ".partial"
# Tests set this to a function of the temporary file's path, called halfway
# through every write, so that a kill can land in the middle of one.
_halfway_hook = None


# ----------------------------------------------------------------- settings


def check_settings(path, every, format):
    """Raise a clear error for a bad ``Checkpoint(path, every, format)``."""
    try:
        os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or an os.PathLike. Received path={path!r}.") from None
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a positive integer (epochs). Received every={every!r}.")
    if format not in FORMATS:
        raise ValueError(f"format must be 'skops' or 'pickle'. Received format={format!r}.")
    if format == "skops":
        _skops_io()


def _skops_io():
    try:
        import skops.io
    except ImportError as error:
        raise ImportError(
            "Checkpoint(format='skops') needs skops (pip install skops); "
            "format='pickle' needs nothing more."
        ) from error
    return skops.io


# ---------------------------------------------------------- fingerprints


def _feed(h, value):
    """Feed ``value`` to the hash ``h``, with its type, shape and dtype."""
    if value is None:
        h.update(b"N")
    elif issparse(value):
        h.update(f"S{value.format}{value.shape}".encode())
        for part in (value.data, value.indices, value.indptr):
            _feed(h, part)
    elif isinstance(value, np.ndarray):
        h.update(f"A{value.dtype.str}{value.shape}".encode())
        if value.dtype.hasobject:
            h.update(repr(value.tolist()).encode())
        else:
            h.update(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(repr(value).encode())


def _digest(*values):
    h = hashlib.blake2b(digest_size=16)
    for value in values:
        _feed(h, value)
    return h.hexdigest()


def data_digest(X, y, sample_weight):
    """Digests of a fit's data as the user passed it (arrays, lists, frames
    or sparse matrices, read as arrays), kept apart to say which differs."""
    columns = [str(c) for c in getattr(X, "columns", [])]  # a frame's names
    X = X if issparse(X) else np.asarray(X)
    return {
        "n_samples": int(X.shape[0]) if X.ndim else 0,
        "X": _digest(X, columns),
        "y": _digest(np.asarray(y)),
        "sample_weight": _digest(None if sample_weight is None else np.asarray(sample_weight)),
    }


def _canonical(value):
    """A parameter's value as text that tells apart any two different values."""
    if isinstance(value, np.random.RandomState):
        return "RandomState(...)"  # its state moves; the checkpoint keeps the fit's
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        inner = ", ".join(f"{key}={_canonical(params[key])}" for key in sorted(params))
        return f"{type(value).__qualname__}({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_canonical(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_canonical(item) for item in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_canonical(value[key])}" for key in sorted(value, key=repr)) + "}"
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype}, digest={_digest(value)})"
    return repr(value)


def fit_fingerprint(estimator):
    """The estimator's class and the parameters that define its fit, as text."""
    params = estimator.get_params(deep=False)
    return {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "params": {key: _canonical(params[key]) for key in sorted(params) if key not in NOT_THE_FIT},
    }


def _state_digest(payload):
    """A digest of the numbers a checkpoint restores, written with them and
    checked on load: a damaged file is refused rather than half loaded."""
    estimator = payload["estimator"]
    optimizer = estimator._optimizer
    loop = payload["loop"] or {}
    return _digest(
        payload["stage"], payload["method"], payload["start_state"],
        estimator._model_arrays(), None if optimizer is None else optimizer.arrays(),
        np.asarray(estimator.loss_curve_, dtype=np.float64), estimator.n_iter_, estimator._epochs,
        loop.get("rng_state"), loop.get("best_params"),
    )


# ------------------------------------------------------------------ writing


def _is_transient(key):
    """Attributes that live only while a call runs: the callbacks and their
    contexts, the call's data. A checkpoint holds no callbacks."""
    return key == "_training_call" or "callback" in key


def checkpoint_payload(estimator, call, stage, every, format, data):
    """The dictionary a checkpoint file holds."""
    saved = object.__new__(type(estimator))
    saved.__dict__.update({k: v for k, v in estimator.__dict__.items() if not _is_transient(k)})
    loop = None
    if stage == EPOCH:
        loop = {field.name: getattr(call.loop, field.name) for field in fields(LoopState)}
    payload = {
        "skcnn_checkpoint": FORMAT_VERSION,
        "stage": stage,
        "method": "partial_fit" if call.incremental else "fit",
        "estimator": saved,
        "every": int(every),
        "format": format,
        "start_state": call.start_state,
        "loop": loop,
        "fit": fit_fingerprint(estimator),
        "data": data,
    }
    payload["digest"] = _state_digest(payload)
    return payload


def dumps(payload, format):
    if format == "pickle":
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _skops_io().dumps(payload)


def write_atomically(path, data):
    """Write ``data`` to ``path`` so that ``path`` always holds a complete file.

    The bytes go to a temporary file in the same directory (the same file
    system, where a rename is atomic), are flushed and synced to disk, and
    the file is renamed over ``path``; the directory is synced too, so that
    the rename survives a power cut. A kill before the rename leaves
    ``path`` as it was, and the temporary file (see ``remove_partial_files``).
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(
        directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            view = memoryview(data)
            file.write(view[: len(view) // 2])
            if _halfway_hook is not None:
                file.flush()
                _halfway_hook(temporary)
            file.write(view[len(view) // 2:])
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if os.name == "posix":
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def remove_partial_files(path):
    """Remove the temporary files that writes of ``path`` killed midway left."""
    directory, name = os.path.split(os.path.abspath(path))
    pattern = os.path.join(glob.escape(directory), f".{glob.escape(name)}.*{PARTIAL_SUFFIX}")
    for leftover in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.unlink(leftover)


class CheckpointWriter:
    """What ``skcnn.callbacks.Checkpoint`` does during one training call.

    A fit writes at its start (before any training: an error there raises),
    after every ``every``-th epoch (SGD and Adam) and at its end; a
    partial_fit call at its end. A call that Ctrl-C ended is not written at
    its end: the file keeps the last epoch's checkpoint, which a resumed fit
    continues. Later failures to write warn and training goes on.

    Parameters
    ----------
    path : str or os.PathLike
    every : int
    format : {"skops", "pickle"}
    trusted : list of str
        The types a skops checkpoint may hold (``SKOPS_TRUSTED_TYPES``): the
        first file of the call is checked to load with them.
    """

    def __init__(self, path, every, format, trusted):
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(
                f"Checkpoint cannot write {self.path!r}: the directory {directory!r} "
                "does not exist."
            )
        self.every, self.format, self.trusted = every, format, trusted
        self._digests = None  # (call, digests of its data): computed once per call
        self._checked = format != "skops"

    def task_begins(self, estimator, context, data):
        """At a task's beginning: ``data`` is ``(X, y, sample_weight)`` as passed to fit."""
        call = self._call(estimator)
        if context is estimator._callback_fit_ctx and not call.incremental and call.resume is None:
            self._write(estimator, call, START, data)

    def task_ends(self, estimator, context, data):
        """At a task's end: ``data`` is ``(X, y, sample_weight)`` as passed to fit."""
        call = self._call(estimator)
        if context is estimator._callback_fit_ctx:
            if not call.interrupted:
                self._write(estimator, call, END, data)
            return
        loop = call.loop  # None for an epoch that diverged or was interrupted
        if not call.incremental and loop is not None and loop.epochs % self.every == 0:
            self._write(estimator, call, EPOCH, data)

    @staticmethod
    def _call(estimator):
        call = getattr(estimator, "_training_call", None)
        if call is None:
            raise TypeError(
                "Checkpoint saves the fits of skcnn's estimators (NumpyCNNClassifier, "
                f"NumpyCNNRegressor), not of {type(estimator).__name__}."
            )
        return call

    def _write(self, estimator, call, stage, data):
        try:
            if call.incremental:
                digests = None  # partial_fit checkpoints are continued, not resumed
            elif self._digests is not None and self._digests[0] is call:
                digests = self._digests[1]
            else:
                digests = data_digest(*data)
                self._digests = (call, digests)
            payload = checkpoint_payload(estimator, call, stage, self.every, self.format, digests)
            blob = dumps(payload, self.format)
            if not self._checked:
                self._check_trusted(blob)
            write_atomically(self.path, blob)
        except Exception as error:
            if stage == START:
                raise
            warnings.warn(
                f"Checkpoint could not write {self.path!r} ({type(error).__name__}: {error}). "
                "Training goes on; the file keeps the last checkpoint written.",
                UserWarning,
                stacklevel=2,
            )

    def _check_trusted(self, blob):
        untrusted = sorted(set(_skops_io().get_untrusted_types(data=blob)) - set(self.trusted))
        if untrusted:
            raise TypeError(
                f"Checkpoint(format='skops') cannot save this model so that it loads "
                f"with skcnn.SKOPS_TRUSTED_TYPES: it holds {untrusted}. Use "
                "format='pickle' for a network with classes of your own."
            )
        self._checked = True


# ------------------------------------------------------------------ reading


def read_checkpoint(path, trusted):
    """The dictionary of the checkpoint at ``path``, complete and checked.

    A file that is truncated, damaged or not a checkpoint raises a
    ValueError that says so: no estimator is returned half loaded.
    """
    with open(path, "rb") as file:
        data = file.read()
    if data[:4] == b"PK\x03\x04":
        sio = _skops_io()
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            payload = sio.loads(data, trusted=trusted)
        except UntrustedTypesFoundException as error:
            raise ValueError(
                f"The checkpoint {os.fspath(path)!r} holds types that "
                f"skcnn.SKOPS_TRUSTED_TYPES does not list: {error}"
            ) from error
        except Exception as error:
            raise _damaged(path, error) from error
    elif data[:1] == b"\x80":
        try:
            payload = pickle.loads(data)
        except Exception as error:
            raise _damaged(path, error) from error
    elif not data:
        raise _damaged(path, "the file is empty")
    else:
        raise ValueError(
            f"{os.fspath(path)!r} is not a skcnn checkpoint: it is neither a skops "
            "nor a pickle file."
        )
    if not isinstance(payload, dict) or "skcnn_checkpoint" not in payload:
        raise ValueError(
            f"{os.fspath(path)!r} is not a skcnn checkpoint (it holds a "
            f"{type(payload).__name__}); a model saved with skops.io.dump or pickle "
            "loads with skops.io.load or pickle.load."
        )
    if payload["skcnn_checkpoint"] > FORMAT_VERSION:
        raise ValueError(
            f"The checkpoint {os.fspath(path)!r} was written by a newer skcnn (checkpoint "
            f"format {payload['skcnn_checkpoint']}, this one reads {FORMAT_VERSION}): "
            "upgrade skcnn."
        )
    try:
        intact = _state_digest(payload) == payload["digest"]
    except Exception as error:
        raise _damaged(path, error) from error
    if not intact:
        raise _damaged(path, "its arrays do not match the digest written with them")
    return payload


def _damaged(path, cause):
    if isinstance(cause, BaseException):
        cause = f"{type(cause).__name__}: {cause}"
    return ValueError(
        f"The checkpoint {os.fspath(path)!r} is truncated or damaged, and was not "
        f"loaded ({cause})."
    )


class ResumePoint:
    """Where an interrupted fit stood, as ``BaseCNN._fit(resume=...)`` takes it.

    Attributes
    ----------
    start_state : tuple
        The state of the fit's RandomState before its preparation.
    loop : LoopState or None
        Where its epoch loop stood (None: at the start of the fit).
    """

    def __init__(self, payload):
        self.start_state = payload["start_state"]
        loop = payload["loop"]
        self.loop = None if loop is None else LoopState(**loop)


def check_same_data(payload, path, X, y, sample_weight):
    """Refuse, naming what differs, data other than the fit's."""
    saved, found = payload["data"], data_digest(X, y, sample_weight)
    differs = [name for name in ("X", "y", "sample_weight") if found[name] != saved[name]]
    if differs:
        raise ValueError(
            f"resume_fit refuses other data: the checkpoint {os.fspath(path)!r} was "
            f"written by a fit on another {', '.join(differs)} ({saved['n_samples']} "
            f"samples then, {found['n_samples']} now). Pass the data of that fit, or fit anew."
        )


def check_same_fit(estimator, payload, path):
    """Refuse to resume ``payload``'s fit as ``estimator``'s when its class or
    a parameter that defines the fit differs, naming which."""
    saved, found = payload["fit"], fit_fingerprint(estimator)
    if found["estimator"] != saved["estimator"]:
        raise ValueError(
            f"The checkpoint {os.fspath(path)!r} holds a fit of "
            f"{saved['estimator'].rsplit('.', 1)[-1]}, not of {type(estimator).__name__}: "
            "resume_fit refuses another estimator class."
        )
    names = sorted(set(saved["params"]) | set(found["params"]))
    changed = [name for name in names if saved["params"].get(name) != found["params"].get(name)]
    if changed:
        then = ", ".join(f"{name}={saved['params'].get(name)}" for name in changed)
        now = ", ".join(f"{name}={found['params'].get(name)}" for name in changed)
        raise ValueError(
            f"The checkpoint {os.fspath(path)!r} was written by a fit with {then}; "
            f"the estimator has {now}. resume_fit refuses another architecture or "
            f"training: only {' and '.join(NOT_THE_FIT)} may differ."
        )


def prepare_resume(payload, path, X, y, sample_weight, estimator, callbacks):
    """Check and load the fit that wrote ``payload`` (see
    ``skcnn.callbacks.resume_fit``): its estimator, and where its loop stood
    (a ``ResumePoint``), or None when the fit had ended.

    ``callbacks``: those of the resumed fit when ``estimator`` is None
    (else ``estimator``'s, with its ``verbose`` and ``n_jobs``). The caller
    runs ``model._fit(X, y, sample_weight, incremental=False, resume=point)``
    itself, so that the fit's warnings point at the user's call as
    ``fit``'s do.
    """
    if payload["method"] == "partial_fit":
        raise ValueError(
            f"The checkpoint {os.fspath(path)!r} was written by partial_fit, whose calls "
            "are continued rather than resumed: load it with "
            "skcnn.callbacks.load_checkpoint and go on calling partial_fit."
        )
    if estimator is not None:
        check_same_fit(estimator, payload, path)
    check_same_data(payload, path, X, y, sample_weight)
    model = payload["estimator"]
    if estimator is not None:
        model.set_params(verbose=estimator.verbose, n_jobs=estimator.n_jobs)
        callbacks = getattr(estimator, "_skl_callbacks", [])
    if payload["stage"] == END:
        return model, None  # the fit had ended
    if callbacks:
        model.set_callbacks(*callbacks)
    point = ResumePoint(payload)
    remove_partial_files(path)
    if model.verbose and point.loop is not None:
        print(
            f"Resuming the fit of {os.fspath(path)!r} after epoch {point.loop.epochs} "
            f"of {model.max_iter}.",
            flush=True,
        )
    return model, point
