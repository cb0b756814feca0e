"""What the fitted network computes inside: layer outputs and the features
``transform`` returns, batch by batch in bounded memory.

The inference pass runs only as deep as the deepest layer asked for, in the
batches ``predict`` uses (their intermediate arrays stay within a fixed
budget, whatever the number of samples), and keeps only the outputs asked
for, written into arrays allocated once for all the samples.
"""

import numpy as np

from ._training.parallel import predict_in_chunks
from .layers import Dropout


def layer_indices(names, layers):
    """The positions in ``names`` of the layers ``layers`` names (a name or a
    list of names), or a ValueError naming the first unknown one."""
    wanted = [layers] if isinstance(layers, str) else layers
    if not isinstance(wanted, (list, tuple)) or not wanted:
        raise ValueError(
            "layers must be None, a layer name or a non-empty list of layer names "
            f"(layer_names_: {names}). Received layers={layers!r}."
        )
    for name in wanted:
        if not isinstance(name, str) or name not in names:
            raise ValueError(
                f"layers must name layers of the fitted network (layer_names_: {names}). "
                f"Received layers={layers!r}, and {name!r} is not one."
            )
    return [names.index(name) for name in wanted]


def feature_layer(names, layers, transform_layer):
    """The position of the layer whose output ``transform`` returns.

    By default the input of the output layer: the last hidden layer's
    activation. Dropout layers before the output layer are skipped (at
    inference they pass their input through), so that the features are named
    after the layer that computes them.
    """
    if transform_layer is None:
        index = len(layers) - 2
        while index > 0 and isinstance(layers[index], Dropout):
            index -= 1
        return index
    if not isinstance(transform_layer, str) or transform_layer not in names:
        raise ValueError(
            "transform_layer must be None or the name of a layer of the fitted "
            f"network (layer_names_: {names}). Received transform_layer={transform_layer!r}."
        )
    return names.index(transform_layer)


def feature_names(name, shape):
    """Names of the values of one output of layer ``name``: ``fc1_0``, ... for
    flat outputs, an index per axis otherwise (``conv2_3_0_1``: channel 3,
    row 0, column 1 of an image), in the order a Flatten layer reads them."""
    if len(shape) == 1:
        return np.asarray([f"{name}_{i}" for i in range(shape[0])], dtype=object)
    positions = np.indices(shape).reshape(len(shape), -1).T
    return np.asarray([f"{name}_" + "_".join(map(str, p)) for p in positions], dtype=object)


def transform_dtypes(X, model_dtype):
    """The dtypes ``transform`` computes in and returns for ``X``.

    It returns X's own dtype when it is float32 or float64, as scikit-learn's
    transformers keep them, else the model's. It computes in float64 when
    it returns float64: the features of a sample then do not depend on the
    other samples of the call, to float64's rounding. In float32, BLAS
    rounds a product's last bits differently for one row than for many,
    and scikit-learn checks (to 1e-7) that one sample's features are the
    same alone as in a batch.
    """
    out = _float_dtype_of(X, model_dtype)
    return np.result_type(out, model_dtype), out


def _float_dtype_of(X, compute_dtype):
    """X's dtype when it is float32 or float64, else ``compute_dtype``."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes") and hasattr(X, "columns"):  # pandas
        found = set(X.dtypes)
        dtype = found.pop() if len(found) == 1 else None
    elif dtype is None and isinstance(X, (list, tuple)):
        try:
            dtype = np.asarray(X).dtype
        except ValueError:  # ragged: validation says what is wrong
            dtype = None
    try:
        dtype = np.dtype(dtype) if dtype is not None else None
    except TypeError:  # a pandas extension dtype
        dtype = None
    return dtype if dtype in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(compute_dtype)


def in_precision(network, dtype):
    """``network`` computing in ``dtype``: a replica whose parameters and
    running statistics are copies in that dtype (the same network when it
    computes in it already)."""
    if network.params[0].dtype == dtype:
        return network
    twin = network.replica()
    for layer in twin.layers:
        for name in layer.param_names + layer.state_names:
            array = getattr(layer, name, None)
            if array is not None:
                setattr(layer, name, array.astype(dtype))
    return twin


class _Prefix:
    """The layers of a network up to the deepest of ``keep``, as
    ``predict_in_chunks`` runs a network: ``forward`` returns the outputs of
    the layers at positions ``keep``, in that order, for a batch converted
    to ``dtype``."""

    def __init__(self, layers, keep, dtype):
        self.layers = layers[: max(keep) + 1]
        self.keep = keep
        self.dtype = dtype

    def forward(self, X):
        X = X.astype(self.dtype, copy=False)
        kept = {}
        for i, layer in enumerate(self.layers):
            X = layer.forward(X)
            if i in self.keep:
                kept[i] = X
        return [kept[i] for i in self.keep]


class _Outputs:
    """Where ``predict_in_chunks`` writes a batch: ``outputs[rows] = values``
    copies each layer's values into its own array (converting the dtype)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __setitem__(self, rows, values):
        for array, value in zip(self.arrays, values, strict=True):
            array[rows] = value


def compute_layer_outputs(network, X, sample_shape, keep, dtypes, batch_len, n_threads):
    """The outputs of the layers at positions ``keep`` for validated 2-D
    ``X`` (dense or CSR): one C-contiguous array of shape
    ``(n_samples,) + output_shape`` per position.

    ``dtypes`` is ``(computed in, returned as)``. Only the returned arrays
    grow with ``n_samples``: each batch of ``batch_len`` samples is
    densified, run and dropped in turn.
    """
    compute, out = (np.dtype(d) for d in dtypes)
    network = in_precision(network, compute)
    n = X.shape[0]
    arrays = [np.empty((n,) + tuple(network.layers[i].output_shape), dtype=out) for i in keep]
    predict_in_chunks(
        _Prefix(network.layers, keep, compute), X, sample_shape, _Outputs(arrays), batch_len,
        n_threads,
    )
    return arrays
