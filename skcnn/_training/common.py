"""What the two training loops share: the model's arrays, the L2 penalty, the warnings.

The epoch loop (``skcnn._training.stochastic``) and L-BFGS
(``skcnn._training.lbfgs``) train the same network under the same rules: a
failed or diverged call puts the model's arrays back in place, the L2
penalty is ``alpha / 2`` times the squared weights over the total sample
weight, and divergence and Ctrl-C end a call with a warning rather than an
error. Those rules live here once, in ``TrainingLoopMixin``, which both
loop mixins extend.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

# A warning raised in a training loop's method points at the user's fit or
# partial_fit call: the loop <- BaseCNN._fit <- fit <- the user's line.
LOOP_STACKLEVEL = 4


@dataclass
class LoopState:
    """Where the epoch loop of a fit stands after a completed epoch: what it
    carries into the next epoch besides the estimator's attributes.

    A checkpoint (``skcnn._training.checkpoint``) saves it; a resumed fit's
    loop starts from it, so that the remaining epochs run as they would have.
    """

    epochs: int  # epochs of this call completed
    rng_state: tuple  # the state of the call's RandomState (the shuffles) after them
    seed: int | None  # the call's draw that keys the dropout masks
    augment_seed: int | None  # the call's draw that keys the augmentation
    best_params: list | None  # early stopping's best weights so far (copies)


@dataclass
class TrainingCall:
    """What one call of fit or partial_fit trains on, validated."""

    cold: bool  # a new network (else: continue the fitted one)
    incremental: bool  # partial_fit: one epoch, the optimizer state carried over
    arch: dict  # the normalized architecture (validate_hyperparameters)
    dtype: np.dtype
    image_shape: tuple
    targets: object  # what the subclass learned of y (classes, n_outputs)
    rng: np.random.RandomState
    train: tuple  # (X 2-D, encoded y, weights or None)
    val: tuple | None  # the early-stopping hold-out, alike
    # The state of ``rng`` before the call drew anything from it (the split):
    # a resumed fit repeats the preparation from it, and a failed partial_fit
    # puts the model's stream back to it.
    start_state: tuple | None = None
    resume: LoopState | None = None  # a resumed fit: where its loop starts
    loop: LoopState | None = None  # where the loop stands after a completed epoch (with callbacks)
    interrupted: bool = False  # Ctrl-C ended the call before its end


class TrainingLoopMixin:
    """The model's arrays and the rules both training loops follow.

    Extended by ``StochasticTrainingMixin`` and ``LbfgsTrainingMixin``; the
    estimator gives ``_network``, ``_optimizer`` (None for L-BFGS), ``alpha``,
    ``verbose``, ``image_shape_`` and ``_weighted_layers()``.
    """

    def _model_arrays(self):
        """What training changes in the network: its parameters, then the
        state that follows them (BatchNorm's running statistics)."""
        return self._network.params + self._network.running_stats

    def _set_weights(self, arrays):
        """Write back ``arrays`` (copies of ``_model_arrays()``) in place."""
        for a, saved in zip(self._model_arrays(), arrays, strict=True):
            a[...] = saved

    def _params_finite(self):
        return all(np.isfinite(a).all() for a in self._model_arrays())

    def _snapshot(self):
        """Copies of the model's arrays and of the optimizer's state."""
        return [a.copy() for a in self._model_arrays()], self._optimizer.state()

    def _restore(self, snapshot):
        """Put back a ``_snapshot()``, in place (the training call's views stay valid)."""
        params, optimizer_state = snapshot
        self._set_weights(params)
        self._optimizer.set_state(optimizer_state)
        self._network.clear_cache()

    def _add_l2_penalty(self, weight_sum):
        """Add the L2 penalty's gradient to the weights' gradients; its loss.

        As MLPClassifier's: ``alpha / 2`` times the squared weights (not the
        biases, nor BatchNorm's scale and shift), over the total sample
        weight of the batch, so that a batch's penalty is its share of the
        training set's.
        """
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

    def _print_start(self, n_samples, how):
        """The verbose line that opens a call's first training."""
        print(
            f"Training on {n_samples} samples read as "
            f"{' x '.join(map(str, self.image_shape_))} images{how}.",
            flush=True,
        )


def warn_diverged(when, advice):
    """The ConvergenceWarning of a call whose loss or weights became non-finite."""
    warnings.warn(
        f"Training diverged: the loss or the weights became non-finite {when}. {advice}",
        ConvergenceWarning,
        stacklevel=LOOP_STACKLEVEL + 1,  # called by the loop
    )


def warn_interrupted(detail):
    """The warning of a call that Ctrl-C ended early with a usable model:
    ``detail`` says where it stopped, counted as ``n_iter_`` counts, and how
    to continue."""
    warnings.warn(
        f"Training interrupted by the user (Ctrl-C){detail}",
        UserWarning,
        stacklevel=LOOP_STACKLEVEL + 1,  # called by the loop
    )
