"""Training shared by NumpyCNNClassifier and NumpyCNNRegressor.

``BaseCNN`` holds everything that does not depend on the task, in the way
scikit-learn's ``BaseMultilayerPerceptron`` does for MLPClassifier and
MLPRegressor: input validation and image shapes, the network, the epoch
loop with its stopping rules, divergence and Ctrl-C handling, and batched
inference. A subclass gives its loss, how targets are checked and encoded,
its sample weights, its validation split and score, and its predictions.
Full-batch training (``solver="lbfgs"``) is in ``skcnn._training.lbfgs``:
``BaseCNN`` inherits its ``_train_lbfgs`` from ``LbfgsTrainingMixin``.
"""

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

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
from ._network import Sequential
from ._training.batches import batch_count, canonical_batch, dense_rows, sample_label_keys
from ._training.batchnorm_stats import recompute_running_stats
from ._training.callbacks import NO_EPOCH_TASKS, epoch_tasks
from ._training.interrupt import deferred_interrupt
from ._training.lbfgs import LbfgsTrainingMixin
from ._training.numerics import flush_subnormals
from ._training.parallel import ShardedStep, predict_in_chunks, resolve_n_jobs
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
from .augmentation import augment_batch, check_sample_shape, check_transforms
from .layers import Dropout
from .optimizers import SGD, Adam

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
_NEW_PARAMS = {"data_format": "channels_first"}


@dataclass
class _TrainingCall:
    """What one call of fit or partial_fit trains on, validated."""

    cold: bool  # a new network (else: continue the fitted one)
    arch: dict  # the normalized architecture (validate_hyperparameters)
    dtype: np.dtype
    image_shape: tuple
    targets: object  # what the subclass learned of y (classes, n_outputs)
    rng: np.random.RandomState
    train: tuple  # (X 2-D, encoded y, weights or None)
    val: tuple | None  # the early-stopping hold-out, alike


class BaseCNN(LbfgsTrainingMixin, BaseEstimator):
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
        batchnorm_statistics="running", data_format="channels_first",
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
        as ``_TrainingCall.targets``), else check it against the model."""
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

    def _fit(self, X, y, sample_weight, incremental, extra=None):
        saved_state = dict(self.__dict__)
        saved_rng = self._rng.get_state() if incremental and hasattr(self, "_rng") else None
        call = None
        try:
            call = self._prepare_training(X, y, sample_weight, incremental, extra)
            if call.cold:
                self._initialize(call)
            else:
                self._architecture = call.arch  # the same, but for a new dropout rate
            with epoch_tasks(self, X, y, sample_weight, incremental) as epochs:
                if self.solver == "lbfgs":
                    self._train_lbfgs(call, epochs)  # its iterations are the tasks
                else:
                    self._train(call, incremental, epochs)
        except BaseException:
            # Leave the estimator as it was. Validation only added attributes;
            # a fresh fit built new objects and never touched the previous
            # ones; _train put back the weights and optimizer state of a failed
            # epoch in place. Only a warm-started fit keeps the epochs it
            # completed before the failure.
            if call is None or call.cold or incremental:
                self.__dict__.clear()
                self.__dict__.update(saved_state)
                if "_network" in self.__dict__:
                    self._sync_dropout_rate()
            if saved_rng is not None:
                self._rng.set_state(saved_rng)
            raise
        return self

    def _prepare_training(self, X, y, sample_weight, incremental, extra):
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
        rng = self._rng if incremental and not cold else check_random_state(self.random_state)
        if incremental:
            train, val = (X, y_encoded, weights), None
        else:
            train, val = self._split(X, y_encoded, weights, rng)
        return _TrainingCall(cold, arch, dtype, image_shape, targets, rng, train, val)

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

        With a stratified split (classifiers) the validation set gets at
        least one sample per class (and 2 in all), so that stratification is
        possible on small data.
        """
        n = X.shape[0]
        auto = isinstance(self.early_stopping, str)  # "auto"
        if self.solver == "lbfgs":  # as MLPClassifier: a full-batch fit holds nothing out
            return (X, y, weights), None
        if not (n >= EARLY_STOPPING_AUTO_MIN_SAMPLES if auto else self.early_stopping):
            return (X, y, weights), None
        stratify = self._stratify(y)
        if auto and stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2:
            return (X, y, weights), None  # a class too rare to split: nothing held out
        n_groups = 1 if stratify is None else len(np.unique(stratify))
        n_val = max(math.ceil(self.validation_fraction * n), n_groups, 2 if stratify is not None else 1)
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

    def _make_optimizer(self):
        params = self._network.params
        if self.solver == "sgd":
            return SGD(params, self.learning_rate_init, self.momentum, self.nesterovs_momentum,
                       self.learning_rate, self.power_t)
        return Adam(params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

    # ------------------------------------------------------------- training

    def _train(self, call, incremental, epochs=NO_EPOCH_TASKS):
        """The epoch loop: stopping rules, divergence, Ctrl-C, verbose output,
        and the epochs' callback tasks (``epochs``, see ``_callbacks``)."""
        if self._optimizer is None or not incremental:
            self._optimizer = self._make_optimizer()
        if call.val is not None and self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if not incremental:
            self._no_improvement_count = 0
        self.n_iter_ = 0  # epochs of this call, as in MLPClassifier
        X, y, w = call.train
        rng = call.rng
        n_batches = batch_count(X.shape[0], 200 if self.batch_size == "auto" else self.batch_size)
        keys = sample_label_keys(X, y)
        n_epochs = 1 if incremental else self.max_iter
        best_params = None
        started = time.perf_counter()
        if self.verbose and self._epochs == 0:
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
        random_layers = any(layer.takes_seed for layer in self._network.layers)
        seed = int(rng.randint(2**31 - 1)) if random_layers else None
        # Augmentation hashes the samples with (this draw, epoch, batch) as well.
        transforms = check_transforms(self.augment)
        augment_seed = int(rng.randint(2**31 - 1)) if transforms else None
        self._sync_dropout_rate()
        step = ShardedStep(
            self._network, self._make_loss(), max_batch_len, seed, n_batches * n_epochs,
            self.n_jobs,
        )
        with deferred_interrupt() as interrupt, step:
            for epoch in range(n_epochs):
                epochs.begin()
                snapshot = self._snapshot()
                try:
                    # Overflow is handled below as divergence, with a clear warning.
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        loss, stopped = self._run_epoch(
                            X, y, w, keys, n_batches, rng, step, interrupt,
                            (transforms, augment_seed),
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
                self._epochs += 1
                self.t_ += X.shape[0]
                self.loss_ = loss
                self.loss_curve_.append(loss)
                improved = self._track_progress(call.val)
                if improved and call.val is not None:
                    best_params = [a.copy() for a in self._model_arrays()]
                self._optimizer.iteration_ends(self.t_)
                flush_subnormals(self._model_arrays() + self._optimizer.arrays())
                if self.verbose:
                    self._print_progress(epoch, n_epochs, started)
                if epochs.end():
                    break  # a callback asked to stop: as early stopping, without a warning
                if not incremental and self._no_improvement_count > self.n_iter_no_change:
                    # Stop, unless the optimizer takes a smaller step instead
                    # (solver="sgd", learning_rate="adaptive").
                    if self._optimizer.trigger_stopping():
                        break
                    self._no_improvement_count = 0
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
            self._set_weights(best_params)
        if not incremental and self.batchnorm_statistics == "training_set":
            recompute_running_stats(
                self._network, X, y, w, self.image_shape_, resolve_n_jobs(self.n_jobs)
            )
            if self.verbose:
                print(
                    f"BatchNorm statistics recomputed on the {X.shape[0]} training samples.",
                    flush=True,
                )

    def _run_epoch(self, X, y, w, keys, n_batches, rng, step, interrupt, augment=((), None)):
        """One pass over the data; returns (mean loss, None | "diverged" | "interrupted").

        ``augment``: the transforms of ``augment`` and their seed, applied to
        each batch here, before it is split across workers."""
        transforms, augment_seed = augment
        n = X.shape[0]
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        total_loss = total_weight = 0.0
        for index, batch in enumerate(np.array_split(order, n_batches)):
            batch, w_batch = canonical_batch(batch, keys, X, y, w)
            weight = float(len(batch)) if w_batch is None else float(w_batch.sum(dtype=np.float64))
            if weight == 0:
                continue
            X_batch = dense_rows(X, batch).reshape((-1,) + self.image_shape_)
            if transforms:
                X_batch = augment_batch(transforms, X_batch, (augment_seed, self._epochs, index))
            loss = self._train_step(step, X_batch, y[batch], w_batch, weight, (self._epochs, index))
            if not np.isfinite(loss):
                return loss, "diverged"
            total_loss += loss * weight
            total_weight += weight
            if interrupt.requested:
                return total_loss / total_weight, "interrupted"
        mean = total_loss / total_weight
        return mean, None if np.isfinite(mean) else "diverged"  # the sum may overflow

    def _train_step(self, step, X_batch, y_batch, w_batch, weight_sum, key):
        """Forward, loss (+ L2), backward (by ``step``, see ShardedStep) and
        one optimizer step; returns the batch's loss."""
        loss = step(X_batch, y_batch, w_batch, weight_sum, key)
        loss += self._add_l2_penalty(weight_sum)
        step.optimizer_step(self._optimizer)
        return loss

    def _add_l2_penalty(self, weight_sum):
        """Add the L2 penalty's gradient to the weights' gradients; its loss."""
        if self.alpha == 0:
            return 0.0
        scale = self.alpha / weight_sum
        penalty = 0.0
        for layer in self._weighted_layers():
            W, G = layer.weight, layer.grads[0]
            flat = W.ravel()
            penalty += float(flat @ flat)
            G += W.dtype.type(scale) * W
        return 0.5 * scale * penalty

    def _model_arrays(self):
        """What training changes in the network: its parameters, then the
        state that follows them (BatchNorm's running statistics)."""
        return self._network.params + self._network.running_stats

    def _snapshot(self):
        return [a.copy() for a in self._model_arrays()], self._optimizer.state()

    def _set_weights(self, arrays):
        """Write back ``arrays`` (copies of ``_model_arrays()``) in place."""
        for a, saved in zip(self._model_arrays(), arrays, strict=True):
            a[...] = saved

    def _restore(self, snapshot):
        params, optimizer_state = snapshot
        self._set_weights(params)
        self._optimizer.set_state(optimizer_state)
        self._network.clear_cache()

    def _params_finite(self):
        return all(np.isfinite(a).all() for a in self._model_arrays())

    def _warn_diverged(self, epoch):
        when = (
            "during this call: the model keeps the weights it had before it"
            if self.solver == "lbfgs"
            else f"during epoch {epoch + 1} of this call. Training stopped and the "
            "model keeps its last finite weights (from before that epoch)"
        )
        warnings.warn(
            f"Training diverged: the loss or the weights became non-finite {when}. "
            + (
                "Scale X (for instance with StandardScaler) or raise alpha."
                if self.solver == "lbfgs"
                else f"Lower learning_rate_init (now {self.learning_rate_init!r})."
            ),
            ConvergenceWarning,
            stacklevel=5,
        )

    def _track_progress(self, val):
        """Update the no-improvement counter (as MLPClassifier); True if improved.

        Progress is the training loss, or the validation score with early
        stopping.
        """
        loss = self.loss_curve_[-1]
        if val is None:
            if self.best_loss_ is None:  # the previous call stopped early
                self.best_loss_ = np.inf
            stalled = loss > self.best_loss_ - self.tol
            improved = loss < self.best_loss_
            self.best_loss_ = min(self.best_loss_, loss)
        else:
            score = self._validation_score(*val)
            self.validation_scores_.append(score)
            stalled = score < self.best_validation_score_ + self.tol
            improved = score > self.best_validation_score_
            self.best_validation_score_ = max(self.best_validation_score_, score)
            self.best_loss_ = None  # as MLPClassifier: the validation score rules
        self._no_improvement_count = self._no_improvement_count + 1 if stalled else 0
        return improved

    def _print_progress(self, epoch, n_epochs, started):
        elapsed = time.perf_counter() - started
        line = f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}"
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
            after Flatten and dense layers; the last holds the network's raw
            outputs (logits for a classifier).

        Notes
        -----
        With ``activation="relu"`` each block is built conv -> pool -> relu
        (identical to conv -> relu -> pool, and cheaper), so no output is the
        full-resolution relu of a convolution; ``np.maximum(outputs[i], 0)``
        of a ``Conv2D`` output ``i`` is. ``ActivationsDisplay`` shows exactly
        those maps.
        """
        X = self._validate_X_predict(X)
        images = dense_rows(X, slice(None)).reshape((-1,) + self.image_shape_)
        return [np.ascontiguousarray(out) for out in self._network.forward_all(images)]
