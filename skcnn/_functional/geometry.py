"""Window geometry: argument normalization, padding and output sizes."""

from numbers import Integral


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


def strided_offsets(n_out, stride, offset):
    """Slice picking ``n_out`` positions ``offset, offset + stride, ...``."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)
