"""NumpyCNNClassifier: a convolutional network as a scikit-learn classifier."""

import math
import time
import warnings

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._functional import log_softmax, softmax
from ._batches import batch_count, canonical_batch, sample_label_keys
from ._interrupt import deferred_interrupt
from ._loss import SoftmaxCrossEntropy
from ._network import Sequential, build_cnn_layers
from ._parallel import ShardedStep, predict_in_chunks, resolve_n_jobs
from .layers import Conv2D, Dropout
from ._params import resolve_image_shape, validate_hyperparameters
from .optimizers import SGD, Adam

# Memory that one inference batch may use for its intermediate arrays: small
# enough that they are recycled by malloc rather than page-faulted in anew
# (measured: 16 MB predicts 20 % faster than 64 MB on net B).
_PREDICT_BATCH_BYTES = 16 * 2**20
# early_stopping="auto" holds out a validation set from this many samples on:
# below, the hold-out costs more accuracy than stopping on the training loss
# (digits); above, the training loss of a dropout network keeps setting new
# bests long after the validation score has stopped improving (MNIST).
EARLY_STOPPING_AUTO_MIN_SAMPLES = 5_000
# What a continued fit (warm_start, partial_fit) may not change. The dropout
# rate may change; turning dropout on or off may not (see _check_compatible).
_ARCHITECTURE = (
    "filters", "kernel_size", "pool_size", "padding", "hidden_layer_sizes", "activation", "dtype",
)


def _flatten_images(X):
    """Turn a 3-D ``(n, H, W)`` or 4-D ``(n, C, H, W)`` array into 2-D rows.

    Returns the 2-D data and the ``(C, H, W)`` of one sample (None for 2-D X).
    """
    ndim = getattr(X, "ndim", None)
    if ndim in (3, 4) and not issparse(X):
        shape = tuple(int(s) for s in X.shape[1:])
        shape = (1,) + shape if ndim == 3 else shape
        return np.reshape(X, (X.shape[0], -1)), shape
    return X, None


def _warn_if_channels_last(shape):
    """Warn when ``(C, H, W)`` looks like channels-last ``(H, W, C)`` images."""
    c, h, w = shape
    if w in (1, 3, 4) and w < c and w < h:
        warnings.warn(
            f"X holds samples of shape {shape}, read as {c} channels of {h} x {w} "
            f"images (channels first, as PyTorch). If they are {c} x {h} images "
            f"with {w} channels last (as PIL, matplotlib and scikit-learn's sample "
            "images are), pass np.moveaxis(X, -1, 1) instead.",
            UserWarning,
            stacklevel=5,  # the user's fit / partial_fit call
        )


def _one_image_hint(X, n_features_in):
    """A hint for a 2-D ``X`` that is one image rather than rows of samples."""
    shape = getattr(X, "shape", ())
    if len(shape) == 2 and shape[0] * shape[1] == n_features_in and shape[1] != n_features_in:
        return (
            f" X has the shape {tuple(shape)} of one image: pass X[None] (or "
            "X.reshape(1, -1)) for one sample."
        )
    return ""


class NumpyCNNClassifier(ClassifierMixin, BaseEstimator):
    """Convolutional neural network classifier, written in numpy.

    The network is ``len(filters)`` blocks of convolution -> activation ->
    max-pooling, then one dense layer + activation per entry of
    ``hidden_layer_sizes``, then a softmax output layer trained with the
    cross-entropy (log-loss). Parameters shared with
    :class:`~sklearn.neural_network.MLPClassifier` have its names and meanings.

    Parameters
    ----------
    filters : tuple of int, default=(32, 64)
        Output channels of each convolution block. ``()`` gives a plain
        multi-layer perceptron.
    kernel_size : int or tuple of (int, int), default=3
        Height and width of every convolution kernel.
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
        ``(H, W)`` or ``(C, H, W)`` of one sample of a 2-D ``X``. With None, a
        perfect-square ``n_features`` is read as one square channel and any
        other ``n_features`` as a ``1 x n_features`` signal. 3-D ``(n, H, W)``
        and 4-D ``(n, C, H, W)`` arrays carry their own shape.
    solver : {"adam", "sgd"}, default="adam"
        The optimizer: Adam, or SGD with momentum.
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
    max_iter : int, default=200
        Maximum number of epochs (passes over the data) of one ``fit``.
    tol : float, default=1e-4
        Improvement of the training loss (or validation score with
        ``early_stopping``) that counts as progress.
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
        Print one line per epoch: loss, validation score, seconds, time left.
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

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` had string column names.
    image_shape_ : tuple of (int, int, int)
        ``(C, H, W)`` of one sample.
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
    best_loss_ : float
        Lowest training loss seen.
    validation_scores_ : list of float or None
        Validation accuracy of every epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``, else None.
    n_iter_ : int
        Epochs trained since the model was initialized (``warm_start`` and
        ``partial_fit`` add to it).
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
    ):
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.padding = padding
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.image_shape = image_shape
        self.solver = solver
        self.alpha = alpha
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.class_weight = class_weight
        self.dtype = dtype
        self.n_jobs = n_jobs

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
        return self._fit(X, y, sample_weight, classes=None, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on the given data, keeping the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training images or signals.
        y : array-like of shape (n_samples,)
            Class labels, all of them in ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class the model will ever see. Required on the first call,
            optional (and checked) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : NumpyCNNClassifier
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, classes=classes, incremental=True)

    def _fit(self, X, y, sample_weight, classes, incremental):
        saved_state = dict(self.__dict__)
        saved_rng = self._rng.get_state() if incremental and hasattr(self, "_rng") else None
        data = None
        try:
            data = self._prepare_training(X, y, sample_weight, classes, incremental)
            if data["cold"]:
                self._initialize(data)
            else:
                self._architecture = data["arch"]  # the same, but for a new dropout rate
            self._train(data, incremental)
        except BaseException:
            # Leave the estimator as it was. Validation only added attributes;
            # a fresh fit built new objects and never touched the previous
            # ones; _train put back the weights and optimizer state of a failed
            # epoch in place. Only a warm-started fit keeps the epochs it
            # completed before the failure.
            if data is None or data["cold"] or incremental:
                self.__dict__.clear()
                self.__dict__.update(saved_state)
                if "_network" in self.__dict__:
                    self._sync_dropout_rate()
            if saved_rng is not None:
                self._rng.set_state(saved_rng)
            raise
        return self

    def _prepare_training(self, X, y, sample_weight, classes, incremental):
        """Validate everything a training call needs, before any training.

        Only ``validate_data`` writes to ``self`` here (``n_features_in_``,
        ``feature_names_in_``); ``_fit`` undoes that when anything fails.
        """
        arch = validate_hyperparameters(self)
        fitted = hasattr(self, "_network")
        cold = not fitted or not (incremental or self.warm_start)
        if incremental and not isinstance(self.early_stopping, str) and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True (with "
                "early_stopping='auto' it trains on every sample)."
            )
        if incremental and cold and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the "
                "list of every class the model will see."
            )
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the "
                "class frequencies of a stream are not known. Pass a dict."
            )
        X, shape_from_X = _flatten_images(X)
        dtype = np.dtype(arch["dtype"]) if cold else self._dtype()
        X, y = validate_data(self, X, y, reset=cold, dtype=dtype)
        check_classification_targets(y)
        if cold:
            classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(classes_) < 2:
                where = "the data contains" if classes is None else "classes holds"
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes, but {where} "
                    f"only one class: {classes_.tolist()[0]!r}."
                )
            image_shape = resolve_image_shape(self.image_shape, X.shape[1], shape_from_X)
            if shape_from_X is not None:
                _warn_if_channels_last(shape_from_X)
            layers = build_cnn_layers(
                image_shape, len(classes_), **{k: v for k, v in arch.items() if k != "dtype"}
            )
        else:
            classes_, image_shape = self.classes_, self.image_shape_
            self._check_compatible(arch, classes, y, shape_from_X, incremental)
            layers = None
        unseen = ~np.isin(y, classes_)
        if unseen.any():
            raise ValueError(
                f"y contains labels not in classes: {np.unique(y[unseen]).tolist()!r}; "
                f"the model's classes are {classes_.tolist()!r}."
            )
        y_index = np.searchsorted(classes_, y)
        weights = self._effective_weights(sample_weight, X, y, y_index, classes_)
        data = {
            "cold": cold, "arch": arch, "dtype": dtype, "classes": classes_,
            "image_shape": image_shape, "layers": layers,
        }
        rng = check_random_state(self.random_state)
        if incremental and not cold:
            rng = self._rng
        data["rng"] = rng
        data.update(self._split(X, y_index, weights, rng) if not incremental else {
            "train": (X, y_index, weights), "val": None,
        })
        return data

    def _check_compatible(self, arch, classes, y, shape_from_X, incremental):
        """Checks for a call that continues training an existing model."""
        old, new = self._architecture["dropout"], arch["dropout"]
        if (old > 0) != (new > 0):
            raise ValueError(
                f"dropout changed from {old!r} to {new!r} since the model was built: "
                "turning dropout on or off changes the network's layers (a new rate "
                "is fine); set warm_start=False (or clone the estimator) to build a new one."
            )
        for name in _ARCHITECTURE:
            if arch[name] != self._architecture[name]:
                raise ValueError(
                    f"{name} changed from {self._architecture[name]!r} to "
                    f"{arch[name]!r} since the model was built; set "
                    "warm_start=False (or clone the estimator) to build a new one."
                )
        if shape_from_X is not None and shape_from_X != self.image_shape_:
            raise ValueError(
                f"X holds samples of shape {shape_from_X}, but the model was "
                f"built for image_shape_={self.image_shape_}."
            )
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()!r} is not the same as on the "
                f"first call to partial_fit: {self.classes_.tolist()!r}."
            )
        if not incremental and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError(
                "warm_start can only be used where y has the same classes as in "
                f"the previous fit: {self.classes_.tolist()!r}; y has "
                f"{np.unique(y).tolist()!r}."
            )

    def _effective_weights(self, sample_weight, X, y, y_index, classes_):
        """Sample weights times class weights, or None when all are 1."""
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        if self.class_weight is not None:
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
                per_class = np.array(
                    [float(self.class_weight.get(c, 1.0)) for c in classes_.tolist()]
                )
            class_w = per_class[y_index].astype(X.dtype)
            weights = class_w if weights is None else weights * class_w
        if weights is not None and not weights.sum() > 0:
            raise ValueError(
                "The sample weights (times class_weight) sum to zero: there is "
                "nothing to learn from."
            )
        return weights

    def _split(self, X, y_index, weights, rng):
        """Hold out the early-stopping validation set (stratified).

        The validation set gets at least one sample per class (and 2 in all),
        so that stratification is possible on small data.
        """
        n, n_classes = X.shape[0], len(np.unique(y_index))
        auto = isinstance(self.early_stopping, str)  # "auto"
        if not (n >= EARLY_STOPPING_AUTO_MIN_SAMPLES if auto else self.early_stopping):
            return {"train": (X, y_index, weights), "val": None}
        n_val = max(math.ceil(self.validation_fraction * n), n_classes, 2)
        if n - n_val < n_classes:
            raise ValueError(
                f"early_stopping=True needs a stratified validation set of "
                f"{n_val} samples (validation_fraction={self.validation_fraction!r}, "
                f"at least one sample per class) and at least one training sample "
                f"per class, but X has only {n} samples of {n_classes} classes. "
                "Use more data or early_stopping=False."
            )
        arrays = [X, y_index] if weights is None else [X, y_index, weights]
        parts = train_test_split(*arrays, test_size=n_val, random_state=rng, stratify=y_index)
        X_train, X_val, y_train, y_val = parts[:4]
        w_train, w_val = parts[4:] if weights is not None else (None, None)
        return {"train": (X_train, y_train, w_train), "val": (X_val, y_val, w_val)}

    def _initialize(self, data):
        """Build a fresh network and reset everything learned."""
        rng = data["rng"]
        network = Sequential(data["layers"], reuse_buffers=True)
        network.build(data["image_shape"], rng, data["dtype"])
        self._network = network
        self._architecture = data["arch"]
        self._rng = rng
        self.classes_ = data["classes"]
        self.image_shape_ = data["image_shape"]
        self._optimizer = None
        self._link_parameters()
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_ = None
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _sync_dropout_rate(self):
        """Give the Dropout layers the model's rate (warm_start and partial_fit may change it)."""
        for layer in self._network.layers:
            if isinstance(layer, Dropout):
                layer.rate = self._architecture["dropout"]

    def _dtype(self):
        """The float dtype the model computes in: that of its weights."""
        return self.coefs_[0].dtype

    def _link_parameters(self):
        """Point coefs_, intercepts_ and the optimizer at the network's arrays."""
        weighted = [layer for layer in self._network.layers if getattr(layer, "weight", None) is not None]
        self.coefs_ = [layer.weight for layer in weighted]
        self.intercepts_ = [layer.bias for layer in weighted]
        self._coef_grads = [layer.grads[0] for layer in weighted]
        if self._optimizer is not None:
            self._optimizer.params = self._network.params

    def __getstate__(self):
        # Every array is stored once, in the network; the lists that share it
        # are rebuilt on load (joblib's pickler does not keep shared references).
        state = dict(super().__getstate__())  # may be the live __dict__ itself
        for name in ("coefs_", "intercepts_", "_coef_grads"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_network" in self.__dict__:
            self._link_parameters()

    def _make_optimizer(self):
        params = self._network.params
        if self.solver == "sgd":
            return SGD(params, self.learning_rate_init, self.momentum, self.nesterovs_momentum)
        return Adam(params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

    # ------------------------------------------------------------- training

    def _train(self, data, incremental):
        """The epoch loop: stopping rules, divergence, Ctrl-C, verbose output."""
        if self._optimizer is None or not incremental:
            self._optimizer = self._make_optimizer()
        if data["val"] is not None and self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if not incremental:
            self._no_improvement_count = 0
        X, y, w = data["train"]
        rng = data["rng"]
        n_batches = batch_count(X.shape[0], 200 if self.batch_size == "auto" else self.batch_size)
        keys = sample_label_keys(X, y)
        n_epochs = 1 if incremental else self.max_iter
        best_params = None
        started = time.perf_counter()
        if self.verbose and self.n_iter_ == 0:
            print(
                f"Training on {X.shape[0]} samples read as "
                f"{' x '.join(map(str, self.image_shape_))} images "
                f"(image_shape_, channels x height x width) in {self._dtype().name}, "
                f"{n_batches} batches per epoch.",
                flush=True,
            )
        max_batch_len = -(-X.shape[0] // n_batches)
        # Dropout masks hash the samples with (this draw, epoch, batch): drawn
        # before any shuffle, so that repeated and weighted samples, whose
        # shuffles differ, get the same masks.
        seed = int(rng.randint(2**31 - 1)) if self._architecture["dropout"] > 0 else None
        self._sync_dropout_rate()
        step = ShardedStep(
            self._network, SoftmaxCrossEntropy(), max_batch_len, seed, n_batches * n_epochs,
            self.n_jobs,
        )
        with deferred_interrupt() as interrupt, step:
            for epoch in range(n_epochs):
                snapshot = self._snapshot()
                try:
                    # Overflow is handled below as divergence, with a clear warning.
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        loss, stopped = self._run_epoch(
                            X, y, w, keys, n_batches, rng, step, interrupt
                        )
                except BaseException:
                    self._restore(snapshot)
                    raise
                if stopped == "diverged" or not self._params_finite():
                    self._restore(snapshot)
                    self._warn_diverged(epoch)
                    break
                if stopped == "interrupted":
                    warnings.warn(
                        "Training interrupted by the user (Ctrl-C): stopped at the "
                        f"end of a batch of epoch {self.n_iter_ + 1}. The model is "
                        "usable; call fit or partial_fit again to continue.",
                        UserWarning,
                        stacklevel=4,  # the user's fit / partial_fit call
                    )
                    break
                self.n_iter_ += 1
                self.t_ += X.shape[0]
                self.loss_ = loss
                self.loss_curve_.append(loss)
                improved = self._track_progress(data["val"])
                if improved and data["val"] is not None:
                    best_params = [p.copy() for p in self._network.params]
                if self.verbose:
                    self._print_progress(epoch, n_epochs, started)
                if not incremental and self._no_improvement_count > self.n_iter_no_change:
                    break
            else:
                if not incremental:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=4,
                    )
        self._network.clear_cache()  # the fitted model keeps no training buffers
        if best_params is not None:
            for p, best in zip(self._network.params, best_params):
                p[...] = best

    def _run_epoch(self, X, y, w, keys, n_batches, rng, step, interrupt):
        """One pass over the data; returns (mean loss, None | "diverged" | "interrupted")."""
        n = X.shape[0]
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        total_loss = total_weight = 0.0
        for index, batch in enumerate(np.array_split(order, n_batches)):
            batch, w_batch = canonical_batch(batch, keys, X, y, w)
            weight = float(len(batch)) if w_batch is None else float(w_batch.sum(dtype=np.float64))
            if weight == 0:
                continue
            X_batch = X[batch].reshape((-1,) + self.image_shape_)
            loss = self._train_step(step, X_batch, y[batch], w_batch, weight, (self.n_iter_, index))
            if not np.isfinite(loss):
                return loss, "diverged"
            total_loss += loss * weight
            total_weight += weight
            if interrupt.requested:
                return total_loss / total_weight, "interrupted"
        return total_loss / total_weight, None

    def _train_step(self, step, X_batch, y_batch, w_batch, weight_sum, key):
        """Forward, loss (+ L2), backward (by ``step``, see ShardedStep) and one optimizer step."""
        network = self._network
        loss = step(X_batch, y_batch, w_batch, weight_sum, key)
        if self.alpha > 0:
            scale = self.alpha / weight_sum
            penalty = 0.0
            for W, G in zip(self.coefs_, self._coef_grads):
                flat = W.ravel()
                penalty += float(flat @ flat)
                G += W.dtype.type(scale) * W
            loss += 0.5 * scale * penalty
        self._optimizer.step(network.grads, step.map_pieces)
        return loss

    def _snapshot(self):
        return [p.copy() for p in self._network.params], self._optimizer.state()

    def _restore(self, snapshot):
        params, optimizer_state = snapshot
        for p, saved in zip(self._network.params, params):
            p[...] = saved
        self._optimizer.set_state(optimizer_state)
        self._network.clear_cache()

    def _params_finite(self):
        return all(np.isfinite(p).all() for p in self._network.params)

    def _warn_diverged(self, epoch):
        warnings.warn(
            f"Training diverged: the loss or the weights became non-finite "
            f"during epoch {epoch + 1} of this call. Training stopped and the "
            "model keeps its last finite weights (from before that epoch). "
            f"Lower learning_rate_init (now {self.learning_rate_init!r}).",
            ConvergenceWarning,
            stacklevel=5,
        )

    def _track_progress(self, val):
        """Update the no-improvement counter (as MLPClassifier); True if improved.

        Progress is the training loss, or the validation accuracy with
        early stopping.
        """
        loss = self.loss_curve_[-1]
        if val is None:
            stalled = loss > self.best_loss_ - self.tol
            improved = loss < self.best_loss_
        else:
            X_val, y_val, w_val = val
            score = float(accuracy_score(y_val, self._predict_index(X_val), sample_weight=w_val))
            self.validation_scores_.append(score)
            stalled = score < self.best_validation_score_ + self.tol
            improved = score > self.best_validation_score_
            self.best_validation_score_ = max(self.best_validation_score_, score)
        self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = self._no_improvement_count + 1 if stalled else 0
        return improved

    def _print_progress(self, epoch, n_epochs, started):
        elapsed = time.perf_counter() - started
        line = f"Epoch {self.n_iter_}, loss = {self.loss_:.6f}"
        if self.validation_scores_:
            line += f", validation score = {self.validation_scores_[-1]:.4f}"
        per_epoch = elapsed / (epoch + 1)
        line += f", {per_epoch:.2f} s/epoch"
        if n_epochs > 1:
            line += f", at most {per_epoch * (n_epochs - epoch - 1):.0f} s left"
        print(line, flush=True)

    # ------------------------------------------------------------ predict

    def _validate_X_predict(self, X):
        check_is_fitted(self)
        hint = _one_image_hint(X, self.n_features_in_)
        X, shape_from_X = _flatten_images(X)
        try:
            X = validate_data(self, X, reset=False, dtype=self._dtype())
        except ValueError as error:
            if hint and "features" in str(error):
                raise ValueError(str(error) + hint) from None
            raise
        if shape_from_X is not None and shape_from_X != self.image_shape_:
            raise ValueError(
                f"X holds samples of shape {shape_from_X}, but the model was "
                f"fitted on samples of shape {self.image_shape_}."
            )
        return X

    def _predict_batch_size(self):
        """Samples per inference batch so that its arrays stay within budget."""
        per_sample = 0
        for layer in self._network.layers:
            per_sample += int(np.prod(layer.output_shape))
            if isinstance(layer, Conv2D):
                kh, kw = layer.kernel_size
                _, ho, wo = layer.output_shape
                per_sample += ho * wo * kh * kw * layer.input_shape[0]
        itemsize = self._dtype().itemsize
        return int(np.clip(_PREDICT_BATCH_BYTES // (per_sample * itemsize), 1, 4096))

    def _logits(self, X):
        """Float64 logits of validated 2-D X, computed batch by batch."""
        out = np.empty((X.shape[0], len(self.classes_)), dtype=np.float64)
        predict_in_chunks(
            self._network, X, self.image_shape_, out, self._predict_batch_size(),
            resolve_n_jobs(self.n_jobs),
        )
        # Finite weights can still overflow float32 activations: keep logits finite.
        big = np.finfo(np.float64).max / 4
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=big, neginf=-big)

    def _predict_index(self, X):
        return self._logits(X).argmax(axis=1)

    @property
    def layers_(self):
        """The fitted layers, in network order (see :mod:`skcnn.layers`)."""
        check_is_fitted(self)
        return list(self._network.layers)

    def layer_outputs(self, X):
        """The output of every layer for ``X``: feature maps for inspection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals (a few: every layer's output is kept).

        Returns
        -------
        outputs : list of ndarray
            One array per layer of ``layers_``: ``(n_samples, C, H, W)`` after
            convolution, pooling and their activations, ``(n_samples, n)``
            after Flatten and dense layers; the last holds the logits.

        Notes
        -----
        With ``activation="relu"`` each block is built conv -> pool -> relu
        (identical to conv -> relu -> pool, and cheaper), so no output is the
        full-resolution relu of a convolution; ``np.maximum(outputs[i], 0)``
        of a ``Conv2D`` output ``i`` is. ``ActivationsDisplay`` shows exactly
        those maps.
        """
        X = self._validate_X_predict(X)
        images = X.reshape((-1,) + self.image_shape_)
        return [np.ascontiguousarray(out) for out in self._network.forward_all(images)]

    def predict_proba(self, X):
        """Probability of every class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities (float64), in the order of ``classes_``.
        """
        return softmax(self._logits(self._validate_X_predict(X)))

    def predict_log_proba(self, X):
        """Logarithm of the probability of every class (by log-sum-exp).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, in the order of ``classes_``.
        """
        return log_softmax(self._logits(self._validate_X_predict(X)))

    def predict(self, X):
        """Predict the class of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Images or signals.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]
