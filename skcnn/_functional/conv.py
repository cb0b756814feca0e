"""Convolution kernels on channels-last memory: im2col, forward and backward.

Every kernel works on channels-last memory ``(N, H, W, C)``. The layers in
:mod:`skcnn.layers` expose PyTorch's NCHW *shapes* on top of that memory (the
NCHW array they pass around is a transposed view of an NHWC buffer, like
PyTorch's ``channels_last`` memory format). Channels-last makes the im2col
window copy a run of contiguous ``kw * C`` values and turns the convolution
into one GEMM whose output is already the next layer's input layout.

No function here loops over samples, pixels or channels; the only Python
loops run over the ``kh * kw`` kernel offsets.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import output_length, strided_offsets
from .workspace import Workspace, filled_with, workspace_array


def pad_nhwc(x, pads, ws=None, blocked=False):
    """Zero-pad the two spatial axes of an NHWC array (a new array).

    With ``blocked``, ``x`` is pool-blocked memory ``(N, bh, bw, H/bh, W/bw, C)``
    (see :func:`unblock`), put in plain NHWC order by the same copy.
    """
    (top, bottom), (left, right) = pads
    x, (n, h, w, c) = _nhwc_order(x) if blocked else (x, x.shape)
    # Only the interior is ever written: a reused array keeps its zero border.
    shape = (n, h + top + bottom, w + left + right, c)
    out = workspace_array(ws, "padded", shape, x.dtype, init=filled_with(0))
    np.copyto(out[:, top : top + h, left : left + w, :].reshape(x.shape), x)
    return out


def _nhwc_order(blocked):
    """Pool-blocked memory ``(N, bh, bw, H/bh, W/bw, C)`` as the view
    ``(N, H/bh, bh, W/bw, bw, C)``, which is NHWC order once reshaped, and
    the NHWC shape ``(N, H, W, C)``."""
    n, bh, bw, hb, wb, c = blocked.shape
    return blocked.transpose(0, 3, 1, 4, 2, 5), (n, hb * bh, wb * bw, c)


def im2col_nhwc(xp, kernel_size, stride, ws=None, blocks=(1, 1), ones_column=False):
    """Copy the sliding windows of a padded NHWC array into a matrix.

    Returns ``cols`` of shape ``(N * Ho * Wo, kh * kw * C)`` whose columns are
    ordered ``(kh, kw, C)``, and the output spatial size ``(Ho, Wo)``. With
    ``ones_column``, ``cols`` has one more column, of ones, last: the input
    of a bias folded into the GEMM.

    The rows are ordered ``(N, Ho, Wo)``; with ``blocks=(bh, bw)`` (which
    must divide ``(Ho, Wo)``) they are ordered ``(N, bh, bw, Ho/bh, Wo/bw)``
    instead: output pixel ``(a * bh + i, b * bw + j)`` lands in block
    ``(i, j)``. A max-pool whose ``bh x bw`` windows tile the output then
    reads each window offset as one contiguous block per sample (see
    :func:`unblock`).
    """
    n, hp, wp, c = xp.shape
    kh, kw = kernel_size
    sh, sw = stride
    bh, bw = blocks
    ho, wo = output_length(hp, kh, sh), output_length(wp, kw, sw)
    hb, wb = ho // bh, wo // bw
    k = kh * kw * c
    if c == 1:
        # One channel (a first layer): a window row would be kh*kw scattered
        # scalars, so fill the transposed matrix instead, one shifted plane
        # per kernel offset (and block), and hand back its (M, K) view. Both
        # GEMMs take it as it is (BLAS transposes for free); 2x faster here.
        cols_t = workspace_array(
            ws, "cols_t", (k + ones_column, n * ho * wo), xp.dtype,
            init=(lambda a: a[k:].fill(1)) if ones_column else None,
        )
        windows = _window_view(xp, kernel_size, stride, blocks)
        for i in range(kh):
            for j in range(kw):
                plane = cols_t[i * kw + j].reshape(n, bh, bw, hb, wb)
                np.copyto(plane, windows[:, :, :, :, :, i, j, 0])
        return cols_t.T, (ho, wo)
    windows = _window_view(np.ascontiguousarray(xp), kernel_size, stride, blocks)
    cols = workspace_array(
        ws, "cols", (n * ho * wo, k + ones_column), xp.dtype,
        init=(lambda a: a[:, k:].fill(1)) if ones_column else None,
    )
    target = cols[:, :k].reshape(windows.shape)  # a view: rows split, columns contiguous
    np.copyto(target, windows)  # never writes the column of ones
    return cols, (ho, wo)


def _window_view(xp, kernel_size, stride, blocks):
    """The windows of :func:`im2col_nhwc` as a read-only strided view of ``xp``,
    of shape ``(N, bh, bw, Ho/bh, Wo/bw, kh, kw, C)``."""
    n, hp, wp, c = xp.shape
    kh, kw = kernel_size
    sh, sw = stride
    bh, bw = blocks
    hb = output_length(hp, kh, sh) // bh
    wb = output_length(wp, kw, sw) // bw
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(
        xp,
        shape=(n, bh, bw, hb, wb, kh, kw, c),
        strides=(s_n, s_h * sh, s_w * sw, s_h * sh * bh, s_w * sw * bw, s_h, s_w, s_c),
        writeable=False,
    )


def unblock(blocked, ws=None):
    """Contiguous NHWC ``(N, Ho, Wo, C)`` copy of pool-blocked memory ``(N, bh, bw, Ho/bh, Wo/bw, C)``."""
    view, shape = _nhwc_order(blocked)
    out = workspace_array(ws, "unblocked", shape, blocked.dtype)
    np.copyto(out.reshape(view.shape), view)
    return out


# Bytes of im2col matrix built at a time (see ``conv2d_forward``).
IM2COL_CHUNK_BYTES = 1 << 20


def _im2col_chunks(xp, kernel_size, stride, ws, blocks, ones_column):
    """``(rows, cols)`` for consecutive groups of samples: the im2col matrix
    of each group (:func:`im2col_nhwc`) and the slice of the whole matrix's
    rows it holds. A group's matrix holds at most ``IM2COL_CHUNK_BYTES``
    (one sample at least), and reuses the same array from ``ws``."""
    n, hp, wp, c = xp.shape
    kh, kw = kernel_size
    per_sample = output_length(hp, kh, stride[0]) * output_length(wp, kw, stride[1])
    sample_bytes = per_sample * (kh * kw * c + ones_column) * xp.itemsize
    group = max(1, IM2COL_CHUNK_BYTES // sample_bytes)
    for start in range(0, n, group):
        stop = min(n, start + group)
        cols, _ = im2col_nhwc(xp[start:stop], kernel_size, stride, ws, blocks, ones_column)
        yield slice(start * per_sample, stop * per_sample), cols


def conv2d_forward(x, weight_matrix, bias, kernel_size, stride, pads, ws=None, blocks=(1, 1)):
    """Cross-correlation of an NHWC batch with a ``(kh*kw*C, O)`` weight matrix.

    Returns the NHWC output ``(N, Ho, Wo, O)`` and what
    :func:`conv2d_backward_weight` needs: ``(xp, cols)``, the padded input
    and, when it was built in one piece, the im2col matrix (else None).

    The im2col matrix is built and multiplied a group of samples at a time
    (:func:`_im2col_chunks`), so that its rows are still in the core's cache
    when the GEMM reads them, and never exists whole: the weight gradient
    builds it again, group by group: copying is cheaper than reading the
    matrix back from memory, and far less is held per batch.

    With a bias, the bias is folded into the GEMM as one more row of
    weights, and the im2col matrix ends with the column of ones that
    multiplies it: one pass over the output instead of two. With ``blocks=(bh, bw)`` the output is in
    pool-blocked memory ``(N, bh, bw, Ho/bh, Wo/bw, O)`` (see
    :func:`im2col_nhwc`).
    """
    n = x.shape[0]
    if any(p for pair in pads for p in pair):
        x = pad_nhwc(x, pads, ws)
    if bias is not None:
        weight_matrix = np.concatenate([weight_matrix, bias[None, :]])
    kh, kw = kernel_size
    ho, wo = output_length(x.shape[1], kh, stride[0]), output_length(x.shape[2], kw, stride[1])
    out = workspace_array(ws, "out", (n * ho * wo, weight_matrix.shape[1]), x.dtype)
    scratch = Workspace() if ws is None else ws  # one array for all the groups
    groups = []
    for rows, cols in _im2col_chunks(x, kernel_size, stride, scratch, blocks, bias is not None):
        np.matmul(cols, weight_matrix, out=out[rows])
        groups.append(cols)
    kept = groups[0] if len(groups) == 1 else None
    bh, bw = blocks
    o = weight_matrix.shape[1]
    if blocks != (1, 1):
        return out.reshape(n, bh, bw, ho // bh, wo // bw, o), (x, kept)
    return out.reshape(n, ho, wo, o), (x, kept)


def conv2d_backward_weight(saved, dout2, kernel_size, stride, ones_column, ws=None, blocks=(1, 1)):
    """Weight (and folded bias) gradient ``cols.T @ dout2`` of a convolution.

    ``saved`` is what :func:`conv2d_forward` returned beside its output and
    ``dout2`` the output gradient as ``(rows, O)``, rows in the forward's
    order. Returns the ``(kh*kw*C [+ 1], O)`` gradient of the weight matrix
    (its last row the bias gradient with ``ones_column``). The im2col matrix
    is rebuilt group by group unless the forward pass kept it.
    """
    xp, cols = saved
    if cols is not None:
        return cols.T @ dout2
    kh, kw = kernel_size
    dw = np.zeros((kh * kw * xp.shape[3] + ones_column, dout2.shape[1]), dtype=dout2.dtype)
    for rows, cols in _im2col_chunks(xp, kernel_size, stride, ws, blocks, ones_column):
        dw += cols.T @ dout2[rows]
    return dw


def conv2d_backward_input(dout, weight_offsets, input_hw, stride, pads, ws=None, blocked=False):
    """Gradient of the convolution with respect to its NHWC input.

    ``dout`` is the NHWC output gradient ``(N, Ho, Wo, O)`` (with
    ``blocked``, in pool-blocked memory: see :func:`unblock`) and
    ``weight_offsets`` the weights as ``(kh, kw, O, C)``.

    With stride 1 (and padding below the kernel size) the gradient is itself
    a convolution: ``dout``, zero-padded by ``k - 1 - pad``, correlated with
    the kernel flipped in both axes and its channel axes swapped, run by
    :func:`conv2d_forward` (one GEMM per group of samples, K = kh*kw*O).
    Otherwise, for each kernel offset one GEMM gives a contiguous
    ``(N*Ho*Wo, C)`` block that is added to a shifted, strided slice of the
    padded input gradient: the col2im of the textbooks without
    ``np.add.at``, whose scattered adds are several times slower. The first
    way needs one GEMM per group instead of kh*kw smaller ones.
    """
    kh, kw, o, c = weight_offsets.shape
    (top, bottom), (left, right) = pads
    full = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
    if tuple(stride) == (1, 1) and min(min(pair) for pair in full) >= 0:
        flipped = weight_offsets[::-1, ::-1].reshape(kh * kw * o, c)
        scratch = None if ws is None else ws.prefixed("dx_")
        padded = pad_nhwc(dout, full, scratch, blocked)
        dx, _ = conv2d_forward(padded, flipped, None, (kh, kw), (1, 1), ((0, 0), (0, 0)), scratch)
        return dx
    if blocked:
        dout = unblock(dout, ws)
    n, ho, wo, _ = dout.shape
    h, w = input_hw
    sh, sw = stride
    dxp = workspace_array(ws, "dx_accumulated", (n, h + top + bottom, w + left + right, c), dout.dtype)
    dxp.fill(0)
    block = workspace_array(ws, "dx_block", (n * ho * wo, c), dout.dtype)
    dout2 = dout.reshape(n * ho * wo, o)
    for i in range(kh):
        rows = strided_offsets(ho, sh, i)
        for j in range(kw):
            np.matmul(dout2, weight_offsets[i, j], out=block)
            dxp[:, rows, strided_offsets(wo, sw, j), :] += block.reshape(n, ho, wo, c)
    return dxp[:, top : top + h, left : left + w, :]
