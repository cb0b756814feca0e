"""Batch-normalization kernels on ``(M, C)`` rows.

One row per sample (BatchNorm1D) or per pixel of channels-last memory
(BatchNorm2D), one column per channel.
"""

import numpy as np

from .workspace import workspace_array

# Rows summed in the array's dtype before the blocks' sums add up in float64.
SUM_BLOCK = 256


def column_sums(a, b=None, weights=None):
    """Float64 sums of the columns of the ``(M, C)`` array ``a`` (or of ``a * b``),
    each row times its weight in ``weights`` (``(M,)``, in ``a``'s dtype) if given.

    Blocks of ``SUM_BLOCK`` rows are summed in ``a``'s dtype (a GEMV with a
    ones vector, or the weights, several times faster than ``sum(axis=0)``
    on few columns; einsum sums the products without writing them), and the
    blocks' sums in float64: in float32, 100x closer to the exact sum than
    one GEMV over all rows, at the same speed.
    """
    m, c = a.shape
    head = m - m % SUM_BLOCK
    total = np.zeros(c)
    for rows in (slice(0, head), slice(head, m)):
        if rows.stop == rows.start:
            continue
        # (blocks, rows per block, C): the head in blocks, the rest in one.
        block_shape = (-1, min(SUM_BLOCK, rows.stop - rows.start), c)
        block = a[rows].reshape(block_shape)
        if weights is not None:
            w = weights[rows].reshape(block_shape[:2])
            if b is None:
                sums = np.einsum("kb,kbj->kj", w, block)
            else:
                sums = np.einsum("kb,kbj,kbj->kj", w, block, b[rows].reshape(block_shape))
        elif b is None:
            sums = np.ones(block.shape[1], dtype=a.dtype) @ block
        else:
            sums = np.einsum("kbj,kbj->kj", block, b[rows].reshape(block_shape))
        total += sums.sum(axis=0, dtype=np.float64)
    return total


def batchnorm_moments(rows, ws=None, weights=None):
    """``(count, mean, m2)`` of every column of the ``(M, C)`` array
    ``rows``, and ``rows - mean`` (in ``rows``' dtype).

    ``m2`` is the sum of squared deviations from the column's mean, by two
    passes (stable where ``sum(x**2) - M * mean**2`` would cancel); ``mean``
    and ``m2`` are float64. With ``weights`` (one per row, as frequencies)
    every sum counts a row that many times: ``count`` is their float64 sum,
    ``mean = sum(w * x) / count`` and ``m2 = sum(w * (x - mean)**2)``.
    Partial moments of several groups of rows combine with
    :func:`combine_moments`.
    """
    count = rows.shape[0] if weights is None else float(weights.sum(dtype=np.float64))
    mean = column_sums(rows, weights=weights) / count
    centered = workspace_array(ws, "centered", rows.shape, rows.dtype)
    np.subtract(rows, mean.astype(rows.dtype), out=centered)
    return (count, mean, column_sums(centered, centered, weights)), centered


def combine_moments(parts):
    """Moments ``(count, mean, m2)`` of the union of groups, from theirs.

    Chan et al.'s pairwise update, in float64 and in the order given, so the
    result depends on the groups and their order only.
    """
    if len(parts) == 1:
        return parts[0]
    count = sum(part[0] for part in parts)
    mean = sum(part[0] * part[1] for part in parts) / count
    m2 = sum(part[2] + part[0] * (part[1] - mean) ** 2 for part in parts)
    return count, mean, m2


def batchnorm_normalize(centered, shift, invstd, weight, bias, ws=None):
    """``(out, xhat)``: ``xhat = (centered - shift) * invstd``, written over
    ``centered``, and ``out = xhat * weight + bias``, column by column.

    ``centered`` is a group of rows minus the group's mean (from
    :func:`batchnorm_moments`) and ``shift`` the batch's mean minus the
    group's: zero, and skipped, when the group is the whole batch.
    """
    if shift.any():
        centered -= shift
    xhat = centered
    xhat *= invstd
    out = workspace_array(ws, "normalized", xhat.shape, xhat.dtype)
    np.multiply(xhat, weight, out=out)
    out += bias
    return out, xhat


def batchnorm_grad_sums(dout, xhat):
    """``(sum(dout), sum(dout * xhat))`` per column, in float64: the
    gradients of the shift and of the scale, and what the input gradient
    needs."""
    return column_sums(dout), column_sums(dout, xhat)


def batchnorm_backward_input(dout, xhat, scale, mean_dout, mean_dout_xhat, ws=None, weights=None):
    """Input gradient of batch normalization in training.

    ``scale`` is ``weight * invstd``; ``mean_dout`` and ``mean_dout_xhat``
    the sums over all rows of the whole batch of ``dout`` and ``dout * xhat``
    divided by its count: ``dx = scale * (dout - mean_dout - xhat * mean_dout_xhat)``.
    With frequency ``weights`` (see :func:`batchnorm_moments`; ``dout``
    already carries them, from the weighted loss) a row of weight ``w``
    stands for ``w`` equal rows, and its gradient is theirs summed:
    ``dx = scale * (dout - w * (mean_dout + xhat * mean_dout_xhat))``.
    """
    dx = workspace_array(ws, "dx", dout.shape, dout.dtype)
    np.multiply(xhat, -mean_dout_xhat, out=dx)
    if weights is None:
        dx += dout
        dx -= mean_dout
    else:
        dx -= mean_dout
        dx *= weights[:, None]
        dx += dout
    dx *= scale
    return dx
