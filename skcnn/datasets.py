"""Small real datasets shipped with skcnn."""

import gzip
from importlib import resources

import numpy as np

__all__ = ["load_mnist"]


def _read_idx(name):
    with resources.files("skcnn").joinpath("data", name).open("rb") as raw:
        data = gzip.decompress(raw.read())
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(return_X_y=False):
    """The MNIST test set: 10,000 handwritten digits of 28 x 28 pixels.

    The images are LeCun, Cortes and Burges' MNIST database test split (CC
    BY-SA 3.0), shipped with skcnn in its original IDX format. A common split
    is the first 8,000 images for training and the last 2,000 for testing.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a dict.

    Returns
    -------
    data : dict with keys "images" and "target", or tuple (X, y)
        ``X``/``images``: uint8 array of shape (10000, 28, 28), pixel values
        0-255; ``y``/``target``: uint8 array of shape (10000,), labels 0-9.

    Examples
    --------
    >>> from skcnn.datasets import load_mnist
    >>> X, y = load_mnist(return_X_y=True)
    >>> X.shape, y[:5].tolist()
    ((10000, 28, 28), [7, 2, 1, 0, 4])
    """
    images = _read_idx("t10k-images-idx3-ubyte.gz")
    target = _read_idx("t10k-labels-idx1-ubyte.gz")
    if return_X_y:
        return images, target
    return {"images": images, "target": target}
