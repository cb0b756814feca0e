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
    p["data_format"] = _choice("data_format", est.data_format, set(DATA_FORMATS))
    if est.image_shape is not None:
        shape = est.image_shape
        if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3) or not all(
            _is_int(s) and s >= 1 for s in shape
        ):
            _fail(
                "image_shape", shape,
                "None, (height, width), or (channels, height, width) of positive ints "
                "((height, width, channels) with data_format='channels_last')",
            )
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


#: The layouts of a sample's channels, as Keras names them.
DATA_FORMATS = ("channels_first", "channels_last")


def _sample_shape(shape, data_format, sample_ndim):
    """The channels-first shape of a sample given as ``shape`` (an image_shape
    or ``X.shape[1:]``), or None if its rank is neither ``sample_ndim`` (one
    channel) nor ``sample_ndim + 1`` (channels first or last)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == sample_ndim:
        return (1,) + shape
    if len(shape) == sample_ndim + 1:
        return shape if data_format == "channels_first" else shape[-1:] + shape[:-1]
    return None


def user_layout(shape, data_format):
    """The channels-first ``shape`` of a sample as the user lays it out."""
    return tuple(shape) if data_format == "channels_first" else tuple(shape[1:]) + tuple(shape[:1])


def resolve_image_shape(
    image_shape, n_features, shape_from_X=None, data_format="channels_first", sample_ndim=2
):
    """The channels-first shape of one sample: ``(C, H, W)``, or ``(C, L)``.

    The rule for reading ``X`` (for ``sample_ndim=2``, the rank of a sample
    of 2-D layers, without its channels):

    - 2-D ``X`` ``(n_samples, n_features)``: rows, shaped by ``image_shape``.
      ``(H, W)`` is one channel; ``(C, H, W)`` several, or ``(H, W, C)``
      with ``data_format="channels_last"`` (the rows then hold the values
      in ``(H, W, C)`` order, as ``X_hwc.reshape(n, -1)`` gives them). With
      ``image_shape=None`` a perfect-square ``n_features`` is one square
      channel and anything else a ``1 x n_features`` signal.
    - 3-D ``X`` ``(n_samples, H, W)``: one-channel images.
    - 4-D ``X`` ``(n_samples, C, H, W)``, or ``(n_samples, H, W, C)`` with
      ``data_format="channels_last"``.

    For a network whose first layer is 1-D (``sample_ndim=1``): a 3-D ``X``
    is ``(n_samples, C, L)`` (``(n_samples, L, C)``), ``image_shape`` is
    ``(C, L)`` (``(L, C)``), and a 2-D ``X`` without it one signal per row.

    In general a sample (an ``image_shape`` or ``X.shape[1:]``) of rank
    ``sample_ndim`` has one channel and one of rank ``sample_ndim + 1`` its
    channels first or last, so that layers of another rank only change
    ``sample_ndim``.

    Parameters
    ----------
    image_shape : tuple of int or None
        The estimator's ``image_shape`` (``image_shape`` wins over the
        rule for 2-D ``X``; with a 3-D or 4-D ``X`` it must agree with it).
    n_features : int
        Values per sample.
    shape_from_X : tuple of int or None
        The channels-first shape of a sample of a 3-D or 4-D ``X`` (see
        :func:`flatten_images`), None for 2-D ``X``.
    data_format : {"channels_first", "channels_last"}
    sample_ndim : int, default=2

    Returns
    -------
    shape : tuple of int
        ``(C, H, W)``, channels first whatever ``data_format``.
    """
    if image_shape is not None:
        shape = _sample_shape(image_shape, data_format, sample_ndim)
        if shape is None:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} must have {sample_ndim} or "
                f"{sample_ndim + 1} values for samples of rank {sample_ndim}."
            )
        size = math.prod(shape)
        if size != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} holds {size} values per "
                f"sample, but X has {n_features} features per sample."
            )
        if shape_from_X is not None and shape != shape_from_X:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} does not match the shape "
                f"{user_layout(shape_from_X, data_format)} of the samples in X."
            )
        return shape
    if shape_from_X is not None:
        return shape_from_X
    side = math.isqrt(n_features)
    if sample_ndim == 2 and side * side == n_features:
        return (1, side, side)
    return (1,) * sample_ndim + (n_features,)


# --------------------------------------------------------------- input X


def flatten_images(X, data_format="channels_first", sample_ndim=2):
    """Turn an ``X`` of samples with their own shape into 2-D rows.

    ``X`` of rank ``sample_ndim + 1`` holds one-channel samples, of rank
    ``sample_ndim + 2`` samples with their channels (first or last, as
    ``data_format`` says); see :func:`resolve_image_shape`. Returns the 2-D
    rows, in the order of ``X`` (see :func:`channels_first_rows`), and the
    channels-first shape of one sample (None for 2-D and sparse ``X``,
    which go on to ``validate_data`` as they are).
    """
    ndim = getattr(X, "ndim", None)
    if ndim is None or ndim <= 2 or issparse(X):
        return X, None
    shape = _sample_shape(X.shape[1:], data_format, sample_ndim)
    if shape is None:
        last = data_format == "channels_last"
        if sample_ndim == 1:
            expected = "3-D " + ("(n_samples, L, C)" if last else "(n_samples, C, L)")
            expected += " for a network of 1-D layers"
        else:
            expected = "3-D (n_samples, H, W) or 4-D " + (
                "(n_samples, H, W, C)" if last else "(n_samples, C, H, W)"
            )
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) or {expected}. Received an array of "
            f"shape {X.shape}."
        )
    return np.reshape(X, (X.shape[0], -1)), shape


def channels_first_rows(X, shape, data_format):
    """Validated 2-D rows ``X`` with their columns in the channels-first
    order of samples of ``shape`` ``(C, ...)``: the one conversion of
    ``data_format="channels_last"``, so that the network never sees it.

    Rows in ``(..., C)`` order are permuted (dense or sparse); one channel,
    or channels first, leaves ``X`` as it is.
    """
    if data_format == "channels_first" or shape[0] == 1:
        return X
    columns = np.moveaxis(np.arange(math.prod(shape)).reshape(shape[1:] + shape[:1]), -1, 0)
    return X[:, columns.ravel()]


# A flat row of 3 x s x s values with s from this on is probably a colour
# image: smaller colour images are rare, and shorter signals of such lengths
# (48, 75, 108, ...) common.
_MIN_COLOUR_SIDE = 8


def warn_if_misread(shape, data_format, source, n_features):
    """Warn when samples read as ``shape`` (channels first) were probably laid out otherwise.

    A warning, not an error: every layout warned about is also a valid one
    for some data (a signal of 3,072 values, 32 channels of 32 x 3 patches),
    and ``data_format`` and ``image_shape`` say which one it is.

    Parameters
    ----------
    shape : tuple of (int, int, int)
        How the samples are read, ``(C, H, W)``.
    data_format : {"channels_first", "channels_last"}
    source : {"X", "image_shape", "rule"}
        Where the shape came from: ``X``'s own shape (3-D or 4-D), the
        ``image_shape`` parameter, or the rule for 2-D ``X`` without it.
    n_features : int
        Values per sample.
    """
    if len(shape) != 3:  # 1-D samples (C, L): no layout to guess
        return
    c, h, w = shape
    if source == "rule":
        side = math.isqrt(n_features // 3)
        if n_features % 3 or side * side * 3 != n_features or side < _MIN_COLOUR_SIDE:
            return
        message = (
            f"X has {n_features} features per sample, read as one 1 x {n_features} signal "
            f"({n_features} is not a perfect square). If they are {side} x {side} images with "
            f"3 channels, say so: image_shape=({side}, {side}, 3) with "
            "data_format='channels_last' for rows flattened from (n, H, W, C) arrays "
            f"(X_hwc.reshape(n, -1)), or image_shape=(3, {side}, {side}) for rows in channel-"
            f"first order. image_shape=(1, {n_features}) reads them as a signal without this "
            "warning."
        )
    elif data_format == "channels_first" and w in (1, 3, 4) and w < c and w < h:
        read = f"read as {c} channels of {h} x {w} images (channels first, as PyTorch)"
        if source == "X":
            message = (
                f"X holds samples of shape {shape}, {read}. If they are {c} x {h} images with "
                f"{w} channel{'s' * (w > 1)} last (as PIL, matplotlib, OpenCV and scikit-image "
                "give them), "
                "pass data_format='channels_last' (or np.moveaxis(X, -1, 1))."
            )
        else:
            message = (
                f"image_shape={shape} is {read}. If the rows hold {c} x {h} images with {w} "
                f"channel{'s' * (w > 1)} last (flattened from (n, H, W, C) arrays), pass "
                f"data_format='channels_last' with image_shape={shape}; if they are in "
                f"channel-first order, image_shape={(w, c, h)}."
            )
    elif data_format == "channels_last" and h in (1, 3, 4) and h < c and h < w:
        given = user_layout(shape, data_format)
        message = (
            f"{'X holds samples of shape ' if source == 'X' else 'image_shape='}{given}, read "
            f"with data_format='channels_last' as {h} x {w} images with {c} channels. If "
            f"they are {c} x {w} images with {h} channels first, leave data_format at "
            "'channels_first'."
        )
    else:
        return
    warnings.warn(message, UserWarning, stacklevel=5)  # the user's fit / partial_fit call


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


# ------------------------------------------------------------ predictions


def prediction_dtype(X, model_dtype):
    """The dtype of the predictions for ``X``: MLPClassifier's and MLPRegressor's rule.

    MLP predicts in the dtype its forward pass takes from ``X`` and its
    weights: float32 for a float32 model on float32 ``X``, float64 otherwise
    (float64 or integer ``X``, lists, a float64 model). ``X`` is the input
    as the user passed it: an array, a sparse matrix or a DataFrame.
    """
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):  # a DataFrame: its columns' common type
        try:
            dtype = np.result_type(*X.dtypes)
        except (TypeError, ValueError):  # pandas extension or other libraries' types
            dtype = None
    float32 = np.dtype(np.float32)
    if np.dtype(model_dtype) == float32 and isinstance(dtype, np.dtype) and dtype == float32:
        return float32
    return np.dtype(np.float64)
