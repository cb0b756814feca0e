"""ActivationsDisplay: the feature maps that one image produces in a layer."""

import numpy as np

from .._validation import user_layout
from ._base import (
    _activation_after,
    _final_estimator,
    _resolve_conv_layer,
    check_matplotlib_support,
    plot_image_grid,
)


def _one_sample(estimator, X):
    """``X`` as a ``(1, n_features)`` array, or a ValueError naming its shape.

    One sample is a row ``(n_features,)`` or ``(1, n_features)``, an image
    ``(C, H, W)`` or ``(1, C, H, W)``, and for one channel also ``(H, W)`` or
    ``(1, H, W)``.
    """
    if hasattr(X, "columns"):  # a DataFrame: keep it, and its feature names
        if X.shape[0] != 1:
            raise ValueError(
                "X must hold one sample, but it holds "
                f"{X.shape[0]}: pass X.iloc[[i]] for sample i."
            )
        return X
    X = np.asarray(X)
    n_features = estimator.n_features_in_
    channels_first = tuple(estimator.image_shape_)
    image = user_layout(channels_first, estimator._architecture["data_format"])
    samples = [(n_features,), image]
    if channels_first[0] == 1:
        samples.append(channels_first[1:])
    shape = X.shape
    if shape in samples or (shape[:1] == (1,) and shape[1:] in samples):
        return X.reshape(1, -1)
    if shape[1:] in samples:
        raise ValueError(
            f"X must hold one sample, but it holds {shape[0]} (shape {shape}): "
            "pass X[i] or X[i:i + 1] for sample i."
        )
    raise ValueError(
        f"X of shape {shape} is not one sample of the model: expected a row of "
        f"{n_features} features or an image of shape {image}."
    )


def _feature_maps(estimator, X, position):
    """Activation maps of the convolution at ``layers_[position]`` for ``X``.

    Returns an array of shape (n_samples, C, H, W): the block's activation
    applied to the convolution output, before max-pooling. With relu the
    network computes conv -> max-pool -> relu, which equals conv -> relu ->
    max-pool; the maps are then relu(conv), at the convolution's resolution.
    """
    outputs = estimator.layer_outputs(X)
    act = _activation_after(estimator, position)
    if act is None:
        return outputs[position]
    if act == position + 1:
        return outputs[act]
    return estimator.layers_[act].forward(outputs[position])


class ActivationsDisplay:
    """Grid of the feature maps that one input produces in a layer.

    It is recommended to create it with :meth:`from_estimator`. All
    attributes ending in ``_`` are set by :meth:`plot`.

    Parameters
    ----------
    activations : array-like of shape (n_channels, H, W)
        The feature maps of one sample, one per output channel.
    layer_name : str, default=None
        Name of the layer, for the title.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure holding the grid.
    axes_ : ndarray of matplotlib Axes of shape (n_channels,)
        One Axes per feature map, in channel order.
    im_ : ndarray of matplotlib AxesImage of shape (n_channels,)
        The image of every feature map.
    colorbar_ : matplotlib Colorbar or None
        The shared color scale, None with ``colorbar=False``.

    See Also
    --------
    FiltersDisplay : The filters that produce these maps.
    skcnn.NumpyCNNClassifier.layer_outputs : Every layer's output, as arrays.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skcnn import NumpyCNNClassifier
    >>> from skcnn.inspection import ActivationsDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NumpyCNNClassifier(filters=(8,), max_iter=3, random_state=0)
    >>> clf = clf.fit(X[:300] / 16, y[:300])
    >>> disp = ActivationsDisplay.from_estimator(clf, X[0] / 16, layer=0)
    >>> disp.activations.shape, disp.axes_.shape
    ((8, 8, 8), (8,))
    """

    def __init__(self, activations, *, layer_name=None):
        self.activations = activations
        self.layer_name = layer_name

    def plot(self, ax=None, *, cmap="viridis", vmin=None, vmax=None, colorbar=True, ncols=None):
        """Draw every feature map as an image.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            None draws on a new figure; one Axes is split into a grid (and
            hidden); an array of Axes gets one map each, in order (it must
            hold at least ``n_channels`` Axes; the rest are hidden).
        cmap : str or matplotlib Colormap, default="viridis"
            Colormap of the activations.
        vmin, vmax : float, default=None
            Color limits shared by every map; None uses the smallest and
            largest activation, so maps compare (a dead map is uniform).
        colorbar : bool, default=True
            Whether to draw the shared color scale.
        ncols : int, default=None
            Maps per row; None is ``min(n_channels, 8)``.

        Returns
        -------
        display : ActivationsDisplay
            The display, with ``figure_``, ``axes_``, ``im_`` and ``colorbar_``.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        maps = np.asarray(self.activations)
        if maps.ndim != 3:
            raise ValueError(
                "activations must have shape (n_channels, H, W). Received an "
                f"array of shape {maps.shape}."
            )
        vmin = float(maps.min()) if vmin is None else vmin
        vmax = float(maps.max()) if vmax is None else vmax
        name = self.layer_name or "a layer"
        channels, height, width = maps.shape
        title = f"Feature maps after {name}\n{channels} of {height} x {width}"
        self.figure_, self.axes_, self.im_, self.colorbar_ = plot_image_grid(
            maps, ax=ax, ncols=ncols, cmap=cmap, vmin=vmin, vmax=vmax,
            colorbar=colorbar, title=title, caller_name=f"{type(self).__name__}.plot",
        )
        return self

    @classmethod
    def from_estimator(cls, estimator, X, *, layer=0, ax=None, **kwargs):
        """Plot the feature maps that one sample produces in a convolution block.

        The maps are the block's activation applied to the convolution
        output, before max-pooling: one map per filter of the layer, at the
        convolution's resolution.

        Parameters
        ----------
        estimator : NumpyCNNClassifier or Pipeline
            A fitted classifier, or a fitted Pipeline ending in one (``X``
            then goes through the steps before it). Of a fitted search such
            as GridSearchCV, pass ``search.best_estimator_``.
        X : array-like of shape (n_features,), (1, n_features), (H, W) or \
                (C, H, W)
            One sample, as a row of features or as an image (a leading axis
            of length 1 is accepted too).
        layer : int or str, default=0
            Which convolution layer: its index counting convolution layers
            only (0 is the first, -1 the last), or its name in
            ``layer_names_`` (``"conv2"``).
        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw; see :meth:`plot`.
        **kwargs : dict
            Passed to :meth:`plot` (``cmap``, ``vmin``, ``vmax``,
            ``colorbar``, ``ncols``).

        Returns
        -------
        display : ActivationsDisplay
            The display, plotted.
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        estimator, X = _final_estimator(estimator, X, caller_name=caller)
        position, number = _resolve_conv_layer(estimator, layer)
        X = _one_sample(estimator, X)
        maps = _feature_maps(estimator, X, position)[0]
        if maps.ndim == 2:  # a signal's (C, L): one-row images
            maps = maps[:, None, :]
        act = _activation_after(estimator, position)
        act_name = "" if act is None else f" + {type(estimator.layers_[act]).__name__}"
        name = f"convolution layer {number} ({estimator.layer_names_[position]}){act_name}"
        display = cls(np.array(maps), layer_name=name)
        return display.plot(ax=ax, **kwargs)
