"""What the displays share: the matplotlib check, finding a convolution layer,
and drawing a grid of images.

matplotlib is imported inside the functions that draw, never at module level:
``import skcnn.inspection`` must work without it.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..layers import Activation, Conv1D, Conv2D

#: The layers the displays call convolution layers: their filters and
#: feature maps are drawn (a signal's as one-row images).
CONVOLUTIONS = (Conv2D, Conv1D)


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


def _refuse_search(estimator, caller_name, X, *, in_pipeline=False):
    """Raise a TypeError saying what to pass instead of the search ``estimator``.

    A fitted search (GridSearchCV and the like, known by ``cv_results_``)
    holds its network in ``best_estimator_``. The message calls the search
    ``search``, or ``pipe[-1]`` when it is a Pipeline's last step (``X`` is
    then the Pipeline's input, which the network sees transformed).
    """
    if not hasattr(estimator, "cv_results_"):
        return
    kind = type(estimator).__name__
    name = "pipe[-1]" if in_pipeline else "search"
    if not hasattr(estimator, "best_estimator_"):
        raise TypeError(
            f"{caller_name} needs a fitted network, and {name} is a {kind} fitted "
            f"with refit=False, which keeps none. Fit the {kind} with refit=True, "
            f"then pass {name}.best_estimator_."
        )
    args = f"{name}.best_estimator_"
    if X is not None:
        args += ", pipe[:-1].transform(X)" if in_pipeline else ", X"
    raise TypeError(
        f"{caller_name} needs the fitted network, not the {kind} that chose it. "
        f"Pass the refitted {type(estimator.best_estimator_).__name__}, "
        f"{name}.best_estimator_: {caller_name}({args})."
    )


def _final_estimator(estimator, X=None, *, caller_name):
    """The fitted network of ``estimator``, and ``X`` as the network sees it.

    A :class:`~sklearn.pipeline.Pipeline` stands for its last step; ``X`` then
    goes through the steps before it. A fitted search is refused with a
    message that names its ``best_estimator_``.
    """
    _refuse_search(estimator, caller_name, X)
    if hasattr(estimator, "steps"):
        check_is_fitted(estimator)
        _refuse_search(estimator[-1], caller_name, X, in_pipeline=True)
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
            "NumpyCNNClassifier or NumpyCNNRegressor (or a Pipeline ending in one)."
        )
    return [i for i, lay in enumerate(estimator.layers_) if isinstance(lay, CONVOLUTIONS)]


def _resolve_conv_layer(estimator, layer):
    """``(index in layers_, number from 0)`` of convolution layer ``layer``.

    ``layer`` counts the convolution layers (0 the first, -1 the last) or is
    a name of ``layer_names_`` ("conv2"); messages list the convolution
    layers by name, which a built-in network and a layer list both have.
    """
    positions = _conv_positions(estimator)
    names = [estimator.layer_names_[i] for i in positions]
    listed = ", ".join(map(repr, names))
    which = f"the model has {len(names)} convolution layer{'' if len(names) == 1 else 's'}"
    which += f" ({listed})" if names else ""
    if isinstance(layer, str):
        if layer in names:
            number = names.index(layer)
            return positions[number], number
        kinds = dict(zip(estimator.layer_names_, estimator.layers_))
        if layer in kinds:
            raise ValueError(
                f"layer={layer!r} is a {type(kinds[layer]).__name__}, not a convolution "
                f"layer: {which}."
            )
        raise ValueError(f"layer={layer!r} is no layer of the model (layer_names_): {which}.")
    if not isinstance(layer, Integral) or isinstance(layer, bool):
        raise TypeError(
            "layer must be an int, the index of a convolution layer (0 is the "
            "first), or a str, its name in layer_names_. "
            f"Received layer={layer!r}."
        )
    n = len(positions)
    if not -n <= layer < n:
        raise ValueError(
            f"layer={layer!r} is out of range: {which}; layer counts convolution "
            "layers only, from 0 (-1 is the last), or names one."
        )
    return positions[layer], layer % n


def _activation_after(estimator, position):
    """The index of the first activation layer (an
    :class:`~skcnn.layers.Activation`, of any kind) after ``position`` and
    before the next convolution, or None."""
    for i in range(position + 1, len(estimator.layers_)):
        if isinstance(estimator.layers_[i], Activation):
            return i
        if isinstance(estimator.layers_[i], CONVOLUTIONS):
            break
    return None


def _grid_shape(n, ncols):
    ncols = min(n, 8) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be a positive int. Received ncols={ncols!r}.")
    return math.ceil(n / ncols), ncols


def _split_axes(parent, n, ncols, aspect, gap=0.15, vgap=0.35, bar=0.12):
    """``n`` inset Axes in a grid of square-pixel cells in ``parent`` (left, mid-height).

    ``aspect`` is the height / width of one image; ``bar`` is the fraction of
    the width kept free on the right for a colorbar; ``ncols=None`` picks the
    number of columns that gives the largest cells. Returns the Axes, the
    rectangle for the colorbar and the top of the grid, in ``parent``'s axes
    coordinates.
    """
    parent.set_axis_off()
    box = parent.get_position()
    fig_w, fig_h = parent.figure.get_size_inches()
    width_in, height_in = box.width * fig_w * (1 - bar), box.height * fig_h

    def cell_size(cols):
        rows = math.ceil(n / cols)
        return min(
            width_in / (cols + gap * (cols - 1)),
            height_in / (aspect * (rows + vgap * (rows - 1) + vgap)),
        )

    if ncols is None:
        ncols = max(range(1, n + 1), key=cell_size)
    nrows, ncols = _grid_shape(n, ncols)
    cell = cell_size(ncols)
    cell_w, cell_h = cell / (box.width * fig_w), aspect * cell / (box.height * fig_h)
    grid_h = cell_h * (nrows + vgap * (nrows - 1))
    top = 0.5 + grid_h / 2
    axes = np.empty(n, dtype=object)
    for k in range(n):
        row, col = divmod(k, ncols)
        x0 = col * cell_w * (1 + gap)
        y0 = top - cell_h - row * cell_h * (1 + vgap)
        axes[k] = parent.inset_axes([x0, y0, cell_w, cell_h])
    grid_w = cell_w * (ncols + gap * (ncols - 1))
    return axes, [grid_w + 0.03, 0.5 - grid_h / 2, 0.03, grid_h], top + vgap * cell_h


def _image_axes(n, ax, ncols, aspect, caller_name):
    """Axes for ``n`` images: ``(figure, axes of shape (n,), parent, split)``.

    ``ax=None`` makes a new figure (``parent`` is then None); one Axes is
    split into a grid of inset Axes and becomes their invisible ``parent``
    (``split`` is then ``(colorbar rectangle, top of the grid)``, else None);
    an array of Axes is used as given, its first ``n`` in order, the others
    hidden (``parent`` is then the first of them).
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        nrows, ncols = _grid_shape(n, ncols)
        fig, grid = plt.subplots(
            nrows, ncols, squeeze=False, layout="constrained",
            figsize=(1.1 * ncols + 1.2, 1.1 * nrows + 0.6),
        )
        axes = grid.ravel()
        for extra in axes[n:]:
            extra.set_axis_off()
        return fig, axes[:n], None, None
    if isinstance(ax, Axes):
        axes, bar_rect, top = _split_axes(ax, n, ncols, aspect)
        return ax.figure, axes, ax, (bar_rect, top)
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
    return axes[0].figure, axes[:n], axes[0], None


def plot_image_grid(images, *, ax, ncols, cmap, vmin, vmax, colorbar, title, caller_name):
    """Draw ``images`` of shape (n, H, W) on a shared color scale.

    Returns ``(figure, axes, ims, colorbar)``: axes and ims are object arrays
    of shape (n,), colorbar is None without ``colorbar``.
    """
    n = len(images)
    height, width = images.shape[1:]
    fig, axes, parent, split = _image_axes(n, ax, ncols, height / width, caller_name)
    ims = np.empty(n, dtype=object)
    for k, (axis, image) in enumerate(zip(axes, images)):
        ims[k] = axis.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(str(k), fontsize="x-small", pad=2)
    bar = None
    if colorbar:
        if split is None:
            bar = fig.colorbar(ims[0], ax=list(axes), shrink=0.8)
        else:
            bar = fig.colorbar(ims[0], cax=parent.inset_axes(split[0]))
    if title:
        if parent is None:
            fig.suptitle(title)
        elif split is not None:
            parent.set_title(title, y=split[1])
    return fig, axes, ims, bar
