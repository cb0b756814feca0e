"""Checks of the estimators' hyperparameters and input, in one place.

The hyperparameters are validated once at the start of fit.

Each check raises a ``ValueError`` (``TypeError`` for a wrong type) naming the
parameter and the value received, in the style of Keras and scikit-learn:
``filters must be a tuple of positive ints. Received filters=(0,).``
"""

import inspect
import math
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn.exceptions import ConvergenceWarning

from ._architecture import NETWORK_PARAMS, check_layer_list, layer_spec
from ._functional.geometry import as_pair, resolve_padding
from .augmentation import check_transforms
from .layers import ACTIVATIONS


def _fail(name, value, expected, error=ValueError):
    raise error(f"{name} must be {expected}. Received {name}={value!r}.")


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _int_tuple(name, value, expected):
    if _is_int(value):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(
        _is_int(v) and v >= 1 for v in value
    ):
        _fail(name, value, expected)
    return tuple(int(v) for v in value)


def _real(name, value, low, high, low_closed, high_closed):
    if not _is_real(value):
        _fail(name, value, "a real number", TypeError)
    ok_low = value >= low if low_closed else value > low
    ok_high = value <= high if high_closed else value < high
    if not (ok_low and ok_high) or np.isnan(value):
        left = "[" if low_closed else "("
        right = "]" if high_closed else ")"
        _fail(name, value, f"in the range {left}{low}, {high}{right}")
    return float(value)


def _bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, value, "a bool", TypeError)
    return bool(value)


def _choice(name, value, options):
    if not isinstance(value, str) or value not in options:
        _fail(name, value, f"one of {sorted(options)}")
    return value


def _float_dtype(value):
    """The name ("float32" or "float64") of np.float32 or np.float64 given as a
    type, a dtype or a name."""
    try:
        dtype = np.dtype(value) if value is not None else None
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        _fail("dtype", value, "np.float32 or np.float64")
    return dtype.name


def validate_hyperparameters(est):
    """Check every hyperparameter of ``est``; return the normalized values.

    Returns a dict holding the architecture in normalized form (pairs for
    kernel and pool sizes, tuples for layer sizes; ``layers``: the layer
    list as plain values, or None) plus the resolved batch size rule; the
    estimator's own attributes are never modified. With a layer list the
    parameters of ``NETWORK_PARAMS`` are None.
    """
    p = {}
    p["filters"] = _int_tuple("filters", est.filters, "a tuple of positive ints")
    p["kernel_size"] = as_pair(est.kernel_size, "kernel_size")
    p["pool_size"] = as_pair(est.pool_size, "pool_size")
    resolve_padding(est.padding, p["kernel_size"])
    # Lists become tuples, so that a warm start can compare architectures.
    p["padding"] = est.padding if isinstance(est.padding, (str, Integral)) else tuple(est.padding)
    p["hidden_layer_sizes"] = _int_tuple(
        "hidden_layer_sizes", est.hidden_layer_sizes, "a tuple of positive ints"
    )
    p["activation"] = _choice("activation", est.activation, set(ACTIVATIONS))
    if est.image_shape is not None:
        shape = est.image_shape
        if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3) or not all(
            _is_int(s) and s >= 1 for s in shape
        ):
            _fail("image_shape", shape, "None, (height, width) or (channels, height, width) of positive ints")
    p["dropout"] = _real("dropout", est.dropout, 0, 1, True, False)
    p["layers"] = _layer_list(est)
    check_transforms(est.augment)
    _choice("batchnorm_statistics", est.batchnorm_statistics, {"running", "training_set"})
    _choice("solver", est.solver, {"adam", "sgd", "lbfgs"})
    if not _is_int(est.max_fun) or est.max_fun < 1:
        _fail("max_fun", est.max_fun, "a positive int")
    if est.solver == "lbfgs" and p["layers"] is None and p["dropout"] > 0:
        raise ValueError(
            f"dropout={est.dropout!r} cannot be used with solver='lbfgs': L-BFGS's "
            "line search compares the loss at several points, and dropout draws "
            "new masks at every evaluation. Set dropout=0 (or use solver='adam')."
        )
    if est.solver == "lbfgs":
        _refuse_random_training_with_lbfgs(est, p["layers"] is not None)
    _choice("learning_rate", est.learning_rate, {"constant", "invscaling", "adaptive"})
    _real("power_t", est.power_t, 0, np.inf, True, False)
    _real("alpha", est.alpha, 0, np.inf, True, False)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        if not _is_int(est.batch_size) or est.batch_size < 1:
            _fail("batch_size", est.batch_size, "'auto' or a positive int")
    _real("learning_rate_init", est.learning_rate_init, 0, np.inf, False, False)
    if not _is_int(est.max_iter) or est.max_iter < 1:
        _fail("max_iter", est.max_iter, "a positive int")
    _real("tol", est.tol, 0, np.inf, True, False)
    n = est.n_iter_no_change
    if not ((_is_int(n) and n >= 1) or (_is_real(n) and n == np.inf)):
        _fail("n_iter_no_change", n, "a positive int or np.inf")
    if not (isinstance(est.early_stopping, str) and est.early_stopping == "auto"):
        _bool("early_stopping", est.early_stopping)
    _real("validation_fraction", est.validation_fraction, 0, 1, False, False)
    _real("momentum", est.momentum, 0, 1, True, True)
    _bool("nesterovs_momentum", est.nesterovs_momentum)
    _real("beta_1", est.beta_1, 0, 1, True, False)
    _real("beta_2", est.beta_2, 0, 1, True, False)
    _real("epsilon", est.epsilon, 0, np.inf, False, False)
    _bool("shuffle", est.shuffle)
    _bool("warm_start", est.warm_start)
    if not (_is_int(est.verbose) or isinstance(est.verbose, (bool, np.bool_))):
        _fail("verbose", est.verbose, "a bool or an int", TypeError)
    p["dtype"] = _float_dtype(est.dtype)
    if est.n_jobs is not None and (not _is_int(est.n_jobs) or est.n_jobs == 0):
        _fail("n_jobs", est.n_jobs, "None or a non-zero int")
    if hasattr(est, "class_weight"):
        cw = est.class_weight
        if not (cw is None or (isinstance(cw, str) and cw == "balanced") or isinstance(cw, dict)):
            _fail("class_weight", cw, "None, 'balanced' or a dict {class_label: weight}")
    if hasattr(est, "loss"):
        p["loss"] = _choice("loss", est.loss, {"squared_error", "poisson"})
    if p["layers"] is not None:
        p.update(dict.fromkeys(NETWORK_PARAMS))
    return p


def _layer_list(est):
    """The architecture of ``est.layers`` (None without one, see layer_spec).

    With a layer list, the parameters that would build the network are
    ignored (set to None in the normalized values): a UserWarning names
    those set to something else than their defaults, as scikit-learn warns
    about a parameter that another one makes unused (LogisticRegression's
    l1_ratio without penalty="elasticnet"). A warning rather than an error:
    a search over ``layers=[None, [...]]`` crossed with ``filters`` stays a
    valid grid, and nothing is computed differently from what was asked
    once the list is there.
    """
    if est.layers is None:
        return None
    spec = layer_spec(check_layer_list(est.layers, set(est.get_params(deep=False))))
    defaults = inspect.signature(type(est).__init__).parameters
    ignored = [
        f"{name}={getattr(est, name)!r}" for name in NETWORK_PARAMS
        if name in defaults and not _same(getattr(est, name), defaults[name].default)
    ]
    if ignored:
        warnings.warn(
            f"{', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored: "
            "layers defines the whole network (the estimator appends the output "
            "layer). Leave such parameters at their defaults, or put the layers "
            "they stand for in the list.",
            UserWarning,
            stacklevel=6,  # the user's fit / partial_fit call
        )
    return spec


def _refuse_random_training_with_lbfgs(est, has_layers):
    """A full-batch L-BFGS fit evaluates one fixed loss: no dropout layer in
    a layer list, no augmentation (both draw anew at every evaluation), no
    batch normalization (its statistics would be a chunk's, not the
    training set's, and its running statistics would move at every
    evaluation)."""
    for name, layer in est.layers if has_layers else ():
        if layer.syncs_batch:
            raise ValueError(
                f"Layer {name!r} ({layer!r}) cannot be used with solver='lbfgs': "
                "L-BFGS evaluates the loss of the whole training set in chunks and "
                "at several points of a line search, and batch normalization would "
                "normalize each chunk with its own statistics and move its running "
                "statistics at every evaluation. Remove it (or use solver='adam' "
                "or 'sgd')."
            )
        if layer.takes_seed:
            raise ValueError(
                f"Layer {name!r} ({layer!r}) cannot be used with solver='lbfgs': "
                "L-BFGS's line search compares the loss at several points, and the "
                "layer draws anew at every evaluation. Remove it (or use solver='adam')."
            )
    if check_transforms(est.augment):
        raise ValueError(
            f"augment={est.augment!r} cannot be used with solver='lbfgs': a full-batch "
            "fit minimizes the loss of fixed images. Set augment=None (or use "
            "solver='adam')."
        )


def _same(value, default):
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def resolve_image_shape(image_shape, n_features, shape_from_X=None, sample_ndim=2):
    """The channels-first shape of one sample: ``(C, H, W)``, or ``(C, L)``
    for layers that take signals (``sample_ndim=1``, the rank of a sample
    without its channels).

    ``image_shape`` (of rank ``sample_ndim``: one channel, or
    ``sample_ndim + 1``: channels first) wins; a 3-D or 4-D X gives its own
    shape; otherwise, for images, a perfect-square ``n_features`` is one
    square channel and anything else a ``1 x n_features`` signal, and for
    signals a row is one channel.
    """
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) not in (sample_ndim, sample_ndim + 1):
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} must have {sample_ndim} or "
                f"{sample_ndim + 1} values for samples of rank {sample_ndim}."
            )
        shape = (1,) + shape if len(shape) == sample_ndim else shape
        size = int(np.prod(shape))
        if size != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} holds {size} values per "
                f"sample, but X has {n_features} features per sample."
            )
        if shape_from_X is not None and shape != shape_from_X:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} does not match the shape "
                f"{shape_from_X} of the samples in X."
            )
        return shape
    if shape_from_X is not None:
        return shape_from_X
    side = math.isqrt(n_features)
    if sample_ndim == 2 and side * side == n_features:
        return (1, side, side)
    return (1,) * sample_ndim + (n_features,)


# --------------------------------------------------------------- input X


def flatten_images(X, sample_ndim=2):
    """Turn a 3-D ``(n, H, W)`` or 4-D ``(n, C, H, W)`` array into 2-D rows
    (for signals, ``sample_ndim=1``: a 3-D ``(n, C, L)`` array).

    Returns the 2-D data and the ``(C, H, W)`` (``(C, L)``) of one sample
    (None for 2-D X).
    """
    ndim = getattr(X, "ndim", None)
    if ndim in (sample_ndim + 1, sample_ndim + 2) and ndim > 2 and not issparse(X):
        shape = tuple(int(s) for s in X.shape[1:])
        shape = (1,) + shape if ndim == sample_ndim + 1 else shape
        return np.reshape(X, (X.shape[0], -1)), shape
    return X, None


def warn_if_channels_last(shape):
    """Warn when ``(C, H, W)`` looks like channels-last ``(H, W, C)`` images."""
    c, h, w = shape
    if w in (1, 3, 4) and w < c and w < h:
        warnings.warn(
            f"X holds samples of shape {shape}, read as {c} channels of {h} x {w} "
            f"images (channels first, as PyTorch). If they are {c} x {h} images "
            f"with {w} channels last (as PIL, matplotlib and scikit-learn's sample "
            "images are), pass np.moveaxis(X, -1, 1) instead.",
            UserWarning,
            stacklevel=5,  # the user's fit / partial_fit call
        )


def warn_if_beyond_float32(X):
    """Warn when float64 ``X`` holds values float32 cannot (the default dtype refuses them)."""
    if X.dtype != np.float64:  # validation already refused what float32 cannot hold
        return
    values = X.data if issparse(X) else X
    largest = max(float(values.max()), -float(values.min())) if values.size else 0.0
    if largest > float(np.finfo(np.float32).max):
        warnings.warn(
            f"X has values as large as {largest:.3g}, beyond float32's range "
            f"({float(np.finfo(np.float32).max):.3g}): at that scale the network's "
            "sums overflow or swamp every other term, and training cannot make "
            "progress. Scale X first (for instance with StandardScaler).",
            ConvergenceWarning,
            stacklevel=5,  # the user's fit / partial_fit call
        )


def one_image_hint(X, n_features_in):
    """A hint for a 2-D ``X`` that is one image rather than rows of samples."""
    shape = getattr(X, "shape", ())
    if len(shape) == 2 and shape[0] * shape[1] == n_features_in and shape[1] != n_features_in:
        return (
            f" X has the shape {tuple(shape)} of one image: pass X[None] (or "
            "X.reshape(1, -1)) for one sample."
        )
    return ""
