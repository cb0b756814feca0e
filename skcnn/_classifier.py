"""NumpyCNNClassifier: a convolutional network as a scikit-learn classifier."""

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ._base import BaseCNN
from ._loss import LogisticLoss, SoftmaxCrossEntropy, softmax
from ._training.callbacks import CallbackSupportMixin
from ._validation import prediction_dtype


class NumpyCNNClassifier(CallbackSupportMixin, ClassifierMixin, BaseCNN):
    """Convolutional neural network classifier, written in numpy.

    The network is ``len(filters)`` blocks of convolution -> activation ->
    max-pooling, then one dense layer + activation per entry of
    ``hidden_layer_sizes``, then a softmax output layer trained with the
    cross-entropy (log-loss); ``layers`` takes any other network as a list
    of named layers, and ``augment`` random transforms of the training
    images. Parameters shared with
    :class:`~sklearn.neural_network.MLPClassifier` have its names and meanings.

    Parameters
    ----------
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
    dropout : float in [0, 1), default=0.5
        Dropout rate before every dense layer, that is on the flattened
        convolution features and on every hidden layer's output: in training
        each of those values is zeroed with this probability and the others
        are scaled by ``1 / (1 - dropout)``; predictions use every unit. The
        masks are reproducible with ``random_state`` and identical for
        identical samples (see :class:`skcnn.layers.Dropout`). 0 disables
        dropout.
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
        MLPClassifier's 10: with dropout the training loss is noisier, and
        stopping at 10 cost 0.1 point of accuracy on digits.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when its accuracy stops improving and keep the best weights.
        "auto" turns it on for ``fit`` on at least 5,000 samples (as
        HistGradientBoostingClassifier's "auto" does above a sample count):
        there the training loss of a network with dropout keeps improving
        slowly long after the accuracy has stopped (MNIST's 8,000 images
        trained 78 epochs without it), while on small data the hold-out
        costs accuracy. ``partial_fit`` never holds data out, nor does "auto"
        when a class has a single sample (a stratified split needs two).
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
    class_weight : dict, "balanced" or None, default=None
        Weights ``{class_label: weight}`` multiplied into the sample weights;
        "balanced" uses ``n_samples / (n_classes * np.bincount(y))``.
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
        layer, a ``Dense`` named ``"out"`` (one logit per class, or one for
        two classes: softmax or logistic outputs come from the loss).
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
    classes_ : ndarray of shape (n_classes,)
        The class labels.
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
        Validation accuracy of every epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``, else None.
    n_iter_ : int
        Epochs run by the last call of ``fit`` or ``partial_fit`` (as in
        MLPClassifier: one after ``partial_fit``); ``loss_curve_`` and ``t_``
        count every epoch since the model was initialized.
    t_ : int
        Training samples seen since the model was initialized.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : Dense network with the same API.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcnn import NumpyCNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NumpyCNNClassifier(max_iter=5, random_state=0).fit(X[:500] / 16, y[:500])
    >>> clf.image_shape_
    (1, 8, 8)
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    def __init__(
        self,
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
        dropout=0.5,
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
        class_weight=None,
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
        self.class_weight = class_weight

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Fit the network to data, for at most ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training images or signals.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts like that many
            copies of the sample.

        Returns
        -------
        self : NumpyCNNClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(BaseCNN._check_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train for one epoch on the given data, keeping the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training images or signals.
        y : array-like of shape (n_samples,)
            Class labels, all of them in ``classes``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.
        classes : array-like of shape (n_classes,), default=None
            Every class the model will ever see. Required on the first call,
            optional (and checked) afterwards.

        Returns
        -------
        self : NumpyCNNClassifier
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True, extra=classes)

    # ------------------------------------------------- the classification task

    def _y_validation(self):
        return {"multi_output": True}

    def _check_targets(self, y, cold, incremental, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        kind = type_of_target(y, input_name="y")
        multilabel = kind == "multilabel-indicator"
        if y.ndim == 2 and not multilabel:
            raise ValueError(
                f"y is 2-D but not a multilabel indicator matrix (type_of_target: "
                f"{kind!r}): pass class labels as a 1-D array, or one column of zeros "
                "and ones per label."
            )
        check_classification_targets(y)
        if multilabel and self.class_weight is not None:
            raise ValueError(
                f"class_weight={self.class_weight!r} is not supported with multilabel "
                "y (as in MLPClassifier); weigh the samples with sample_weight."
            )
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the "
                "class frequencies of a stream are not known. Pass a dict."
            )
        if multilabel:
            labels = np.arange(y.shape[1])
            if classes is not None and not np.array_equal(np.unique(classes), labels):
                raise ValueError(
                    f"classes={np.asarray(classes).tolist()!r} does not match the "
                    f"{y.shape[1]} labels of the multilabel y: pass classes="
                    f"{labels.tolist()!r} or None."
                )
            found = {"classes": labels, "multilabel": True}
        else:
            if incremental and cold and classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: the "
                    "list of every class the model will see."
                )
            # One class is fine, as in MLPClassifier: the model predicts it.
            classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            found = {"classes": classes_, "multilabel": False}
        if cold:
            return found
        if found["multilabel"] != self._multilabel:
            raise ValueError(
                "y is " + ("a multilabel indicator matrix" if multilabel else "1-D labels")
                + " but the model was fitted on "
                + ("multilabel y" if self._multilabel else "1-D labels")
                + "; set warm_start=False (or clone the estimator) to fit a new model."
            )
        if multilabel and len(found["classes"]) != len(self.classes_):
            raise ValueError(
                f"y has {len(found['classes'])} labels but the model was fitted on "
                f"{len(self.classes_)}."
            )
        if multilabel:
            return None
        if classes is not None and not np.array_equal(found["classes"], self.classes_):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()!r} is not the same as on the "
                f"first call to partial_fit: {self.classes_.tolist()!r}."
            )
        if not incremental and not np.array_equal(np.unique(y), self.classes_):
            # MLPClassifier's words, then the way out.
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in "
                f"the previous call to fit. Previously got {self.classes_}, `y` has "
                f"{np.unique(y)}. Set warm_start=False (or clone the estimator) to "
                "fit a new model."
            )
        return None

    def _encode_targets(self, y, labels):
        """Class indices for softmax; a column of 0/1 for the single logistic
        output of two classes; the indicator matrix for multilabel y."""
        if labels["multilabel"]:
            return np.asarray(y, dtype=np.float32)  # zeros and ones: exact
        y = column_or_1d(y) if y.ndim == 2 else y
        classes_ = labels["classes"]
        unseen = ~np.isin(y, classes_)
        if unseen.any():
            raise ValueError(
                f"y contains labels not in classes: {np.unique(y[unseen]).tolist()!r}; "
                f"the model's classes are {classes_.tolist()!r}."
            )
        y_index = np.searchsorted(classes_, y)
        if len(classes_) == 2:
            return y_index.astype(np.float32)[:, None]
        return y_index

    @staticmethod
    def _class_index(y_encoded):
        """The class index of every sample from its encoded target (not multilabel)."""
        return y_encoded[:, 0].astype(np.intp) if y_encoded.ndim == 2 else y_encoded

    def _n_outputs(self, labels):
        n = len(labels["classes"])
        return 1 if n == 2 and not labels["multilabel"] else n

    def _init_targets(self, labels):
        self.classes_ = labels["classes"]
        self._multilabel = labels["multilabel"]

    def _make_loss(self):
        if self._logistic_outputs():
            return LogisticLoss(self._n_outputs(self._targets))
        return SoftmaxCrossEntropy()

    def _stratify(self, y_encoded):
        multilabel = y_encoded.ndim == 2 and y_encoded.shape[1] > 1
        return None if multilabel else self._class_index(y_encoded)

    def _validation_score(self, X, y_encoded, sample_weight):
        predicted = self._predict_encoded(self._forward(X))
        return float(accuracy_score(y_encoded, predicted, sample_weight=sample_weight))

    def _predict_encoded(self, out):
        """Predictions in the encoding of ``_encode_targets``, from the outputs."""
        if self._logistic_outputs():
            return (out > 0).astype(np.float32)
        return out.argmax(axis=1)

    def _logistic_outputs(self):
        """Whether the outputs are logits of sigmoids (two classes, multilabel)."""
        return self._multilabel or len(self.classes_) == 2

    def _sample_weights(self, sample_weight, X, y_encoded, labels):
        """Sample weights times class weights, or None when all are 1."""
        weights = super()._sample_weights(sample_weight, X, y_encoded, labels)
        if self.class_weight is None:
            return weights
        classes_, y_index = labels["classes"], self._class_index(y_encoded)
        if self.class_weight == "balanced":
            # n_samples / (n_classes * count), counting with the sample
            # weights so that integer weights act like repeated samples.
            counts = np.bincount(y_index, weights=weights, minlength=len(classes_))
            present = counts > 0
            per_class = np.ones(len(classes_))
            per_class[present] = counts.sum() / (present.sum() * counts[present])
        else:
            unknown = [c for c in self.class_weight if not np.isin(c, classes_)]
            if unknown:
                raise ValueError(
                    f"class_weight has labels that are not classes: {unknown!r}; "
                    f"the classes are {classes_.tolist()!r}."
                )
            per_class = np.array([float(self.class_weight.get(c, 1.0)) for c in classes_.tolist()])
        class_w = per_class[y_index].astype(X.dtype)
        return class_w if weights is None else weights * class_w

    def predict_proba(self, X):
        """Probability of every class (of every label, for multilabel y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, in the order of ``classes_``. With two
            classes the network has one logistic output ``p`` and the columns
            are ``1 - p`` and ``p``, as in MLPClassifier (``1 - p`` computed
            as ``sigmoid(-z)``, accurate near 1); with multilabel y, column
            ``j`` is the probability of label ``j``. float32 when the model
            computes in float32 and ``X`` is float32, else float64, as
            MLPClassifier's dtype follows ``X``'s.
        """
        out, dtype = self._outputs(X)
        return self._proba(out, dtype)

    def _outputs(self, X):
        """The network's float64 outputs for ``X`` and the dtype of the predictions."""
        out = self._forward(self._validate_X_predict(X))
        return out, prediction_dtype(X, self._dtype())

    def _proba(self, out, dtype):
        """Probabilities from float64 logits, computed in float64, returned in ``dtype``."""
        if self._multilabel:
            proba = expit(out)
        elif self._logistic_outputs():
            proba = np.hstack([expit(-out), expit(out)])  # 1 - p without cancellation
        else:
            proba = softmax(out)
        return proba.astype(dtype, copy=False)

    def predict_log_proba(self, X):
        """Logarithm of the probability of every class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``, in its order and dtype, as in
            MLPClassifier (and as scikit-learn's estimator checks require):
            both rank the classes alike, and a probability that rounds to 1
            has the log 0 whatever its logit. The probabilities come from
            float64 logits (softmax with the maximum subtracted, or sigmoids):
            a log is as accurate as its probability, and ``-inf`` where the
            probability underflowed to 0, beyond a logit gap of about 100
            for float32 predictions and 740 for float64.
        """
        out, dtype = self._outputs(X)
        proba = self._proba(out, dtype)
        with np.errstate(divide="ignore"):  # log(0) = -inf, as MLPClassifier
            return np.log(proba, out=proba)

    def predict(self, X):
        """Predict the class of every sample (the labels, for multilabel y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted class labels: those of the largest ``predict_proba``
            (the first of equal ones); for multilabel y the indicator matrix
            (1 where a label's probability is above 0.5).
        """
        proba = self._proba(*self._outputs(X))
        if self._multilabel:
            return (proba > 0.5).astype(np.int64)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
