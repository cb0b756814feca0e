"""Random transforms of training images: the estimators' ``augment`` parameter.

``NumpyCNNClassifier(augment=[RandomShift(2), RandomRotation(10)])``
transforms every training batch before the network sees it, with new
random draws at every epoch; predictions, scores and the early-stopping
validation split see the images as they are. A list applies its
transforms in order.

The draws are not taken from a stream: each sample's transform is hashed
from the training call's seed (drawn from ``random_state``), the epoch, the
batch and the sample's own values, as dropout masks are (see
:class:`skcnn.layers.Dropout`). So a model is bit-identical whatever
``n_jobs``, identical samples get the same transform, and an integer
sample weight stays equivalent to repeated samples.

Every transform works on a whole batch at once (no loop over images) and
keeps the dtype; pixels moved in from outside the image are zeros. A batch
holds images ``(N, C, H, W)`` or 1-D samples ``(N, C, L)``. Transforms know
the geometry they act on: on a signal (1-D samples, or images of one row or
one column) a shift moves along the signal only and a flip reverses it; a
shift never moves a sample entirely out of its frame; a transform that
cannot apply (a rotation of a signal) refuses with an error before any
training.

Examples
--------
>>> import numpy as np
>>> from skcnn.augmentation import RandomFlip, RandomShift, apply_transforms
>>> X = np.arange(2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3)
>>> apply_transforms(X, [RandomShift(1), RandomFlip()], seed=0).shape
(2, 1, 3, 3)
"""

from numbers import Integral, Real

import numpy as np
from scipy.ndimage import map_coordinates

from ._constructor_params import ParamsMixin
from ._random import _column_hashes, _splitmix64, mix_seed, sample_keys

__all__ = ["RandomFlip", "RandomRotation", "RandomShift", "Transform", "apply_transforms"]


class Transform(ParamsMixin):
    """Base class: a random transform of a batch of images or signals.

    A subclass gives ``n_draws``, the uniform numbers it needs per sample,
    and ``_apply(X, u)`` for a batch ``X`` of shape ``(N, C, H, W)`` and
    ``u`` of shape ``(N, n_draws)`` in ``[0, 1)``; it returns a new array.
    1-D samples ``(C, L)`` reach ``_apply`` as one-row images ``(C, 1, L)``.
    A transform that cannot act on some samples says so in
    ``check_sample_shape``. Its constructor arguments are its parameters
    (``get_params``), so that an estimator holding transforms can be cloned
    and searched.
    """

    n_draws = 0

    def _apply(self, X, u):
        raise NotImplementedError

    def check_sample_shape(self, shape):
        """Raise a ``ValueError`` if the transform cannot act on samples of ``shape``.

        Parameters
        ----------
        shape : tuple of int
            One sample: ``(C, H, W)`` for images, ``(C, L)`` for 1-D samples.
        """

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


class RandomShift(Transform):
    """Shift each image by a random whole number of pixels, with zeros moving in.

    Parameters
    ----------
    max_shift : int or tuple of (int, int), default=2
        Largest shift along the height and the width; each sample's shifts
        are drawn uniformly from ``-max_shift`` to ``max_shift`` (both
        included). A shift ``(dy, dx)`` moves pixel ``(i, j)`` to
        ``(i + dy, j + dx)``. ``0`` leaves that axis alone. Along an axis
        of length ``n`` the largest shift is ``n - 1``, so that every
        sample keeps at least one row and one column of its own: a 1-row
        signal is shifted along the row only, and 1-D samples ``(C, L)``
        along ``L`` by at most the width's ``max_shift``.
    """

    n_draws = 2

    def __init__(self, max_shift=2):
        self._max = _non_negative_pair(max_shift, "max_shift")
        self.max_shift = max_shift

    def _apply(self, X, u):
        _, _, h, w = X.shape
        my, mx = min(self._max[0], h - 1), min(self._max[1], w - 1)
        dy = np.floor(u[:, 0] * (2 * my + 1)).astype(np.intp) - my
        dx = np.floor(u[:, 1] * (2 * mx + 1)).astype(np.intp) - mx
        return shift_images(X, dy, dx)


def shift_images(X, dy, dx):
    """Images ``X`` (N, C, H, W) with image ``n`` shifted by ``(dy[n], dx[n])``.

    Pixel ``(i, j)`` moves to ``(i + dy, j + dx)``; zeros move in. One
    gather from a zero-padded copy: out[n, :, i, j] = X[n, :, i - dy, j - dx].
    """
    n, _, h, w = X.shape
    py, px = min(int(np.abs(dy).max(initial=0)), h), min(int(np.abs(dx).max(initial=0)), w)
    padded = np.pad(X, ((0, 0), (0, 0), (py, py), (px, px))).transpose(0, 2, 3, 1)
    rows = np.clip(np.arange(h) - dy[:, None], -py, h - 1 + py) + py  # (N, H)
    cols = np.clip(np.arange(w) - dx[:, None], -px, w - 1 + px) + px  # (N, W)
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]  # N, H, W, C
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class RandomFlip(Transform):
    """Mirror each image with probability 1/2, per axis.

    A signal (1-D samples, or images of one row or one column) has one
    direction: with either flag set, it is reversed with probability 1/2.

    Parameters
    ----------
    horizontal : bool, default=True
        Mirror left-right (reverse the width axis).
    vertical : bool, default=False
        Mirror top-bottom (reverse the height axis). Digits and most
        photographs should not be flipped upside down.
    """

    n_draws = 2

    def __init__(self, horizontal=True, vertical=False):
        for name, value in (("horizontal", horizontal), ("vertical", vertical)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool. Received {name}={value!r}.")
        self.horizontal = horizontal
        self.vertical = vertical

    def _apply(self, X, u):
        _, _, h, w = X.shape
        if h == 1 or w == 1:
            if not (self.horizontal or self.vertical):
                return X.copy()
            along = X[..., ::-1] if h == 1 else X[..., ::-1, :]
            return np.where((u[:, 0] < 0.5)[:, None, None, None], along, X).astype(X.dtype, copy=False)
        out = X
        if self.horizontal:
            out = np.where((u[:, 0] < 0.5)[:, None, None, None], out[..., ::-1], out)
        if self.vertical:
            out = np.where((u[:, 1] < 0.5)[:, None, None, None], out[..., ::-1, :], out)
        return np.array(out, dtype=X.dtype, copy=out is X)


class RandomRotation(Transform):
    """Rotate each image about its center by an angle drawn in ``[-degrees, degrees]``.

    Zeros outside the image, the size kept: as ``scipy.ndimage.rotate(image,
    angle, reshape=False, order=order)``, for the whole batch in one
    ``scipy.ndimage.map_coordinates`` call. A positive angle turns the image
    counterclockwise as displayed (row 0 at the top).

    Parameters
    ----------
    degrees : float, default=10
        Largest angle, in degrees (non-negative).
    order : {0, 1}, default=1
        Interpolation: 1 is bilinear, 0 takes the nearest pixel. Bilinear
        interpolation averages neighbouring pixels, so rotated images are
        smoother than the originals (their pixel variance is lower): a
        network with batch normalization then keeps running statistics of
        smoother images than it will predict. With ``order=0`` every output
        pixel is an input pixel, and the statistics match.

    Notes
    -----
    Images must be at least 3 x 3 pixels, so that a pixel near the center
    stays inside whatever the angle; a signal (1-D samples, one row or one
    column) has no second direction to turn in. On such samples the
    transform refuses to act (before any training, in ``fit``) rather than
    move them out of their frame.
    """

    n_draws = 1

    def __init__(self, degrees=10, order=1):
        if isinstance(degrees, bool) or not isinstance(degrees, Real) or not 0 <= degrees < np.inf:
            raise ValueError(
                f"degrees must be a non-negative real number. Received degrees={degrees!r}."
            )
        if isinstance(order, bool) or order not in (0, 1):
            raise ValueError(f"order must be 0 (nearest) or 1 (bilinear). Received order={order!r}.")
        self.degrees = degrees
        self.order = order

    def check_sample_shape(self, shape):
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:
            why, axes = "1-D samples have no second direction to turn in", "channels, length"
        elif min(shape[1:]) == 1:
            why, axes = (
                "a signal of one row or one column has no second direction to turn in, and "
                "rotating it would move it out of its frame (all zeros)"
            ), "channels, height, width"
        elif min(shape[1:]) < 3:
            why, axes = (
                "rotation needs images of at least 3 x 3 pixels, or every pixel can turn out "
                "of the frame"
            ), "channels, height, width"
        else:
            return
        raise ValueError(
            f"{self!r} cannot rotate samples of shape {shape} ({axes}): {why}. Remove it "
            "from augment (RandomShift and RandomFlip act along a signal)."
        )

    def _apply(self, X, u):
        angles = np.deg2rad((2 * u[:, 0] - 1) * self.degrees)
        return rotate_images(X, angles, self.order)


def rotate_images(X, angles, order=1):
    """Images ``X`` (N, C, H, W) with image ``n`` rotated by ``angles[n]`` radians.

    Output pixel ``(i, j)`` reads the input at the center plus the rotation
    of its offset from the center, with interpolation of ``order`` (zeros
    outside), as ``scipy.ndimage.rotate(reshape=False, order=order)``.
    """
    n, c, h, w = X.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    yy, xx = np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx
    src_y = cy + cos * yy + sin * xx  # (N, H, W)
    src_x = cx - sin * yy + cos * xx
    images = X.reshape(n * c, h, w)
    coords = np.empty((3, n, c, h, w))
    coords[0] = np.arange(n * c).reshape(n, c, 1, 1)  # whole numbers: no mixing of images
    coords[1] = src_y[:, None]
    coords[2] = src_x[:, None]
    out = map_coordinates(
        images, coords.reshape(3, n * c, h, w), output=X.dtype, order=order, mode="constant", cval=0.0
    )
    return out.reshape(X.shape)


def _non_negative_pair(value, name):
    pair = (value, value) if isinstance(value, Integral) and not isinstance(value, bool) else value
    if not (
        isinstance(pair, (tuple, list)) and len(pair) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 0 for v in pair)
    ):
        raise ValueError(
            f"{name} must be a non-negative int or a pair of them. Received {name}={value!r}."
        )
    return int(pair[0]), int(pair[1])


def check_transforms(augment):
    """The transforms of an ``augment`` parameter, as a list (empty for None)."""
    if augment is None:
        return []
    items = list(augment) if isinstance(augment, (list, tuple)) else [augment]
    for i, t in enumerate(items):
        if not isinstance(t, Transform):
            where = f"augment[{i}]" if isinstance(augment, (list, tuple)) else "augment"
            raise ValueError(
                "augment must be None, a transform of skcnn.augmentation or a list of "
                f"them (RandomShift, RandomFlip, RandomRotation). Received {where}={t!r}."
            )
    return items


def _uniforms(keys, seed, n_draws):
    """``(len(keys), n_draws)`` numbers in [0, 1) hashed from each key and ``seed``."""
    bits = _splitmix64(keys[:, None] ^ _column_hashes(n_draws, seed))
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def check_sample_shape(transforms, shape):
    """Raise the error of the first of ``transforms`` that cannot act on samples of ``shape``.

    ``shape`` is ``(C, H, W)`` or ``(C, L)``; the estimators call this at the
    start of ``fit``, before any training.
    """
    for transform in transforms:
        transform.check_sample_shape(shape)


def augment_batch(transforms, X, seed):
    """Apply ``transforms`` in order to the batch ``X``: ``(N, C, H, W)`` or ``(N, C, L)``.

    ``seed`` is a tuple of non-negative ints (the training call's seed, the
    epoch, the batch); each sample's draws hash it with the sample's values,
    taken before any transform. The samples' shape is checked once, before
    training (:func:`check_sample_shape`), not at every batch.
    """
    if not transforms:
        return X
    shape = X.shape
    keys = sample_keys(X.reshape(shape[0], -1))
    if X.ndim == 3:  # 1-D samples: one-row images
        X = X.reshape(shape[0], shape[1], 1, shape[2])
    for position, transform in enumerate(transforms):
        u = _uniforms(keys, mix_seed(*seed, position), transform.n_draws)
        X = transform._apply(X, u)
    return X.reshape(shape)


def apply_transforms(X, transforms, seed=0, *, sample_ndim=2):
    """Augmented copies of images or signals, as a training batch would get them.

    Parameters
    ----------
    X : array-like of shape (n_samples, C, H, W) or (n_samples, H, W); \
            with ``sample_ndim=1``, (n_samples, C, L) or (n_samples, L)
        Images (one channel when 3-D), or 1-D samples (one channel when 2-D).
    transforms : transform or list of transforms
        From this module, applied in order.
    seed : int, default=0
        Non-negative; another seed gives other draws.
    sample_ndim : {2, 1}, default=2
        2: ``X`` holds images, as the estimators read a 3-D or 4-D ``X``
        for 2-D layers; 1: 1-D samples, as a network of 1-D layers reads
        them. (A 1-row image ``(C, 1, L)`` and a 1-D sample ``(C, L)`` get
        the same transform.)

    Returns
    -------
    X_augmented : ndarray of the shape of ``X``
        A new array, of the dtype of ``X`` when it is a float array.
    """
    X = np.asarray(X)
    if sample_ndim not in (1, 2):
        raise ValueError(f"sample_ndim must be 1 or 2. Received sample_ndim={sample_ndim!r}.")
    if X.ndim not in (sample_ndim + 1, sample_ndim + 2):
        expected = (
            "images of shape (n_samples, C, H, W) or (n_samples, H, W)" if sample_ndim == 2
            else "1-D samples of shape (n_samples, C, L) or (n_samples, L)"
        )
        raise ValueError(
            f"X must hold {expected} (sample_ndim={sample_ndim}). Received an array "
            f"of shape {X.shape}."
        )
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    batch = X if X.ndim == sample_ndim + 2 else X[:, None]  # one channel
    transforms = check_transforms(transforms)
    check_sample_shape(transforms, batch.shape[1:])
    out = augment_batch(transforms, batch, (int(seed),))
    out = np.array(out, copy=out is batch)
    return out.reshape(X.shape)
