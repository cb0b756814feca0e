"""Max- and average-pooling kernels on channels-last memory, forward and backward.

The only Python loops run over the pool window's offsets.
"""

import numpy as np

from .geometry import output_length, strided_offsets
from .workspace import workspace_array


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
        x[:, strided_offsets(ho, sh, i), strided_offsets(wo, sw, j), :]
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
    out = workspace_array(ws, "pooled", views[0].shape, x.dtype)
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
    dx = workspace_array(ws, "dx", x.shape, dout.dtype)
    if blocked:
        views, dviews, overlapping = block_views(x), block_views(dx), False
    else:
        views = pool_views(x, pool_size, stride)
        dviews, overlapping = pool_grad_views(dx, pool_size, stride)
    winner = workspace_array(ws, "winner", out.shape, bool)
    free = workspace_array(ws, "free", out.shape, bool)  # outputs whose window has no winner yet
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


def avgpool2d_forward(x, pool_size, stride, ws=None):
    """Average-pool an NHWC array ('floor' mode, no padding): the window
    offsets' strided views summed in row-major order, then divided by the
    window size, as PyTorch does."""
    views = pool_views(x, pool_size, stride)
    out = workspace_array(ws, "pooled", views[0].shape, x.dtype)
    np.copyto(out, views[0])
    for view in views[1:]:
        out += view
    out /= len(views)
    return out


def avgpool2d_backward(dout, input_shape, pool_size, stride, ws=None):
    """Spread each output gradient evenly over its window (NHWC)."""
    dx = workspace_array(ws, "dx", input_shape, dout.dtype)
    dviews, overlapping = pool_grad_views(dx, pool_size, stride)
    share = workspace_array(ws, "share", dout.shape, dout.dtype)
    np.divide(dout, len(dviews), out=share)
    for dview in dviews:
        if overlapping:
            dview += share
        else:
            np.copyto(dview, share)
    return dx
