"""Window geometry: argument normalization, padding and output sizes.

Convolutions and pools have one spatial axis (signals) or two (images); the
helpers here take the number of axes, ``n``, and return one value per axis.
"""

from numbers import Integral


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def as_tuple(value, name, n):
    """Normalize an int or a tuple of ``n`` ints to a tuple of ``n`` positive ints.

    Raises a ``ValueError`` naming ``name`` and the value received when the
    value is not a positive integer or ``n`` positive integers.
    """
    if _is_int(value):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(map(_is_int, value)):
        values = tuple(int(v) for v in value)
    else:
        values = None
    if values is None or min(values) < 1:
        what = "a positive int" if n == 1 else f"a positive int or {_n_ints(n)} positive ints"
        raise ValueError(f"{name} must be {what}. Received {name}={value!r}.")
    return values


def _n_ints(n):
    return "a pair of" if n == 2 else f"a tuple of {n}"


def as_pair(value, name):
    """Normalize an int or a pair of ints to a tuple ``(a, b)`` (see :func:`as_tuple`)."""
    return as_tuple(value, name, 2)


def resolve_padding(padding, kernel_size):
    """Zero padding ``(before, after)`` per spatial axis of ``kernel_size``:
    ``((top, bottom), (left, right))`` for a 2-D kernel, ``((left, right),)``
    for a 1-D one.

    ``padding`` is ``"valid"`` (none), ``"same"`` (PyTorch's rule: total
    ``k - 1``, ``(k - 1) // 2`` before and the rest after, so ``k // 2`` on
    each side for odd kernels), a non-negative int, or one per axis.
    """
    n = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size)
    elif _is_int(padding):
        if padding >= 0:
            return ((int(padding), int(padding)),) * n
    elif (
        isinstance(padding, (tuple, list))
        and len(padding) == n
        and all(_is_int(p) and p >= 0 for p in padding)
    ):
        return tuple((int(p), int(p)) for p in padding)
    per_axis = "" if n == 1 else f" or {_n_ints(n)} non-negative ints"
    raise ValueError(
        f"padding must be 'same', 'valid', a non-negative int{per_axis}. "
        f"Received padding={padding!r}."
    )


def output_length(size, kernel, stride, pad_before=0, pad_after=0):
    """Length of a 'floor mode' sliding window output along one axis."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def strided_offsets(n_out, stride, offset):
    """Slice picking ``n_out`` positions ``offset, offset + stride, ...``."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)
