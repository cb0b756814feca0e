"""Hash-keyed randomness: draws named by the data, not by a stream's position.

Dropout masks, augmentation draws and the order of equal samples are hashed
from a key per sample (a hash of its values), a seed and a counter
(splitmix64 steps). Equal samples get equal draws and distinct samples
independent ones, whatever the order of a batch or how it is split across
threads and processes: that is what makes integer sample weights equal to
repeated samples and models bit-identical for any ``n_jobs``.
"""

import numpy as np

_MASK64 = 2**64 - 1


def mix_seed(*values):
    """Hash non-negative ints into one 64-bit int (splitmix64 steps, exact)."""
    h = 0
    for value in values:
        h = (h ^ int(value)) + 0x9E3779B97F4A7C15 & _MASK64
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK64
        h ^= h >> 31
    return h


def _splitmix64(z):
    """splitmix64's finalizer on a uint64 array, in place (wrapping arithmetic)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _column_hashes(n_columns, seed):
    return _splitmix64(np.arange(n_columns, dtype=np.uint64) + np.uint64(seed))


def sample_keys(X):
    """A 64-bit hash of every row of the 2-D ``X``: equal rows, equal keys.

    The rows are hashed as float32, so that float32 and float64 copies of
    the same data get the same keys.
    """
    with np.errstate(over="ignore"):  # values beyond float32's range hash as inf
        bits = np.ascontiguousarray(X, dtype=np.float32).view(np.uint32)
    rows = bits.astype(np.uint64)
    rows *= _column_hashes(bits.shape[1], mix_seed(0x5EED, bits.shape[1])) | np.uint64(1)
    return _splitmix64(rows.sum(axis=1, dtype=np.uint64))


def dropout_keep(keys, n_units, rate, seed):
    """The units dropout keeps: a ``(len(keys), n_units)`` boolean array.

    Unit ``j`` of sample ``i`` is kept when a 64-bit hash of (``keys[i]``,
    ``seed``, ``j``) is at least ``rate * 2**64``: independent uniform draws
    for distinct keys, and identical masks for identical keys.
    """
    h = keys[:, None] ^ _column_hashes(n_units, seed)
    threshold = min(int(rate * 2.0**64), _MASK64)
    return _splitmix64(h) >= np.uint64(threshold)
