"""What the displays share: the matplotlib check, finding a convolution layer,
and drawing a grid of images.

matplotlib is imported inside the functions that draw, never at module level:
``import skcnn.inspection`` must work without it.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..layers import ACTIVATIONS, Conv2D


def check_matplotlib_support(caller_name):
    """Raise an ImportError telling how to install matplotlib, if it is missing.

    Parameters
    ----------
    caller_name : str
        The function or method that needs matplotlib, for the message.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller_name} requires matplotlib, which is not installed. Install "
            'it with `pip install "skcnn[plot]"` (or `pip install matplotlib`).'
        ) from exc


def _final_estimator(estimator, X=None):
    """The fitted network of ``estimator``, and ``X`` as the network sees it.

    A :class:`~sklearn.pipeline.Pipeline` stands for its last step; ``X`` then
    goes through the steps before it.
    """
    if hasattr(estimator, "steps"):
        check_is_fitted(estimator)
        if X is not None:
            X = np.reshape(X, (1, -1)) if np.ndim(X) == 1 else X
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    check_is_fitted(estimator)
    return estimator, X


def _conv_positions(estimator):
    """Indices in ``estimator.layers_`` of its convolution layers."""
    if not hasattr(estimator, "layers_"):
        raise TypeError(
            f"{type(estimator).__name__} has no layers_: expected a fitted "
            "NumpyCNNClassifier (or a Pipeline ending in one)."
        )
    return [i for i, lay in enumerate(estimator.layers_) if isinstance(lay, Conv2D)]


def _resolve_conv_layer(estimator, layer):
    """``(index in layers_, number from 0)`` of convolution layer ``layer``."""
    positions = _conv_positions(estimator)
    if not isinstance(layer, Integral) or isinstance(layer, bool):
        raise TypeError(
            "layer must be an int: the index of a convolution layer (0 is the "
            f"first). Received layer={layer!r}."
        )
    n = len(positions)
    if not -n <= layer < n:
        plural = "layer" if n == 1 else "layers"
        raise ValueError(
            f"layer={layer!r} is out of range: the model has {n} convolution "
            f"{plural} (filters={getattr(estimator, 'filters', '?')!r}); layer "
            "counts convolution layers only, from 0."
        )
    return positions[layer], layer % n


def _activation_after(estimator, position):
    """The index of the first activation layer after ``position``, or None."""
    kinds = tuple(ACTIVATIONS.values())
    for i in range(position + 1, len(estimator.layers_)):
        if isinstance(estimator.layers_[i], kinds):
            return i
        if isinstance(estimator.layers_[i], Conv2D):
            break
    return None


def _grid_shape(n, ncols):
    ncols = min(n, 8) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be a positive int. Received ncols={ncols!r}.")
    return math.ceil(n / ncols), ncols


def _image_axes(n, ax, ncols, caller_name):
    """Axes for ``n`` images: ``(figure, axes of shape (n,), created, parent)``.

    ``ax=None`` makes a new figure; one Axes is split into a grid of inset
    Axes (it becomes their invisible ``parent``); an array of Axes is used as
    given, its first ``n`` in order, the others hidden.
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    nrows, ncols = _grid_shape(n, ncols)
    if ax is None:
        fig, grid = plt.subplots(
            nrows, ncols, squeeze=False, layout="constrained",
            figsize=(1.1 * ncols + 1.2, 1.1 * nrows + 0.6),
        )
        axes = grid.ravel()
        for extra in axes[n:]:
            extra.set_axis_off()
        return fig, axes[:n], True, None
    if isinstance(ax, Axes):
        ax.set_axis_off()
        gap = 0.15
        width, height = 1 / (ncols + gap * (ncols - 1)), 1 / (nrows + gap * (nrows - 1))
        axes = np.empty(n, dtype=object)
        for k in range(n):
            row, col = divmod(k, ncols)
            x0 = col * width * (1 + gap)
            y0 = 1 - height - row * height * (1 + gap)
            axes[k] = ax.inset_axes([x0, y0, width, height])
        return ax.figure, axes, False, ax
    axes = np.asarray(ax, dtype=object).ravel()
    if not all(isinstance(a, Axes) for a in axes):
        raise TypeError(
            f"{caller_name}: ax must be None, a matplotlib Axes or an array of "
            f"Axes. Received ax={ax!r}."
        )
    if len(axes) < n:
        raise ValueError(
            f"{caller_name}: ax holds {len(axes)} Axes but there are {n} images "
            "to draw; pass at least as many Axes, one Axes to split, or None."
        )
    for extra in axes[n:]:
        extra.set_axis_off()
    return axes[0].figure, axes[:n], False, None


def plot_image_grid(images, *, ax, ncols, cmap, vmin, vmax, colorbar, title, caller_name):
    """Draw ``images`` of shape (n, H, W) on a shared color scale.

    Returns ``(figure, axes, ims, colorbar)``: axes and ims are object arrays
    of shape (n,), colorbar is None without ``colorbar``.
    """
    n = len(images)
    fig, axes, created, parent = _image_axes(n, ax, ncols, caller_name)
    ims = np.empty(n, dtype=object)
    for k, (axis, image) in enumerate(zip(axes, images)):
        ims[k] = axis.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(str(k), fontsize="x-small", pad=2)
    bar = None
    if colorbar:
        owner = parent if parent is not None else list(axes)
        bar = fig.colorbar(ims[0], ax=owner, shrink=0.8)
    if title:
        if created:
            fig.suptitle(title)
        elif parent is not None:
            parent.set_title(title)
    return fig, axes, ims, bar
