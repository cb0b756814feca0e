"""TrainingCurveDisplay: the training loss, and validation score, per epoch."""

import numpy as np

from ._base import _final_estimator, check_matplotlib_support


def _as_curve(name, values):
    curve = np.asarray(values, dtype=float)
    if curve.ndim != 1 or curve.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of numbers. Received an "
            f"array of shape {curve.shape}."
        )
    return curve


class TrainingCurveDisplay:
    """Training loss per epoch, with the validation score when there is one.

    It is recommended to create it with :meth:`from_estimator`. All
    attributes ending in ``_`` are set by :meth:`plot`.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss of every epoch (``loss_curve_``).
    validation_scores : array-like of shape (n_epochs,), default=None
        Validation score of every epoch (``validation_scores_`` with
        ``early_stopping=True``); None when there is none.
    estimator_name : str, default=None
        Name of the estimator, for the title.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure holding the plot.
    ax_ : matplotlib Axes
        The Axes of the loss (left y-axis).
    line_ : matplotlib Line2D
        The loss curve.
    score_ax_ : matplotlib Axes or None
        Twin Axes of the validation score (right y-axis), None without scores.
    score_line_ : matplotlib Line2D or None
        The validation-score curve, None without scores.
    best_marker_ : matplotlib Line2D or None
        The marker at the best validation score (the weights early stopping
        keeps), None without scores or with ``mark_best=False``.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against training set size.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skcnn import NumpyCNNClassifier
    >>> from skcnn.inspection import TrainingCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NumpyCNNClassifier(filters=(8,), max_iter=4, early_stopping=True,
    ...                          random_state=0).fit(X[:300] / 16, y[:300])
    >>> disp = TrainingCurveDisplay.from_estimator(clf)
    >>> len(disp.loss_curve), len(disp.validation_scores)
    (4, 4)
    """

    def __init__(self, loss_curve, validation_scores=None, *, estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, loss_kw=None, score_kw=None, mark_best=True):
        """Draw the loss (left axis) and the validation score (right axis).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        loss_kw : dict, default=None
            Keyword arguments of the loss line (``ax.plot``).
        score_kw : dict, default=None
            Keyword arguments of the validation-score line.
        mark_best : bool, default=True
            Mark the epoch of the best validation score.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, with ``figure_``, ``ax_``, ``line_`` and the score
            attributes.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        loss = _as_curve("loss_curve", self.loss_curve)
        scores = None
        if self.validation_scores is not None:
            scores = _as_curve("validation_scores", self.validation_scores)
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
        epochs = np.arange(1, loss.size + 1)
        self.line_, = ax.plot(epochs, loss, **{"color": "C0", "label": "training loss", **(loss_kw or {})})
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        self.score_ax_ = self.score_line_ = self.best_marker_ = None
        lines = [self.line_]
        if scores is not None:
            self.score_ax_ = ax.twinx()
            score_epochs = np.arange(1, scores.size + 1)
            style = {"color": "C1", "label": "validation score", **(score_kw or {})}
            self.score_line_, = self.score_ax_.plot(score_epochs, scores, **style)
            self.score_ax_.set_ylabel("validation score")
            lines.append(self.score_line_)
            if mark_best and np.isfinite(scores).any():  # NaN: an epoch that diverged
                best = int(np.nanargmax(scores))
                self.best_marker_, = self.score_ax_.plot(
                    score_epochs[best], scores[best], "o", markersize=8, markerfacecolor="none",
                    color=self.score_line_.get_color(),
                    label=f"best: {scores[best]:.4f} (epoch {best + 1})",
                )
                lines.append(self.best_marker_)
        # On the top Axes, so that the score curve does not cross the legend.
        (self.score_ax_ or ax).legend(handles=lines, loc="center right")
        title = "Training curve"
        if self.estimator_name:
            title += f" of {self.estimator_name}"
        ax.set_title(title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Plot the training curve of a fitted network.

        Parameters
        ----------
        estimator : NumpyCNNClassifier, MLPClassifier or Pipeline
            A fitted estimator with ``loss_curve_`` (and ``validation_scores_``,
            used when not None), or a fitted Pipeline ending in one. Of a
            fitted search such as GridSearchCV, pass ``search.best_estimator_``.
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        **kwargs : dict
            Passed to :meth:`plot` (``loss_kw``, ``score_kw``, ``mark_best``).

        Returns
        -------
        display : TrainingCurveDisplay
            The display, plotted.
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        estimator, _ = _final_estimator(estimator, caller_name=caller)
        if getattr(estimator, "loss_curve_", None) is None:
            why = "expected a NumpyCNNClassifier or MLPClassifier, or a Pipeline ending in one"
            if hasattr(estimator, "coefs_") and getattr(estimator, "solver", None) == "lbfgs":
                why = "solver='lbfgs' records no loss per epoch; fit with solver='adam' or 'sgd'"
            raise ValueError(f"{type(estimator).__name__} has no loss_curve_: {why}.")
        scores = getattr(estimator, "validation_scores_", None)
        display = cls(
            list(estimator.loss_curve_),
            list(scores) if scores else None,
            estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, **kwargs)
