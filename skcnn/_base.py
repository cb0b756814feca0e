"""The scikit-learn surface shared by NumpyCNNClassifier and NumpyCNNRegressor.

``BaseCNN`` holds what does not depend on the task, as scikit-learn's
``BaseMultilayerPerceptron`` does for MLPClassifier and MLPRegressor: the
parameters, the validation of a training call, the network's construction,
the fitted attributes and batched inference (``transform``, ``layer_outputs``
and ``summary`` call ``skcnn._features`` and ``skcnn._summary``). The
training loops are in ``skcnn._training`` (``StochasticTrainingMixin`` for
SGD and Adam, ``LbfgsTrainingMixin`` for L-BFGS), which ``BaseCNN``
inherits. A subclass
gives its loss, how targets are checked and encoded, its sample weights,
its validation split and score, and its predictions.
"""

import math

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._architecture import (
    NETWORK_PARAMS,
    build_cnn_layers,
    check_shapes,
    continue_with,
    copy_layers,
    describe_change,
    layer_params,
    replace_layers,
    sample_ndim,
    with_output_layer,
)
from ._features import (
    compute_layer_outputs,
    feature_layer,
    feature_names,
    layer_indices,
    transform_dtypes,
)
from ._network import Sequential
from ._summary import network_block, network_summary, params_html
from ._training.callbacks import epoch_tasks
from ._training.common import TrainingCall
from ._training.lbfgs import LbfgsTrainingMixin
from ._training.parallel import predict_in_chunks, resolve_n_jobs
from ._training.stochastic import StochasticTrainingMixin
from ._validation import (
    channels_first_rows,
    flatten_images,
    one_image_hint,
    resolve_image_shape,
    user_layout,
    validate_hyperparameters,
    warn_if_beyond_float32,
    warn_if_misread,
)
from .augmentation import check_sample_shape, check_transforms
from .layers import Dropout

# Memory that one inference batch may use for its intermediate arrays: small
# enough that they are recycled by malloc rather than page-faulted in anew.
_PREDICT_BATCH_BYTES = 16 * 2**20
# early_stopping="auto" holds out a validation set from this many samples on:
# below, the hold-out costs more accuracy than stopping on the training loss
# (digits); above, the training loss of a dropout network keeps setting new
# bests long after the validation score has stopped improving (MNIST).
EARLY_STOPPING_AUTO_MIN_SAMPLES = 5_000
# What a continued fit (warm_start, partial_fit) may not change, where the
# estimator has it. The dropout rate may change; turning dropout on or off
# may not (see _check_compatible).
_ARCHITECTURE = tuple(key for key in NETWORK_PARAMS if key != "dropout") + ("dtype", "loss", "data_format")
# Parameters added since skcnn 0.1.0, with the value that reads its saved models as they were.
_NEW_PARAMS = {"data_format": "channels_first", "transform_layer": None}


class BaseCNN(TransformerMixin, StochasticTrainingMixin, LbfgsTrainingMixin, BaseEstimator):
    """Base class of the estimators: training and inference of the network.

    Warning: use NumpyCNNClassifier or NumpyCNNRegressor instead.

    A ``layers`` list gets Pipeline's parameter handling (as scikit-learn's
    ``_BaseComposition`` gives Pipeline's steps): ``get_params`` exposes each
    layer by name and its parameters as ``name__param``; ``set_params``
    replaces a layer by name or sets its parameters.
    """

    def __init__(
        self, filters, kernel_size, pool_size, padding, hidden_layer_sizes, activation,
        image_shape, solver, alpha, dropout, batch_size, learning_rate_init, max_iter, tol,
        n_iter_no_change, early_stopping, validation_fraction, momentum, nesterovs_momentum,
        beta_1, beta_2, epsilon, shuffle, random_state, verbose, warm_start, dtype, n_jobs,
        learning_rate, power_t, max_fun, layers=None, augment=None,
        batchnorm_statistics="running", data_format="channels_first", transform_layer=None,
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
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.max_fun = max_fun
        self.layers = layers
        self.augment = augment
        self.batchnorm_statistics = batchnorm_statistics
        self.data_format = data_format
        self.transform_layer = transform_layer

    def __getstate__(self):
        """Pickle (pickle, skops, deep copies) without the training data a fit
        in progress holds (``_training_call``): a copy taken mid-fit, by a
        callback for instance, is the model, not the model and its data."""
        state = super().__getstate__()
        if "_training_call" in state:
            state = {k: v for k, v in state.items() if k != "_training_call"}
        return state

    def __setstate__(self, state):
        """Unpickle (pickle and skops), giving a model saved before a parameter
        existed that parameter's default, which reads its input as it did."""
        state = {**_NEW_PARAMS, **state}
        if "_architecture" in state:
            state["_architecture"] = {**_NEW_PARAMS, **state["_architecture"]}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified one batch at a time
        # transform returns float32 and float64 X in their dtype (see transform_dtypes).
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def get_params(self, deep=True):
        """Get the parameters of this estimator.

        Parameters
        ----------
        deep : bool, default=True
            Also return each layer of ``layers`` by its name and its
            parameters as ``name__param`` (``conv1__filters``), as Pipeline
            does for its steps.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        if deep:
            params.update(layer_params(self.layers))
        return params

    def set_params(self, **params):
        """Set the parameters of this estimator.

        ``set_params(conv1=Conv2D(16))`` replaces the layer named ``conv1``
        of ``layers``; ``set_params(conv1__filters=16)`` sets a parameter of
        that layer (in the list's own object, as Pipeline does).

        Parameters
        ----------
        **params : dict
            Estimator parameters, layer names and ``name__param`` keys.

        Returns
        -------
        self : estimator instance
            The estimator.
        """
        if "layers" in params:  # first, as Pipeline: the other keys may name its layers
            self.layers = params.pop("layers")
        self.layers = replace_layers(self.layers, params)
        return super().set_params(**params)

    # ------------------------------------------------- what a subclass gives

    def _check_targets(self, y, cold, incremental, extra):
        """Check ``y`` (``extra``: what partial_fit passed besides, as the
        classes); on a cold start return what the model learns of it (kept
        as ``TrainingCall.targets``), else check it against the model."""
        raise NotImplementedError

    def _encode_targets(self, y, targets):
        """The training targets the loss takes."""
        raise NotImplementedError

    def _n_outputs(self, targets):
        raise NotImplementedError

    def _make_loss(self):
        raise NotImplementedError

    def _init_targets(self, targets):
        """Store the fitted attributes of the targets (``classes_``, ...)."""
        raise NotImplementedError

    def _sample_weights(self, sample_weight, X, y_encoded, targets):
        """The effective weight of every sample, or None when all are one."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)

    def _stratify(self, y_encoded):
        """What the early-stopping split stratifies on (None: not stratified)."""
        return None

    def _validation_score(self, X, y_encoded, sample_weight):
        raise NotImplementedError

    # ------------------------------------------------------------------ fit

    def _fit(self, X, y, sample_weight, incremental, extra=None, resume=None):
        """Train (fit and partial_fit); ``resume``: where an interrupted fit
        of this estimator stood, loaded from a checkpoint (a ``ResumePoint``
        of ``skcnn._training.checkpoint``), whose remaining epochs then run
        as they would have."""
        saved_state = dict(self.__dict__)
        call = None
        try:
            call = self._prepare_training(X, y, sample_weight, incremental, extra, resume)
            if call.resume is not None:  # the loaded network, mid-fit
                if call.cold:
                    self._rng = call.rng  # as _initialize made it: the loop's stream
            elif call.cold:
                self._initialize(call)
            else:
                self._architecture = call.arch  # the same, but for a new dropout rate
            train = self._train_lbfgs if self.solver == "lbfgs" else self._train_stochastic
            self._training_call = call  # what a Checkpoint saves besides the estimator
            with epoch_tasks(self, X, y, sample_weight, incremental) as epochs:
                train(call, epochs)  # L-BFGS's iterations are its tasks
        except BaseException:
            # Leave the estimator as it was. Validation only added attributes;
            # a fresh fit built new objects and never touched the previous
            # ones; the loop put back the weights and optimizer state of a failed
            # epoch in place. Only a warm-started fit keeps the epochs it
            # completed before the failure.
            if call is None or call.cold or incremental:
                self.__dict__.clear()
                self.__dict__.update(saved_state)
                if "_network" in self.__dict__:
                    self._sync_dropout_rate()
            if call is not None and incremental and not call.cold:
                # The model's own stream, which the call drew from: back to
                # where the call found it.
                self._rng.set_state(call.start_state)
            raise
        finally:
            self.__dict__.pop("_training_call", None)
        return self

    def _prepare_training(self, X, y, sample_weight, incremental, extra, resume=None):
        """Validate everything a training call needs, before any training.

        Only ``validate_data`` writes to ``self`` here (``n_features_in_``,
        ``feature_names_in_``); ``_fit`` undoes that when anything fails.
        A resumed fit (``resume``) draws from the random state its
        interrupted fit began with, so that its split is that fit's.
        """
        arch = validate_hyperparameters(self)
        fitted = hasattr(self, "_network")
        cold = not fitted or not (incremental or self.warm_start)
        if incremental and not isinstance(self.early_stopping, str) and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True (with "
                "early_stopping='auto' it trains on every sample)."
            )
        # The rank of a sample without its channels: 1 when the layer list
        # starts with signal layers (Conv1D, ...), else 2 (images).
        layers_ndim = None if arch["layers"] is None else sample_ndim(self.layers)
        spatial_ndim = 1 if layers_ndim == 2 else 2
        data_format = arch["data_format"]
        X, shape_from_X = flatten_images(X, data_format, spatial_ndim)
        dtype = np.dtype(arch["dtype"]) if cold else self._dtype()
        X, y = validate_data(
            self, X, y, reset=cold, dtype=dtype, accept_sparse=["csr", "csc"], **self._y_validation()
        )
        X = X.tocsr() if issparse(X) else X  # rows are read a batch at a time
        warn_if_beyond_float32(X)
        targets = self._check_targets(y, cold, incremental, extra)
        if cold:
            image_shape = resolve_image_shape(
                self.image_shape, X.shape[1], shape_from_X, data_format, spatial_ndim
            )
            source = (
                "X" if shape_from_X is not None
                else "rule" if self.image_shape is None else "image_shape"
            )
            warn_if_misread(image_shape, data_format, source, X.shape[1])
        else:
            targets, image_shape = self._targets, self.image_shape_
            self._check_compatible(arch, shape_from_X)
        X = channels_first_rows(X, image_shape, data_format)
        check_sample_shape(check_transforms(self.augment), image_shape)
        y_encoded = self._encode_targets(y, targets)
        weights = self._sample_weights(sample_weight, X, y_encoded, targets)
        if weights is not None and not weights.sum() > 0:
            raise ValueError(
                "The sample weights"
                + (" (times class_weight)" if getattr(self, "class_weight", None) else "")
                + " sum to zero: there is nothing to learn from."
            )
        if resume is not None:
            rng = np.random.RandomState()
            rng.set_state(resume.start_state)
        else:
            rng = self._rng if incremental and not cold else check_random_state(self.random_state)
        start_state = rng.get_state()
        if incremental:
            train, val = (X, y_encoded, weights), None
        else:
            train, val = self._split(X, y_encoded, weights, rng)
        return TrainingCall(
            cold, incremental, arch, dtype, image_shape, targets, rng, train, val, start_state,
            resume=None if resume is None else resume.loop,
        )

    def _check_solver(self):
        """``available_if`` condition of partial_fit (as MLPClassifier's)."""
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for the stochastic solvers 'sgd' "
                "and 'adam': solver='lbfgs' optimizes the loss of the whole "
                "training set at once."
            )
        return True

    def _y_validation(self):
        """Keyword arguments of ``validate_data`` for ``y``."""
        return {}

    def _check_compatible(self, arch, shape_from_X):
        """Checks for a call that continues training an existing model."""
        change = describe_change(self._architecture.get("layers"), arch["layers"])
        if change:
            raise ValueError(
                f"{change} since the model was built; set warm_start=False (or clone "
                "the estimator) to build a new one."
            )
        old, new = self._architecture["dropout"], arch["dropout"]
        if old is not None and (old > 0) != (new > 0):
            raise ValueError(
                f"dropout changed from {old!r} to {new!r} since the model was built: "
                "turning dropout on or off changes the network's layers (a new rate "
                "is fine); set warm_start=False (or clone the estimator) to build a new one."
            )
        for name in _ARCHITECTURE:
            if arch.get(name) != self._architecture.get(name):
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

    def _split(self, X, y, weights, rng):
        """Hold out the early-stopping validation set; ``(train, val)``.

        As MLPClassifier, ``ceil(validation_fraction * n)`` samples, at least
        2. With a stratified split (classifiers) the validation set gets at
        least one sample per class, so that stratification is possible on
        small data.
        """
        n = X.shape[0]
        auto = isinstance(self.early_stopping, str)  # "auto"
        if self.solver == "lbfgs":  # as MLPClassifier: a full-batch fit holds nothing out
            return (X, y, weights), None
        if not (n >= EARLY_STOPPING_AUTO_MIN_SAMPLES if auto else self.early_stopping):
            return (X, y, weights), None
        stratify = self._stratify(y)
        n_val = math.ceil(self.validation_fraction * n)  # as train_test_split counts it
        if auto and (
            n_val < 2
            or stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2
        ):
            return (X, y, weights), None  # too few to split: nothing held out
        if n_val < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                "size of your dataset. early_stopping=True holds out "
                f"validation_fraction={self.validation_fraction!r} of the {n} samples "
                f"of X, {n_val} sample{'s' if n_val != 1 else ''}, and needs at least 2; "
                "or set early_stopping=False."
            )
        n_groups = 1 if stratify is None else len(np.unique(stratify))
        n_val = max(n_val, n_groups)
        if n - n_val < n_groups:
            per_class = " (at least one sample per class)" if stratify is not None else ""
            raise ValueError(
                f"early_stopping=True needs a validation set of {n_val} samples "
                f"(validation_fraction={self.validation_fraction!r}){per_class} and "
                f"training samples besides, but X has only {n} samples"
                + (f" of {n_groups} classes" if stratify is not None else "")
                + ". Use more data or early_stopping=False."
            )
        arrays = [X, y] if weights is None else [X, y, weights]
        parts = train_test_split(*arrays, test_size=n_val, random_state=rng, stratify=stratify)
        X_train, X_val, y_train, y_val = parts[:4]
        w_train, w_val = parts[4:] if weights is not None else (None, None)
        return (X_train, y_train, w_train), (X_val, y_val, w_val)

    def _initialize(self, call):
        """Build a fresh network and reset everything learned."""
        n_outputs = self._n_outputs(call.targets)
        if call.arch["layers"] is None:
            arch = {key: call.arch[key] for key in NETWORK_PARAMS}
            named = build_cnn_layers(call.image_shape, n_outputs, **arch)
        else:  # the user's list, copied: fit never builds or changes the user's layers
            named = with_output_layer(copy_layers(self.layers), n_outputs)
            check_shapes(named, call.image_shape)
        self.layer_names_ = [name for name, _ in named]
        network = Sequential([layer for _, layer in named], reuse_buffers=True, names=self.layer_names_)
        network.build(call.image_shape, call.rng, call.dtype)
        self._network = network
        self._architecture = call.arch
        self._rng = call.rng
        self._targets = call.targets
        self._init_targets(call.targets)
        self.image_shape_ = call.image_shape
        self._optimizer = None
        self.n_iter_ = 0
        self._epochs = 0  # every epoch since initialization: names the dropout masks
        self.t_ = 0
        self.loss_ = None
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _sync_dropout_rate(self):
        """Give the Dropout layers the model's rate (warm_start and partial_fit may change it)."""
        if self._architecture.get("layers") is not None:  # in a layer list, the rates it holds
            continue_with(self._network.layers, self._architecture["layers"])
            return
        for layer in self._network.layers:
            if isinstance(layer, Dropout):
                layer.rate = self._architecture["dropout"]

    def _weighted_layers(self):
        # Conv2D and Dense: not BatchNorm, whose scale and shift are no coefs
        # and go unpenalized (see Layer.has_coefs).
        return [layer for layer in self._network.layers if getattr(layer, "has_coefs", False)]

    @property
    def coefs_(self):
        """The live weight arrays, in network order (see the class docstring)."""
        return [layer.weight for layer in self._weighted_layers()]

    @property
    def intercepts_(self):
        """The live bias arrays, in the order of ``coefs_``."""
        return [layer.bias for layer in self._weighted_layers()]

    @property
    def layers_(self):
        """The fitted layers, in network order (see :mod:`skcnn.layers`), the
        output layer last; ``layer_names_`` holds their names."""
        check_is_fitted(self)
        return list(self._network.layers)

    def _dtype(self):
        """The float dtype the model computes in: that of its weights."""
        return self._network.params[0].dtype

    # ------------------------------------------------------------ predict

    def _validate_X_predict(self, X):
        check_is_fitted(self)
        hint = one_image_hint(X, self.n_features_in_)
        data_format = self._architecture["data_format"]
        X, shape_from_X = flatten_images(X, data_format, len(self.image_shape_) - 1)
        try:
            X = validate_data(self, X, reset=False, dtype=self._dtype(), accept_sparse=["csr", "csc"])
            X = X.tocsr() if issparse(X) else X
        except ValueError as error:
            if hint and "features" in str(error):
                raise ValueError(str(error) + hint) from None
            raise
        if shape_from_X is not None and shape_from_X != self.image_shape_:
            raise ValueError(
                f"X holds samples of shape {user_layout(shape_from_X, data_format)}, but "
                f"the model was fitted on samples of shape "
                f"{user_layout(self.image_shape_, data_format)}"
                + (" (data_format='channels_last')." if data_format == "channels_last" else ".")
            )
        return channels_first_rows(X, self.image_shape_, data_format)

    def _predict_batch_size(self):
        """Samples per inference batch so that its arrays stay within budget."""
        per_sample = sum(
            int(np.prod(layer.output_shape)) + layer.scratch_size() for layer in self._network.layers
        )
        itemsize = self._dtype().itemsize
        return int(np.clip(_PREDICT_BATCH_BYTES // (per_sample * itemsize), 1, 4096))

    def _forward(self, X):
        """Float64 network outputs of validated 2-D X, computed batch by batch."""
        out = np.empty((X.shape[0],) + self._network.output_shape, dtype=np.float64)
        predict_in_chunks(
            self._network, X, self.image_shape_, out, self._predict_batch_size(),
            resolve_n_jobs(self.n_jobs),
        )
        # Finite weights can still overflow float32 activations: keep outputs finite.
        big = np.finfo(np.float64).max / 4
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=big, neginf=-big)

    def _layer_outputs(self, X, keep, dtypes=None):
        """Outputs of the layers at positions ``keep`` for validated 2-D X,
        ``dtypes``: (computed in, returned as), by default the model's."""
        model = self._dtype()
        compute, out = dtypes or (model, model)
        # The same memory per batch in another precision.
        batch_len = max(1, self._predict_batch_size() * model.itemsize // np.dtype(compute).itemsize)
        return compute_layer_outputs(
            self._network, X, self.image_shape_, keep, (compute, out), batch_len,
            resolve_n_jobs(self.n_jobs),
        )

    # ------------------------------------------- reuse and see the network

    def transform(self, X):
        """The features the network computes for ``X``: by default, the input
        of its output layer.

        They are the activations of the last hidden layer (after its
        activation function), the representation the network learned for its
        task: a CNN fitted on ``y`` can feed them to another estimator as a
        Pipeline step (``make_pipeline(NumpyCNNClassifier(), SVC())``), or
        give embeddings for a 2-D plot. ``transform_layer`` picks another
        layer by name (its outputs flattened in the order of a ``Flatten``
        layer); ``layer_outputs`` gives several layers at once. Computed
        batch by batch: only the result grows with the number of samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), \
                (n_samples, H, W) or (n_samples, C, H, W)
            Images or signals, as in ``predict``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            One row of features per sample, named by ``get_feature_names_out``.
            Its dtype is X's when X is float32 or float64 (as scikit-learn's
            transformers keep them), else the network's ``dtype``. Float64
            features are computed in float64 from the weights (a sample's
            features are then the same alone as among others, to float64's
            rounding; in float32 BLAS may round their last bits differently):
            they can differ from ``layer_outputs``, which computes as
            ``predict`` does, in the last bits of float32.
        """
        check_is_fitted(self)
        index = feature_layer(self.layer_names_, self._network.layers, self.transform_layer)
        dtypes = transform_dtypes(X, self._dtype())
        X = self._validate_X_predict(X)
        out = self._layer_outputs(X, [index], dtypes)[0]
        return out.reshape(out.shape[0], -1)

    def get_feature_names_out(self, input_features=None):
        """Names of the features ``transform`` returns.

        ``"{layer}_{i}"`` for the ``i``-th value of a flat layer output
        (``relu3_0``, ...), ``"{layer}_{c}_{h}_{w}"`` for image outputs, where
        ``layer`` is the name in ``layer_names_`` of the layer they come from.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the features seen in ``fit``, as scikit-learn
            does: the output features do not depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per column of ``transform``'s result.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        index = feature_layer(self.layer_names_, self._network.layers, self.transform_layer)
        return feature_names(self.layer_names_[index], self._network.layers[index].output_shape)

    def layer_outputs(self, X, layers=None):
        """The outputs of the layers named ``layers`` for ``X``: feature maps,
        embeddings, logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), \
                (n_samples, H, W) or (n_samples, C, H, W)
            Images or signals, as in ``predict``.
        layers : str, list of str or None, default=None
            Names of layers in ``layer_names_``: a name gives that layer's
            output, a list one output per name, in its order; None gives
            every layer's (the most memory; see Notes).

        Returns
        -------
        outputs : ndarray or list of ndarray
            Per layer, an array of shape ``(n_samples,) + output shape`` in the
            ``dtype`` the network computes in: ``(n_samples, C, H, W)`` after
            convolution, pooling and their activations, ``(n_samples, n)``
            after Flatten and dense layers; the output layer ``"out"`` holds
            the network's raw outputs (logits for a classifier).
            ``summary()`` lists the layers with their output shapes.

        Notes
        -----
        What it costs: the network runs up to the deepest layer named, batch
        by batch, so its time is at most ``predict``'s. The memory that grows
        with the number of samples is the result alone:
        ``n_samples`` times the named layers' output sizes (``summary()``)
        times 4 bytes in float32. Besides, each batch's intermediate arrays
        take a fixed budget of about 16 MB, and a sparse ``X`` is densified a
        batch at a time. Every layer of the default network on the 10,000
        MNIST images would take 2.4 GB; its input to the output layer (what
        ``transform`` returns) 5 MB.

        With ``activation="relu"`` each block is built conv -> pool -> relu
        (identical to conv -> relu -> pool, and cheaper), so no output is the
        full-resolution relu of a convolution; ``np.maximum(output, 0)`` of a
        ``Conv2D`` output is. ``ActivationsDisplay`` shows exactly those maps.
        """
        check_is_fitted(self)
        names = list(self.layer_names_)
        keep = list(range(len(names))) if layers is None else layer_indices(names, layers)
        X = self._validate_X_predict(X)
        outputs = self._layer_outputs(X, keep)
        return outputs[0] if isinstance(layers, str) else outputs

    def summary(self):
        """The network as a table: name, layer, output shape and trainable
        parameters of every layer, and their total.

        Before ``fit`` it lists the layers the parameters give (checked as
        ``fit`` checks them); output shapes and parameter counts come with
        the data. The estimator's HTML diagram in Jupyter shows the same.

        Returns
        -------
        summary : NetworkSummary
            ``print(summary)`` prints the table as plain text; in Jupyter it
            shows as an HTML table. ``summary.rows`` holds the layers (name,
            layer, output shape, parameter arrays and count),
            ``summary.total_params`` the total.
        """
        return network_summary(self)

    def _sk_visual_block_(self):
        # scikit-learn's diagram: the layers as a Pipeline's steps.
        return network_block(self)

    def _get_params_html(self, deep=True, doc_link=""):
        # The diagram's parameter table: without the parameters a layer list
        # makes unused, followed by the network's table.
        return params_html(self, super()._get_params_html(deep, doc_link))
