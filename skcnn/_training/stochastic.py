"""The SGD/Adam epoch loop (``solver="sgd"`` or ``"adam"``), as MLPClassifier's.

An epoch shuffles the samples, cuts them into equal batches, and for each
batch puts it in its canonical form (``skcnn._training.batches``), applies
the augmentation, runs the data-parallel step (``skcnn._training.parallel``)
and one optimizer step. Between epochs the loop applies MLPClassifier's
stopping rules (``tol``, ``n_iter_no_change``, early stopping on a held-out
validation score), its verbose lines and ``ConvergenceWarning``, and hands
control to the callbacks; an epoch that diverges or fails is put back as it
was before it began.

``StochasticTrainingMixin._train_stochastic`` is the training method that
``BaseCNN`` (``skcnn._base``) inherits and calls for the stochastic solvers.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..augmentation import augment_batch, check_transforms
from ..optimizers import SGD, Adam
from .batches import batch_count, canonical_batch, dense_rows, sample_label_keys
from .batchnorm_stats import recompute_running_stats
from .callbacks import NO_EPOCH_TASKS
from .common import LOOP_STACKLEVEL, LoopState, TrainingLoopMixin, warn_diverged, warn_interrupted
from .interrupt import deferred_interrupt
from .numerics import flush_subnormals
from .parallel import ShardedStep, resolve_n_jobs


class StochasticTrainingMixin(TrainingLoopMixin):
    """``solver="sgd"`` and ``solver="adam"`` for ``BaseCNN``, which inherits it.

    It uses the estimator's hyperparameters (``max_iter``, ``batch_size``,
    ``shuffle``, ``tol``, ``n_iter_no_change``, ``augment``, ``n_jobs``,
    ``verbose``, ``batchnorm_statistics`` and the optimizer's), its network
    and fitted state (``loss_curve_``, ``best_loss_``, ``validation_scores_``,
    ``t_``, ``_epochs``, ``_no_improvement_count``, ``_optimizer``), and the
    subclass's ``_make_loss`` and ``_validation_score``.
    """

    def _make_optimizer(self):
        params = self._network.params
        if self.solver == "sgd":
            return SGD(params, self.learning_rate_init, self.momentum, self.nesterovs_momentum,
                       self.learning_rate, self.power_t)
        return Adam(params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

    def _train_stochastic(self, call, epochs=NO_EPOCH_TASKS):
        """The epoch loop: stopping rules, divergence, Ctrl-C, verbose output,
        and the epochs' callback tasks (``epochs``, see ``callbacks``).

        After every completed epoch of a call with callbacks, ``call.loop``
        holds what the loop carries into the next one; a resumed fit
        (``call.resume``, see ``skcnn._training.checkpoint``) starts from such
        a state, its estimator loaded as it stood then."""
        incremental = call.incremental
        resume = call.resume
        if resume is None:  # a resumed fit keeps its optimizer, counters and scores
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
            self._print_start(
                X.shape[0],
                f" (image_shape_, channels x height x width) in {self._dtype().name}, "
                f"{n_batches} batches per epoch",
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
        first, stop = 0, False
        if resume is not None:  # go on after the epoch the resumed state closed
            rng.set_state(resume.rng_state)
            seed, augment_seed, best_params = resume.seed, resume.augment_seed, resume.best_params
            first = resume.epochs
            stop = not incremental and self._stop_when_stalled()  # that epoch's rule
        self._sync_dropout_rate()
        step = ShardedStep(
            self._network, self._make_loss(), max_batch_len, seed,
            n_batches * (n_epochs - first), self.n_jobs,
        )
        with deferred_interrupt() as interrupt, step:
            for epoch in range(first, first if stop else n_epochs):
                call.loop = None  # until this epoch completes
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
                    # As MLPClassifier records it: the epoch ran, with this loss
                    # (its validation score, of weights not kept, is NaN).
                    self._count_epoch(loss, X.shape[0])
                    if call.val is not None:
                        self.validation_scores_.append(np.nan)
                    warn_diverged(
                        f"during epoch {epoch + 1} of this call. Training stopped and the "
                        "model keeps its last finite weights (from before that epoch)",
                        f"Lower learning_rate_init (now {self.learning_rate_init!r}).",
                    )
                    break
                if stopped == "interrupted":
                    call.interrupted = True
                    n = self.n_iter_
                    warn_interrupted(
                        f" at the end of a batch, after {n} complete epoch"
                        f"{'' if n == 1 else 's'} of this call (n_iter_={n}); the weights "
                        "also hold the batches of the epoch it stopped in. The model is "
                        "usable; partial_fit, or fit with warm_start=True, continues from "
                        "here (fit without warm_start starts over)."
                    )
                    break
                self._count_epoch(loss, X.shape[0])
                improved = self._track_progress(call.val)
                if improved and call.val is not None:
                    best_params = [a.copy() for a in self._model_arrays()]
                self._optimizer.iteration_ends(self.t_)
                flush_subnormals(self._model_arrays() + self._optimizer.arrays())
                if self.verbose:
                    self._print_progress(epoch - first, n_epochs - first, started)
                if epochs is not NO_EPOCH_TASKS:  # only a callback (Checkpoint) reads it
                    call.loop = LoopState(epoch + 1, rng.get_state(), seed, augment_seed, best_params)
                if epochs.end():
                    break  # a callback asked to stop: as early stopping, without a warning
                if not incremental and self._stop_when_stalled():
                    break
            else:
                if not (incremental or stop):
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=LOOP_STACKLEVEL,
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

    def _stop_when_stalled(self):
        """MLPClassifier's rule after an epoch: True to stop once training has
        stalled for more than ``n_iter_no_change`` epochs, unless the
        optimizer takes a smaller step instead (``learning_rate="adaptive"``)."""
        if self._no_improvement_count <= self.n_iter_no_change:
            return False
        if self._optimizer.trigger_stopping():
            return True
        self._no_improvement_count = 0
        return False

    def _count_epoch(self, loss, n_samples):
        """Record an epoch that ran, as MLPClassifier does, with its mean loss."""
        self.n_iter_ += 1
        self._epochs += 1
        self.t_ += n_samples
        self.loss_ = loss
        self.loss_curve_.append(loss)

    def _run_epoch(self, X, y, w, keys, n_batches, rng, step, interrupt, augment=((), None)):
        """One pass over the data; returns (mean loss, None | "diverged" | "interrupted").

        A batch whose loss is not finite ends the pass: its loss is then the
        epoch's, as the mean over every batch would be.

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
