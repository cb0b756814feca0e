"""The training losses, each fused with its gradient with respect to the
network's outputs, and the softmax they pair with."""

import numpy as np
from scipy.special import expit


def log_softmax(logits):
    """Row-wise log-softmax by log-sum-exp with the row maximum subtracted."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(logits):
    """Row-wise softmax, stable for any finite logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _weighted_mean(per_sample, grad, sample_weight, weight_sum, n_outputs=1):
    """``(loss, grad)``: the per-sample losses summed with the sample weights
    and divided by ``weight_sum`` (their sum when None), and ``grad`` (one row
    per sample, the gradient of each sample's loss summed over its
    ``n_outputs``) scaled alike, in place, to the gradient of that loss.

    Unweighted and all-ones weights scale by the same rounded factor and sum
    the same terms: their losses and gradients are equal bits.
    """
    if sample_weight is None:
        weight_sum = float(len(per_sample)) if weight_sum is None else float(weight_sum)
        grad *= grad.dtype.type(1.0 / (weight_sum * n_outputs))
        return float(per_sample.sum() / weight_sum), grad
    if weight_sum is None:
        weight_sum = np.sum(sample_weight, dtype=np.float64)
    weight_sum = float(weight_sum)
    w = np.asarray(sample_weight, dtype=np.float64)
    grad *= (w / (weight_sum * n_outputs)).astype(grad.dtype)[:, None]
    return float((per_sample * w).sum() / weight_sum), grad


class SoftmaxCrossEntropy:
    """Mean (sample-weighted) cross-entropy of softmax probabilities.

    ``loss(logits, y, sample_weight)`` returns the scalar loss and the gradient
    with respect to the logits. The loss is computed by log-sum-exp with the
    row maximum subtracted, so it is finite for any finite logits.

    With ``p = softmax(logits)`` the gradient of the weighted mean
    ``sum_i w_i * (-log p[i, y_i]) / sum_i w_i`` is
    ``w_i * (p[i] - onehot(y_i)) / sum_i w_i``: valid because softmax is the
    canonical link of the multinomial log-loss.
    """

    def __call__(self, logits, y, sample_weight=None, weight_sum=None):
        """Return ``(loss, dlogits)``.

        Parameters
        ----------
        logits : ndarray of shape (n_samples, n_classes)
        y : ndarray of shape (n_samples,)
            Integer class indices in ``[0, n_classes)``.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative weights; None means all ones.
        weight_sum : float, default=None
            The normalizer of the weighted sum; None means the sum of
            ``sample_weight`` (the number of samples when unweighted). A part
            of a batch passes the whole batch's weight, so that the losses and
            gradients of its parts add up to the batch's.

        Returns
        -------
        loss : float
            The weighted cross-entropy summed and divided by ``weight_sum``
            (a Python float, computed in float64 whatever the logits' dtype).
        dlogits : ndarray of shape (n_samples, n_classes)
            Gradient of ``loss`` with respect to ``logits``, in their dtype.
        """
        n = logits.shape[0]
        rows = np.arange(n)
        log_proba = log_softmax(logits)
        nll = -log_proba[rows, y].astype(np.float64)
        dlogits = np.exp(log_proba)
        dlogits[rows, y] -= 1
        return _weighted_mean(nll, dlogits, sample_weight, weight_sum)

    def target_layout(self, dtype):
        """The shape and dtype of one sample's target (a class index)."""
        return (), np.dtype(np.int64)


class LogisticLoss:
    """Binary cross-entropy of sigmoid probabilities, summed over the outputs.

    One logistic output per label: a binary classifier has one (the
    probability of its second class), a multilabel classifier one per label,
    as MLPClassifier has. A sample's term is the sum over its outputs of
    ``softplus(z) - y * z`` (that is ``-y log p - (1 - y) log(1 - p)`` with
    ``p = sigmoid(z)``), computed without forming ``p`` so that it is finite
    for any finite ``z``; its gradient is ``p - y``, valid because the logit
    is the canonical link of the Bernoulli log-loss.
    """

    def __init__(self, n_outputs):
        self.n_outputs = int(n_outputs)

    def target_layout(self, dtype):
        """The shape and dtype of one sample's target (``n_outputs`` zeros and ones)."""
        return (self.n_outputs,), np.dtype(dtype)

    def __call__(self, logits, y, sample_weight=None, weight_sum=None):
        y = y.reshape(logits.shape).astype(logits.dtype, copy=False)
        per_output = np.logaddexp(0, logits) - y * logits
        per_sample = per_output.astype(np.float64).sum(axis=1)
        return _weighted_mean(per_sample, expit(logits) - y, sample_weight, weight_sum)


class _RegressionLoss:
    """A loss of ``n_outputs`` real targets per sample, mean over outputs.

    ``loss(out, y, sample_weight, weight_sum)`` returns the weighted sum over
    samples of the mean over outputs, divided by ``weight_sum``, and its
    gradient with respect to ``out`` (as SoftmaxCrossEntropy does).
    """

    def __init__(self, n_outputs):
        self.n_outputs = int(n_outputs)

    def target_layout(self, dtype):
        """The shape and dtype of one sample's target (``n_outputs`` reals)."""
        return (self.n_outputs,), np.dtype(dtype)

    def __call__(self, out, y, sample_weight=None, weight_sum=None):
        per_sample, grad = self._pointwise(out, y.reshape(out.shape).astype(out.dtype, copy=False))
        per_sample = per_sample.astype(np.float64).sum(axis=1) / self.n_outputs
        return _weighted_mean(per_sample, grad, sample_weight, weight_sum, self.n_outputs)


class SquaredError(_RegressionLoss):
    """Half the squared error, ``(out - y)**2 / 2``, as MLPRegressor's loss.

    The network's output is the prediction (identity link); the gradient of
    a sample's term is ``out - y``.
    """

    def _pointwise(self, out, y):
        diff = out - y
        return 0.5 * diff * diff, diff

    @staticmethod
    def predict(out):
        return out


class PoissonLoss(_RegressionLoss):
    """Half the Poisson deviance up to a constant, with a log link.

    The network's output ``z`` is the log of the predicted mean: the term of
    a sample is ``exp(z) - y * z`` and its gradient ``exp(z) - y``, valid
    because the log is the canonical link of the Poisson distribution.
    Predictions ``exp(z)`` are positive.
    """

    def _pointwise(self, out, y):
        mean = np.exp(out)
        return mean - y * out, mean - y

    @staticmethod
    def predict(out):
        return np.exp(out)


REGRESSION_LOSSES = {"squared_error": SquaredError, "poisson": PoissonLoss}
