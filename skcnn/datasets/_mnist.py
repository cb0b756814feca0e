"""The MNIST test set shipped with skcnn (``data/``)."""

import gzip
from importlib import resources

import numpy as np
from sklearn.utils import Bunch


def _data_file(name):
    return resources.files("skcnn.datasets").joinpath("data", name)


def _read_idx(name):
    """The array stored in IDX file ``name`` (gzip-compressed), writable."""
    with _data_file(name).open("rb") as raw:
        # A bytearray, not bytes: the array is writable, as scikit-learn's loaders return.
        data = bytearray(gzip.decompress(raw.read()))
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool. Received {name}={value!r}.")


def _as_frame(data, target, feature_names):
    """``(data, target, frame)`` as pandas objects, like load_digits(as_frame=True)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "load_mnist(as_frame=True) requires pandas, which is not installed. "
            "Install it with `pip install pandas`, or use as_frame=False for numpy arrays."
        ) from exc
    data = pd.DataFrame(data, columns=feature_names)
    target = pd.Series(target, name="target")
    return data, target, pd.concat([data, target], axis=1)


def load_mnist(return_X_y=False, *, as_frame=False):
    """Load the MNIST test set: 10,000 handwritten digits of 28 x 28 pixels.

    The images are LeCun, Cortes and Burges' MNIST database test split (CC
    BY-SA 3.0), shipped with skcnn in its original IDX format. A common split
    is the first 8,000 images for training and the last 2,000 for testing.
    The result is laid out as :func:`sklearn.datasets.load_digits`'s.

    =================  ==================
    Classes                            10
    Samples per class        892 to 1,135
    Samples total                  10,000
    Dimensionality          784 (28 x 28)
    Features            integers 0 to 255
    =================  ==================

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of a Bunch. Unlike
        ``load_digits``, X is then the 3-D ``images``, not the flat ``data``
        (unless ``as_frame=True``).
    as_frame : bool, default=False
        Make ``data`` a pandas DataFrame of the flat pixels (columns
        ``feature_names``), ``target`` a pandas Series and ``frame`` a
        DataFrame of both; with ``return_X_y=True``, return that DataFrame
        and Series. Needs pandas; ``images`` stays a numpy array.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes (and keys).

        data : ndarray of shape (10000, 784) or DataFrame
            The flattened images, uint8 pixel values 0-255, row by row.
        images : ndarray of shape (10000, 28, 28)
            The images, uint8; ``data`` is a view of it, so they share memory.
        target : ndarray of shape (10000,) or Series
            The labels 0-9, uint8.
        frame : DataFrame of shape (10000, 785) or None
            ``data`` and ``target`` together; only with ``as_frame=True``.
        feature_names : list of str
            The names of the pixels: ``"pixel_{row}_{col}"``.
        target_names : ndarray of shape (10,)
            The classes, ``np.arange(10)``.
        DESCR : str
            A description of the dataset: source, licence and the usual split.

    (images, target) : tuple
        With ``return_X_y=True``: ``images`` of shape (10000, 28, 28) and
        ``target`` of shape (10000,); with ``as_frame=True`` too, the
        DataFrame ``data`` and the Series ``target``.

    Examples
    --------
    >>> from skcnn.datasets import load_mnist
    >>> mnist = load_mnist()
    >>> mnist.data.shape, mnist.images.shape, mnist.target[:5].tolist()
    ((10000, 784), (10000, 28, 28), [7, 2, 1, 0, 4])
    >>> mnist.feature_names[29]
    'pixel_1_1'
    >>> X, y = load_mnist(return_X_y=True)
    >>> X.shape, y.shape
    ((10000, 28, 28), (10000,))
    """
    _check_bool("return_X_y", return_X_y)
    _check_bool("as_frame", as_frame)
    images = _read_idx("t10k-images-idx3-ubyte.gz")
    target = _read_idx("t10k-labels-idx1-ubyte.gz")
    n_samples, height, width = images.shape
    data = images.reshape(n_samples, height * width)
    feature_names = [f"pixel_{row}_{col}" for row in range(height) for col in range(width)]
    frame = None
    if as_frame:
        data, target, frame = _as_frame(data, target, feature_names)
        if return_X_y:
            return data, target
    if return_X_y:
        return images, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=np.arange(10),
        images=images,
        DESCR=_data_file("MNIST_README.md").read_text(encoding="utf-8"),
    )
