"""Look inside a fitted network: training curves, filters and feature maps.

Three displays in scikit-learn's Display pattern (as
:class:`~sklearn.metrics.ConfusionMatrixDisplay`): build one with
``from_estimator(...)``, or from arrays with the constructor and then
``plot(ax=None, ...)``. Plotting needs matplotlib (``pip install
"skcnn[plot]"``); importing this module does not import it.

For the feature maps as arrays, use
:meth:`skcnn.NumpyCNNClassifier.layer_outputs`.
"""

from ._activations import ActivationsDisplay
from ._filters import FiltersDisplay
from ._training_curve import TrainingCurveDisplay

__all__ = ["ActivationsDisplay", "FiltersDisplay", "TrainingCurveDisplay"]
