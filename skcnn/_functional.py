"""Pure array kernels: convolution and max-pooling, forward and backward.

Every kernel works on channels-last memory ``(N, H, W, C)``. The layers in
:mod:`skcnn.layers` expose PyTorch's NCHW *shapes* on top of that memory (the
NCHW array they pass around is a transposed view of an NHWC buffer, like
PyTorch's ``channels_last`` memory format). Channels-last makes the im2col
window copy a run of contiguous ``kw * C`` values and turns the convolution
into one GEMM whose output is already the next layer's input layout.

No function here loops over samples, pixels or channels; the only Python
loops run over the ``kh * kw`` kernel (or pool window) offsets.
"""

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import as_strided


def as_pair(value, name):
    """Normalize an int or a pair of ints to a tuple ``(a, b)``.

    Raises a ``ValueError`` naming ``name`` and the value received when the
    value is not a positive integer or a pair of positive integers.
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"{name} must be a positive int or a pair of positive ints. "
            f"Received {name}={value!r}."
        )
    if min(pair) < 1:
        raise ValueError(
            f"{name} must be a positive int or a pair of positive ints. "
            f"Received {name}={value!r}."
        )
    return pair


def resolve_padding(padding, kernel_size):
    """Return ``((top, bottom), (left, right))`` zero padding.

    ``padding`` is ``"valid"`` (none), ``"same"`` (PyTorch's rule: total
    ``k - 1``, ``(k - 1) // 2`` before and the rest after, so ``k // 2`` on
    each side for odd kernels), a non-negative int, or a pair of them.
    """
    kh, kw = kernel_size
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2), (
                (kw - 1) // 2,
                kw - 1 - (kw - 1) // 2,
            )
    elif isinstance(padding, Integral) and not isinstance(padding, bool):
        if padding >= 0:
            return (int(padding), int(padding)), (int(padding), int(padding))
    elif (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(
            isinstance(p, Integral) and not isinstance(p, bool) and p >= 0
            for p in padding
        )
    ):
        ph, pw = int(padding[0]), int(padding[1])
        return (ph, ph), (pw, pw)
    raise ValueError(
        "padding must be 'same', 'valid', a non-negative int or a pair of "
        f"non-negative ints. Received padding={padding!r}."
    )


def output_length(size, kernel, stride, pad_before=0, pad_after=0):
    """Length of a 'floor mode' sliding window output along one axis."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def _strided_offsets(n_out, stride, offset):
    """Slice picking ``n_out`` positions ``offset, offset + stride, ...``."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)


class Workspace:
    """Arrays reused from one training batch to the next.

    A training step allocates the same large arrays (padded input, im2col
    matrix, gradients) batch after batch. Fresh allocations of that size come
    from the kernel as new pages and page-fault on first touch, which costs
    more than the arithmetic on them (see benchmarks/RESULTS.md, "Design
    measurements"). ``ws(name, shape, dtype)``
    returns the same array for the same key (contents arbitrary). Kernels
    take ``ws=None`` to allocate normally: inference never shares arrays, so
    it stays safe to run from several threads.
    """

    def __init__(self):
        self._arrays = {}

    def __call__(self, name, shape, dtype, init=None):
        key = (name, tuple(shape), np.dtype(dtype).str)
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = np.empty(shape, dtype=dtype)
            if init is not None:
                init(array)
        return array

    def prefixed(self, prefix):
        """A workspace whose names live apart from this one's (same storage)."""
        return lambda name, shape, dtype, init=None: self(prefix + name, shape, dtype, init)


def _empty(ws, name, shape, dtype, init=None):
    """A new array, or ``ws``'s array for ``name``. ``init(array)`` runs on
    new arrays only: for parts that every user leaves as they are (zero
    borders, a column of ones), which a reused array then still holds."""
    if ws is not None:
        return ws(name, shape, dtype, init)
    array = np.empty(shape, dtype=dtype)
    if init is not None:
        init(array)
    return array


def _fill(value):
    return lambda array: array.fill(value)


def pad_nhwc(x, pads, ws=None, blocked=False):
    """Zero-pad the two spatial axes of an NHWC array (a new array).

    With ``blocked``, ``x`` is pool-blocked memory ``(N, bh, bw, H/bh, W/bw, C)``
    (see :func:`unblock`), put in plain NHWC order by the same copy.
    """
    (top, bottom), (left, right) = pads
    x, (n, h, w, c) = _nhwc_order(x) if blocked else (x, x.shape)
    # Only the interior is ever written: a reused array keeps its zero border.
    shape = (n, h + top + bottom, w + left + right, c)
    out = _empty(ws, "padded", shape, x.dtype, init=_fill(0))
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
        cols_t = _empty(
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
    cols = _empty(
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
    out = _empty(ws, "unblocked", shape, blocked.dtype)
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
    out = _empty(ws, "out", (n * ho * wo, weight_matrix.shape[1]), x.dtype)
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
    dxp = _empty(ws, "dx_accumulated", (n, h + top + bottom, w + left + right, c), dout.dtype)
    dxp.fill(0)
    block = _empty(ws, "dx_block", (n * ho * wo, c), dout.dtype)
    dout2 = dout.reshape(n * ho * wo, o)
    for i in range(kh):
        rows = _strided_offsets(ho, sh, i)
        for j in range(kw):
            np.matmul(dout2, weight_offsets[i, j], out=block)
            dxp[:, rows, _strided_offsets(wo, sw, j), :] += block.reshape(n, ho, wo, c)
    return dxp[:, top : top + h, left : left + w, :]


def pool_views(x, pool_size, stride):
    """The ``ph * pw`` strided views of an NHWC array, one per window offset.

    View ``k`` (row-major offset ``(i, j)``) holds, for every output pixel,
    the input value at offset ``(i, j)`` of its window.
    """
    _, h, w, _ = x.shape
    ph, pw = pool_size
    sh, sw = stride
    ho, wo = output_length(h, ph, sh), output_length(w, pw, sw)
    return [
        x[:, _strided_offsets(ho, sh, i), _strided_offsets(wo, sw, j), :]
        for i in range(ph)
        for j in range(pw)
    ]


def pool_grad_views(dx, pool_size, stride):
    """``pool_views`` of an input gradient ``dx`` about to be written, and
    whether the windows overlap (then the views must be added to, not copied
    into). Zeroes ``dx`` unless the windows tile it exactly.
    """
    h, w = dx.shape[1:3]
    ph, pw = pool_size
    sh, sw = stride
    if not ((sh, sw) == (ph, pw) and h % ph == 0 and w % pw == 0):
        dx.fill(0)
    return pool_views(dx, pool_size, stride), sh < ph or sw < pw


def block_views(x):
    """The window-offset views of pool-blocked memory ``(N, bh, bw, Ho, Wo, C)``.

    The same views as :func:`pool_views` of the unblocked array, but each is
    one contiguous block per sample instead of runs of C values, so pooling
    streams through memory instead of striding over it.
    """
    _, bh, bw = x.shape[:3]
    return [x[:, i, j] for i in range(bh) for j in range(bw)]


def maxpool2d_forward(x, pool_size, stride, ws=None, blocked=False):
    """Max-pool an NHWC array ('floor' mode, no padding): one ``np.maximum``
    per window offset over strided views, no argmax bookkeeping.

    With ``blocked``, ``x`` is pool-blocked memory ``(N, ph, pw, Ho, Wo, C)``
    whose blocks are the windows' offsets (``pool_size`` and ``stride`` are
    then implied).
    """
    views = block_views(x) if blocked else pool_views(x, pool_size, stride)
    out = _empty(ws, "pooled", views[0].shape, x.dtype)
    np.copyto(out, views[0])
    for view in views[1:]:
        np.maximum(out, view, out=out)
    return out


def maxpool2d_backward(dout, x, out, pool_size, stride, ws=None, blocked=False):
    """Route each output gradient to the one input position that won its window.

    ``x`` and ``out`` are the forward pass's NHWC input and output (``x``
    pool-blocked with ``blocked``; the gradient returned is then blocked
    too). The winner is found here rather than stored by the forward pass:
    walking the window offsets in row-major order, an offset wins where it
    equals the maximum and no earlier offset has won. Ties thus go to the
    first maximum, as in PyTorch.
    """
    dx = _empty(ws, "dx", x.shape, dout.dtype)
    if blocked:
        views, dviews, overlapping = block_views(x), block_views(dx), False
    else:
        views = pool_views(x, pool_size, stride)
        dviews, overlapping = pool_grad_views(dx, pool_size, stride)
    winner = _empty(ws, "winner", out.shape, bool)
    free = _empty(ws, "free", out.shape, bool)  # outputs whose window has no winner yet
    last = len(views) - 1
    for k, (view, dview) in enumerate(zip(views, dviews)):
        if k == last and k > 0:
            winner = free  # the maximum is somewhere: the last offset wins the rest
        else:
            np.equal(view, out, out=winner)
            if k == 0:
                np.logical_not(winner, out=free)
            else:
                winner &= free
                np.greater(free, winner, out=free)  # free and not winner
        if overlapping:
            dview += dout * winner
        else:
            np.multiply(dout, winner, out=dview)
    return dx


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


def log_softmax(logits):
    """Row-wise log-softmax by log-sum-exp with the row maximum subtracted."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(logits):
    """Row-wise softmax, stable for any finite logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


# ---------------------------------------------------------------------------
# Batch normalization, on ``(M, C)`` rows: one row per sample (BatchNorm1D) or
# per pixel of channels-last memory (BatchNorm2D), one column per channel.
# ---------------------------------------------------------------------------

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
    centered = _empty(ws, "centered", rows.shape, rows.dtype)
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
    out = _empty(ws, "normalized", xhat.shape, xhat.dtype)
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
    dx = _empty(ws, "dx", dout.shape, dout.dtype)
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


# ---------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------


def avgpool2d_forward(x, pool_size, stride, ws=None):
    """Average-pool an NHWC array ('floor' mode, no padding): the window
    offsets' strided views summed in row-major order, then divided by the
    window size, as PyTorch does."""
    views = pool_views(x, pool_size, stride)
    out = _empty(ws, "pooled", views[0].shape, x.dtype)
    np.copyto(out, views[0])
    for view in views[1:]:
        out += view
    out /= len(views)
    return out


def avgpool2d_backward(dout, input_shape, pool_size, stride, ws=None):
    """Spread each output gradient evenly over its window (NHWC)."""
    dx = _empty(ws, "dx", input_shape, dout.dtype)
    dviews, overlapping = pool_grad_views(dx, pool_size, stride)
    share = _empty(ws, "share", dout.shape, dout.dtype)
    np.divide(dout, len(dviews), out=share)
    for dview in dviews:
        if overlapping:
            dview += share
        else:
            np.copyto(dview, share)
    return dx


def flush_subnormals(arrays):
    """Set the subnormal values of float ``arrays`` to zero, in place.

    Weights and optimizer moments that decay toward zero (units a ReLU
    never opens, pulled down by the L2 penalty) pass through the subnormal
    floats, on which a CPU computes many times slower than on normal ones:
    without this, a 30-epoch fit of a four-convolution MNIST network slowed
    from 4 to 20 s per epoch as a quarter of its weights went subnormal.
    """
    for a in arrays:
        tiny = np.finfo(a.dtype).tiny
        np.copyto(a, 0, where=np.abs(a) < tiny)
