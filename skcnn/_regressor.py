"""NumpyCNNRegressor: a convolutional network as a scikit-learn regressor."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

from ._base import BaseCNN
from ._loss import REGRESSION_LOSSES
from ._training.callbacks import CallbackSupportMixin
from ._validation import prediction_dtype


class NumpyCNNRegressor(CallbackSupportMixin, RegressorMixin, BaseCNN):
    """Convolutional neural network regressor, written in numpy.

    The network of :class:`NumpyCNNClassifier` (``len(filters)`` blocks of
    convolution -> activation -> max-pooling, then dense layers) with a
    linear output unit per target, trained on the squared error (or the
    Poisson deviance); ``layers`` takes any other network as a list of
    named layers, and ``augment`` random transforms of the training images.
    Parameters shared with
    :class:`~sklearn.neural_network.MLPRegressor` have its names and meanings.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default="squared_error"
        The loss, as in MLPRegressor: half the squared error with an
        identity output, or half the Poisson deviance with a log link (the
        network's outputs are the logs of the predictions, which are then
        positive; ``y`` must be non-negative).
    filters : tuple of int, default=(32, 64)
        Output channels of each convolution block. ``()`` gives a plain
        multi-layer perceptron.
    kernel_size : int or tuple of (int, int), default=3
        Height and width of every convolution kernel. On signals (samples of
        one row, or one column) kernels, padding and pools act along the
        signal only: their size across it is 1.
    pool_size : int or tuple of (int, int), default=2
        Max-pooling window (and stride) after each convolution; 1 means no
        pooling. A window larger than its input is clipped to it, so pooling
        never shrinks a dimension below 1.
    padding : {"same", "valid"}, int or tuple of (int, int), default="same"
        Zero padding of every convolution. ``"same"`` keeps the spatial size.
    hidden_layer_sizes : tuple of int, default=(128,)
        Units of each dense hidden layer between the last block and the output.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation after every convolution and hidden dense layer.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` of one sample of a 2-D ``X`` (``(H, W, C)``
        with ``data_format="channels_last"``). With None, a perfect-square
        ``n_features`` is read as one square channel and any other
        ``n_features`` as a ``1 x n_features`` signal. A 3-D ``(n, H, W)``
        array holds one-channel images, and a 4-D ``(n, C, H, W)`` array
        (``(n, H, W, C)`` with ``"channels_last"``) carries its own shape.
    data_format : {"channels_first", "channels_last"}, default="channels_first"
        Where a sample's channels are, as in Keras: first, ``(C, H, W)``, as
        in PyTorch; or last, ``(H, W, C)``, as PIL, matplotlib, OpenCV and
        scikit-image give images. It applies to a 4-D ``X``, to
        ``image_shape`` and to the order of the values in the rows of a 2-D
        ``X`` (``X_hwc.reshape(n, -1)``). The input is converted to channels
        first once, where it is validated: ``image_shape_``, ``coefs_`` and
        the network are channels first either way.
    solver : {"adam", "sgd", "lbfgs"}, default="adam"
        The optimizer: Adam, SGD with momentum, or full-batch L-BFGS
        (``scipy.optimize.minimize``), as in MLPClassifier. L-BFGS often
        converges faster and better on small data; it has no mini-batches,
        no ``partial_fit``, no early stopping (ignored, as in MLPClassifier)
        and no dropout (``dropout`` must be 0).
    alpha : float, default=1e-2
        Strength of the L2 penalty on the weights (not the biases), divided
        by the batch's total sample weight as in MLPClassifier.
    dropout : float in [0, 1), default=0
        Dropout rate before every dense layer, that is on the flattened
        convolution features and on every hidden layer's output: in training
        each of those values is zeroed with this probability and the others
        are scaled by ``1 / (1 - dropout)``; predictions use every unit. The
        masks are reproducible with ``random_state`` and identical for
        identical samples (see :class:`skcnn.layers.Dropout`). 0, the
        default (MLPRegressor has no dropout), disables it: dropout's noise
        goes straight into the predicted values and their squared error,
        and with it small networks fail even a linear target. With the
        default network, rates of 0.1 to 0.5 lowered the test error of
        image and signal regressions (``benchmarks/RESULTS.md``).
    batch_size : int or "auto", default=64
        Largest minibatch; "auto" is ``min(200, n_samples)`` as in
        MLPClassifier. Each epoch is split into ``ceil(n_samples / batch_size)``
        batches of equal size (within one sample), so no epoch ends on a tiny
        remainder batch. A batch size larger than the data means one batch
        per epoch (and then integer sample weights are exactly equivalent to
        repeated samples).
    learning_rate_init : float, default=0.002
        Step size of the optimizer.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        How ``solver="sgd"`` changes its step size, as in MLPClassifier:
        "constant" keeps ``learning_rate_init``; "invscaling" uses
        ``learning_rate_init / (t_ + 1) ** power_t`` after every epoch;
        "adaptive" divides the step by 5 each time ``n_iter_no_change``
        epochs pass without progress, instead of stopping, until it is
        below 1e-6. Adam ignores it.
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Maximum number of epochs (passes over the data) of one ``fit``; for
        ``solver="lbfgs"``, of L-BFGS iterations.
    max_fun : int, default=15000
        Only for ``solver="lbfgs"``: maximum number of evaluations of the
        loss (each a pass over the data), as in MLPClassifier.
    tol : float, default=1e-4
        Improvement of the training loss (or validation score with
        ``early_stopping``) that counts as progress.
        With ``solver="lbfgs"``, L-BFGS stops when the largest component of
        the gradient is below ``tol`` (scipy's ``gtol``), as in MLPClassifier.
    n_iter_no_change : int, default=20
        Stop after this many epochs without progress of ``tol``. Twice
        MLPRegressor's 10, as in :class:`NumpyCNNClassifier`, whose dropout
        makes the training loss noisier; with ``dropout > 0`` that holds
        here too.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the training data and
        stop when its R^2 score stops improving and keep the best weights.
        "auto" turns it on for ``fit`` on at least 5,000 samples (as
        HistGradientBoostingClassifier's "auto" does above a sample count):
        there the training loss of a network with dropout keeps improving
        slowly long after the validation score has stopped, while on small data the hold-out
        costs accuracy. ``partial_fit`` never holds data out.
    validation_fraction : float, default=0.1
        Fraction of the training data held out with ``early_stopping``.
    momentum : float, default=0.9
        Momentum of ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Whether ``solver="sgd"`` uses Nesterov's momentum.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical stability constant.
    shuffle : bool, default=True
        Whether to shuffle the samples at every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, shuffling and the early-stopping
        split. An int gives bit-identical models on every fit.
    verbose : bool or int, default=False
        Print how the samples are read, then one line per epoch as
        MLPClassifier does (``Iteration N, loss = ...``), with the
        validation score, seconds per epoch and time left.
    warm_start : bool, default=False
        Let ``fit`` continue from the current weights instead of starting over.
    dtype : {np.float32, np.float64}, default=np.float32
        The precision the network computes in, whatever the dtype of ``X``:
        float32 trains about twice as fast as float64 for the same accuracy
        (as PyTorch and Keras compute). ``X`` is converted to it (values
        beyond float32's range are rejected as too large).
    n_jobs : int or None, default=None
        How many cores training may use: each batch is split into shards of
        about 32 samples that run side by side, on the calling thread and on
        worker processes (Linux and macOS; threads elsewhere, in daemonic
        processes such as Dask's workers, and for calls of fewer than 100
        batches). None uses as many as BLAS may use threads: all cores,
        but one inside joblib's workers (``GridSearchCV(n_jobs=...)``) or a
        ``threadpoolctl.threadpool_limits(1)`` block. -1 means all cores, 1
        the calling thread only. Networks whose forward pass costs less than
        1 MFLOP per sample always train on the calling thread, where they
        are fastest. The model is bit-identical whatever ``n_jobs``. BLAS is
        held at one thread while a fit runs (process-wide).
    layers : list of (str, layer) tuples, default=None
        The network, as a Pipeline's steps: ``[("conv1", Conv2D(32, 3,
        padding="same")), ("relu1", ReLU()), ("pool1", MaxPool2D(2)),
        ("flatten", Flatten()), ("fc", Dense(128)), ("relu2", ReLU())]`` with
        layers of :mod:`skcnn.layers`. The estimator appends its output
        layer, a ``Dense`` named ``"out"`` (one linear unit per target,
        exponentiated for ``loss="poisson"``).
        ``get_params`` exposes the layers by name and their parameters as
        ``conv1__filters``, which ``set_params`` and ``GridSearchCV`` use;
        ``fit`` trains copies (``layers_``), never the listed objects. A
        ``Dense`` needs flat input: put a ``Flatten`` (or a global pooling
        layer) before it. Names must be unique, without ``__``, and neither
        ``"out"`` nor a parameter's name. None builds the network from
        ``filters``, ``kernel_size``, ``pool_size``, ``padding``,
        ``hidden_layer_sizes``, ``activation`` and ``dropout``; with a list
        these are ignored (a UserWarning names those not at their defaults).
        A continued fit (``warm_start``, ``partial_fit``) refuses a changed
        list, except for new Dropout rates.
    augment : transform or list of transforms, default=None
        Random transforms of :mod:`skcnn.augmentation` (``RandomShift``,
        ``RandomFlip``, ``RandomRotation``) applied in order to every
        training batch, with new draws at every epoch; never to the
        early-stopping validation split nor in ``predict``. The draws come
        from ``random_state``, the epoch and each sample's values: the model
        stays bit-identical whatever ``n_jobs``. None trains on the images
        as they are.
    batchnorm_statistics : {"running", "training_set"}, default="running"
        What the BatchNorm layers of ``layers`` normalize with in
        ``predict``. "running": the moving averages of the training batches'
        statistics (their ``momentum``), as PyTorch keeps them. "training_set":
        at the end of ``fit`` these are replaced by the exact mean and
        unbiased variance of each BatchNorm layer's input over the training
        samples, as they are (no augmentation; without the early-stopping
        hold-out; sample weights as frequencies), layer after layer in
        network order: "precise batch norm". The moving averages follow the
        last few batches and, with ``augment``, describe augmented images.
        It costs one inference pass over the training samples per BatchNorm
        layer.
        ``partial_fit`` keeps the moving averages (a call sees a part of the
        data); the early-stopping validation scores are computed with them.
        Ignored without BatchNorm layers.
    transform_layer : str or None, default=None
        The layer, by name in ``layer_names_``, whose outputs ``transform``
        returns (flattened per sample). None: the input of the output layer,
        the last hidden layer's activations.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (columns of ``y``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` had string column names.
    image_shape_ : tuple of (int, int, int)
        ``(C, H, W)`` of one sample.
    layers_ : list of layer
        The fitted layers in network order, the output layer last: copies of
        ``layers`` (or the network built from ``filters`` ...).
    layer_names_ : list of str
        Their names: those of ``layers`` and ``"out"``; without ``layers``,
        ``"conv1"``, ``"pool1"``, ``"relu1"``, ..., ``"flatten"``, ``"fc1"``, ...,
        ``"out"``.
    coefs_ : list of ndarray
        The live weight arrays in network order: convolution weights of shape
        ``(out_channels, in_channels, kh, kw)``, dense weights of shape
        ``(n_in, n_out)``, the output layer last.
    intercepts_ : list of ndarray
        The live bias arrays, in the order of ``coefs_``.
    loss_ : float
        Training loss (with the L2 penalty) of the last epoch.
    loss_curve_ : list of float
        Training loss of every epoch.
    best_loss_ : float or None
        Lowest training loss seen; None after a fit with early stopping,
        whose best epoch is the best validation score (as in MLPClassifier).
    validation_scores_ : list of float or None
        Validation R^2 of every epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best validation R^2 with early stopping, else None.
    n_iter_ : int
        Epochs run by the last call of ``fit`` or ``partial_fit`` (as in
        MLPClassifier: one after ``partial_fit``); ``loss_curve_`` and ``t_``
        count every epoch since the model was initialized.
    t_ : int
        Training samples seen since the model was initialized.

    See Also
    --------
    NumpyCNNClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : Dense network with the same API.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skcnn import NumpyCNNRegressor
    >>> X, _ = load_digits(return_X_y=True)
    >>> y = X[:, 27:29].mean(axis=1)  # the brightness of two central pixels
    >>> reg = NumpyCNNRegressor(filters=(8,), max_iter=5, random_state=0).fit(X[:500] / 16, y[:500])
    >>> reg.predict(X[:3] / 16).shape
    (3,)
    """

    def __init__(
        self,
        loss="squared_error",
        filters=(32, 64),
        kernel_size=3,
        pool_size=2,
        padding="same",
        hidden_layer_sizes=(128,),
        activation="relu",
        image_shape=None,
        data_format="channels_first",
        solver="adam",
        alpha=1e-2,
        dropout=0.0,
        batch_size=64,
        learning_rate_init=0.002,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=20,
        early_stopping="auto",
        validation_fraction=0.1,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        dtype=np.float32,
        n_jobs=None,
        learning_rate="constant",
        power_t=0.5,
        max_fun=15000,
        layers=None,
        augment=None,
        batchnorm_statistics="running",
        transform_layer=None,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            pool_size=pool_size,
            padding=padding,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            image_shape=image_shape,
            data_format=data_format,
            solver=solver,
            alpha=alpha,
            dropout=dropout,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            shuffle=shuffle,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            dtype=dtype,
            n_jobs=n_jobs,
            learning_rate=learning_rate,
            power_t=power_t,
            max_fun=max_fun,
            layers=layers,
            augment=augment,
            batchnorm_statistics=batchnorm_statistics,
            transform_layer=transform_layer,
        )
        self.loss = loss

    def fit(self, X, y, sample_weight=None):
        """Fit the network to data, for at most ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training images or signals.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts like that many
            copies of the sample.

        Returns
        -------
        self : NumpyCNNRegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(BaseCNN._check_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on the given data, keeping the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training images or signals.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets, with as many outputs as on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : NumpyCNNRegressor
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    # ------------------------------------------------------ the regression task

    def _y_validation(self):
        # Not y_numeric: it would turn object arrays of digit strings into
        # numbers and leave arrays of strings to fail in numpy;
        # _check_targets refuses every string with a message naming y.
        return {"multi_output": True, "y_numeric": False}

    def _check_targets(self, y, cold, incremental, extra):
        y = _numeric_targets(y)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(
                f"loss='poisson' needs non-negative targets, but y has negative "
                f"values (the smallest is {float(y.min())!r})."
            )
        if cold:
            return {"n_outputs": n_outputs, "ndim": y.ndim}
        if n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} outputs, but the model was fitted with "
                f"{self.n_outputs_}; set warm_start=False (or clone the "
                "estimator) to fit a new one."
            )
        return None

    def _encode_targets(self, y, targets):
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1)

    def _n_outputs(self, targets):
        return targets["n_outputs"]

    def _init_targets(self, targets):
        self.n_outputs_ = targets["n_outputs"]

    def _make_loss(self):
        return REGRESSION_LOSSES[self._architecture["loss"]](self.n_outputs_)

    def _validation_score(self, X, y, sample_weight):
        return float(r2_score(y, self._predict_2d(X), sample_weight=sample_weight))

    def _predict_2d(self, X):
        return REGRESSION_LOSSES[self._architecture["loss"]].predict(self._forward(X))

    def predict(self, X):
        """Predict the targets of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, of the shape ``y`` had in ``fit``: float32 when the
            model computes in float32 and ``X`` is float32, else float64, as
            MLPRegressor's dtype follows ``X``'s.
        """
        y = self._predict_2d(self._validate_X_predict(X))
        dtype = prediction_dtype(X, self._dtype())
        if dtype != y.dtype:  # float32: finite predictions stay finite
            limit = np.finfo(dtype).max
            y = np.clip(y, -limit, limit).astype(dtype)
        return y.ravel() if self._targets["ndim"] == 1 else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


def _numeric_targets(y):
    """``y`` as numbers; a ValueError naming ``y`` if it holds strings.

    Text is refused even when it spells numbers: a column of "1", "2" is as
    likely to be labels as quantities, and converting it is the user's call.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "OSU":
        return y
    text = next((v for v in y.flat if isinstance(v, (str, bytes))), None)
    if text is not None:
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
        raise ValueError(
            f"NumpyCNNRegressor needs numeric targets, but y holds strings (such as "
            f"{str(text)!r}). Convert y to numeric values explicitly (y.astype(float) for "
            "numbers written as text); for categories, use NumpyCNNClassifier."
        )
    return y.astype(np.float64)
