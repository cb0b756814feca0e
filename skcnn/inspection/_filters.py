"""FiltersDisplay: the kernels of one convolution layer as a grid of images."""

from numbers import Integral

import numpy as np

from ._base import (
    _final_estimator,
    _resolve_conv_layer,
    check_matplotlib_support,
    plot_image_grid,
)


class FiltersDisplay:
    """Grid of the filters (kernels) of one convolution layer.

    It is recommended to create it with :meth:`from_estimator`. All
    attributes ending in ``_`` are set by :meth:`plot`.

    Parameters
    ----------
    filters : array-like of shape (out_channels, in_channels, kh, kw)
        Convolution weights, as in ``NumpyCNNClassifier.coefs_``.
    layer_name : str, default=None
        Name of the layer, for the title.

    Attributes
    ----------
    images_ : ndarray of shape (out_channels, kh, kw)
        The drawn images: one input channel of each filter, or their mean.
    figure_ : matplotlib Figure
        The figure holding the grid.
    axes_ : ndarray of matplotlib Axes of shape (out_channels,)
        One Axes per filter, in filter order.
    im_ : ndarray of matplotlib AxesImage of shape (out_channels,)
        The image of every filter.
    colorbar_ : matplotlib Colorbar or None
        The shared color scale, None with ``colorbar=False``.

    See Also
    --------
    ActivationsDisplay : The feature maps these filters produce for one image.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skcnn import NumpyCNNClassifier
    >>> from skcnn.inspection import FiltersDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NumpyCNNClassifier(filters=(8,), max_iter=3, random_state=0)
    >>> clf = clf.fit(X[:300] / 16, y[:300])
    >>> disp = FiltersDisplay.from_estimator(clf, layer=0)
    >>> disp.filters.shape, disp.axes_.shape
    ((8, 1, 3, 3), (8,))
    """

    def __init__(self, filters, *, layer_name=None):
        self.filters = filters
        self.layer_name = layer_name

    def plot(
        self, ax=None, *, in_channel=None, cmap="gray", vmin=None, vmax=None,
        colorbar=True, ncols=None,
    ):
        """Draw every filter as a small image.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            None draws on a new figure; one Axes is split into a grid (and
            hidden); an array of Axes gets one filter each, in order (it must
            hold at least ``out_channels`` Axes; the rest are hidden).
        in_channel : int, default=None
            Input channel of the filters to draw. None draws the only one
            when ``in_channels == 1``, else the mean over input channels (a
            rough summary; deeper filters are easier to read one channel at a
            time).
        cmap : str or matplotlib Colormap, default="gray"
            Colormap of the weights.
        vmin, vmax : float, default=None
            Color limits shared by every filter. None uses
            ``-max(abs(images))`` and ``+max(abs(images))``, so a zero weight
            is the middle of the colormap.
        colorbar : bool, default=True
            Whether to draw the shared color scale.
        ncols : int, default=None
            Filters per row; None is ``min(out_channels, 8)``.

        Returns
        -------
        display : FiltersDisplay
            The display, with ``figure_``, ``axes_``, ``im_`` and ``colorbar_``.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        filters = np.asarray(self.filters)
        if filters.ndim != 4:
            raise ValueError(
                "filters must have shape (out_channels, in_channels, kh, kw). "
                f"Received an array of shape {filters.shape}."
            )
        n_in = filters.shape[1]
        if in_channel is None:
            images = filters.mean(axis=1)
            what = "" if n_in == 1 else f", mean of {n_in} input channels"
        elif isinstance(in_channel, Integral) and -n_in <= in_channel < n_in:
            images = filters[:, in_channel]
            what = f", input channel {in_channel}"
        else:
            raise ValueError(
                f"in_channel={in_channel!r} is out of range: the filters have "
                f"{n_in} input channel(s)."
            )
        limit = float(np.abs(images).max()) if images.size else 1.0
        vmin = -limit if vmin is None else vmin
        vmax = limit if vmax is None else vmax
        name = self.layer_name or "a convolution layer"
        out, _, kh, kw = filters.shape
        title = f"Filters of {name}\n{out} of {kh} x {kw}{what}"
        self.images_ = images
        self.figure_, self.axes_, self.im_, self.colorbar_ = plot_image_grid(
            images, ax=ax, ncols=ncols, cmap=cmap, vmin=vmin, vmax=vmax,
            colorbar=colorbar, title=title, caller_name=f"{type(self).__name__}.plot",
        )
        return self

    @classmethod
    def from_estimator(cls, estimator, *, layer=0, ax=None, **kwargs):
        """Plot the filters of a convolution layer of a fitted network.

        Parameters
        ----------
        estimator : NumpyCNNClassifier or Pipeline
            A fitted classifier, or a fitted Pipeline ending in one. Of a
            fitted search such as GridSearchCV, pass ``search.best_estimator_``.
        layer : int or str, default=0
            Which convolution layer: its index counting convolution layers
            only (0 is the first, ``coefs_[0]``; -1 the last), or its name in
            ``layer_names_`` (``"conv2"``).
        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw; see :meth:`plot`.
        **kwargs : dict
            Passed to :meth:`plot` (``in_channel``, ``cmap``, ``vmin``,
            ``vmax``, ``colorbar``, ``ncols``).

        Returns
        -------
        display : FiltersDisplay
            The display, plotted.
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        estimator, _ = _final_estimator(estimator, caller_name=caller)
        position, number = _resolve_conv_layer(estimator, layer)
        conv = estimator.layers_[position]
        weight = conv.weight.copy()
        if weight.ndim == 3:  # a Conv1D's (out, in, k): one-row images
            weight = weight[:, :, None, :]
        name = f"convolution layer {number} ({estimator.layer_names_[position]})"
        display = cls(weight, layer_name=name)
        return display.plot(ax=ax, **kwargs)
