"""How an epoch's samples become training batches.

A batch is put in a canonical form before it is trained on: its samples
sorted by a hash of their values and label, identical samples merged into
one whose weight is the sum of theirs, samples of zero weight dropped. The
gradient of a batch is then the same sum, over the same rows in the same
order, whether a sample came twice or once with weight 2: integer sample
weights are exactly equivalent to repeated samples, in float32 as in
float64 (the rounding of a sum depends on the order and count of its terms).
Layers that take statistics of the batch (BatchNorm) weigh its samples by
these weights as well: for them too, a merged sample is its copies.
"""

import numpy as np
from scipy.sparse import issparse

from .._random import mix_seed, sample_keys

# Rows densified at a time when a sparse X is hashed.
_DENSE_CHUNK = 1024


def dense_rows(X, rows):
    """``X[rows]`` as a dense array, for a dense or a sparse (CSR) ``X``:
    a sparse X is only ever densified a batch at a time."""
    part = X[rows]
    return part.toarray() if issparse(part) else part


def batch_count(n_samples, batch_size):
    """Batches per epoch: equal batches of at most ``batch_size`` samples, so
    that no epoch ends on a tiny remainder batch whose noisy gradient (and
    oversized share of the L2 penalty) would end it."""
    return -(-n_samples // min(batch_size, n_samples))


def sample_label_keys(X, y):
    """A 64-bit key per sample from its values (``X`` 2-D, dense or CSR) and
    its target row. Rows are hashed ``_DENSE_CHUNK`` at a time (each row's
    key depends on that row only), so neither a sparse X nor the hash's own
    copies of a dense one are ever made whole."""
    target = np.asarray(y).reshape(len(y), -1).astype(np.float64, copy=False)
    n = X.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    for start in range(0, n, _DENSE_CHUNK):
        rows = slice(start, start + _DENSE_CHUNK)
        keys[rows] = sample_keys(dense_rows(X, rows))
    return keys ^ (sample_keys(target) * np.uint64(mix_seed(0x7A26)))


def canonical_batch(indices, keys, X, y, weights):
    """The batch ``indices`` sorted by key, duplicates merged, zero weights dropped.

    Parameters
    ----------
    indices : ndarray of int
        The samples of the batch (rows of ``X``).
    keys : ndarray of uint64
        ``sample_label_keys`` of every sample.
    X, y : ndarray
        The training data (2-D ``X``, dense or CSR); used to confirm that samples of equal
        keys are equal before they are merged.
    weights : ndarray or None
        Sample weights of every sample (None: all ones).

    Returns
    -------
    indices : ndarray of int
        One sample of each distinct (value, label) of the batch, by key.
    weights : ndarray or None
        Their weights: summed over the merged samples (ones summed where
        ``weights`` is None); None when nothing was merged and every weight
        is one.
    """
    indices = indices[np.argsort(keys[indices], kind="stable")]
    k = keys[indices]
    w = None if weights is None else weights[indices]
    same = k[1:] == k[:-1]
    if same.any():
        pos = np.flatnonzero(same)
        first, second = indices[pos], indices[pos + 1]
        equal = (dense_rows(X, first) == dense_rows(X, second)).reshape(len(pos), -1).all(axis=1)
        equal &= (y[first] == y[second]).reshape(len(pos), -1).all(axis=1)
        same[pos[~equal]] = False  # a 64-bit collision: distinct samples stay apart
        if same.any():
            starts = np.flatnonzero(np.r_[True, ~same])
            ones = np.ones(len(indices), dtype=X.dtype)
            w = np.add.reduceat(ones if w is None else w, starts)
            indices = indices[starts]
    if w is not None:
        nonzero = w > 0
        if not nonzero.all():
            indices, w = indices[nonzero], w[nonzero]
    return indices, w
