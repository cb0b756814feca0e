"""The losses: values, gradients, weights, stability and dtypes."""

import numpy as np
import pytest
from tests.support.gradcheck import numerical_gradient
from sklearn.metrics import log_loss, mean_poisson_deviance

from skcnn._loss import PoissonLoss, SoftmaxCrossEntropy, SquaredError


def reference_loss(logits, y, sample_weight=None):
    """Weighted mean of -log softmax(logits)[i, y_i], straight from the formula."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    nll = -log_p[np.arange(len(y)), y]
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    return np.sum(w * nll) / np.sum(w)


@pytest.fixture
def problem():
    rng = np.random.RandomState(0)
    logits = 3 * rng.standard_normal((7, 4))
    y = np.array([0, 1, 2, 3, 1, 1, 0])
    w = rng.uniform(0.1, 3.0, size=7)
    return logits, y, w


@pytest.mark.parametrize("weighted", [False, True])
def test_loss_value_matches_formula_and_sklearn(problem, weighted):
    logits, y, w = problem
    w = w if weighted else None
    loss, _ = SoftmaxCrossEntropy()(logits, y, w)
    assert isinstance(loss, float)
    assert loss == pytest.approx(reference_loss(logits, y, w), rel=1e-13)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(
        log_loss(y, proba, sample_weight=w, labels=[0, 1, 2, 3]), rel=1e-10
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_finite_differences(problem, weighted):
    logits, y, w = problem
    w = w if weighted else None
    loss_fn = SoftmaxCrossEntropy()
    _, dlogits = loss_fn(logits, y, w)
    assert dlogits.shape == logits.shape
    numeric = numerical_gradient(lambda: loss_fn(logits, y, w)[0], logits)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)
    # Each row's gradient sums to zero: softmax is shift invariant.
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-15)


def test_gradient_closed_form(problem):
    logits, y, w = problem
    _, dlogits = SoftmaxCrossEntropy()(logits, y, w)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = (p - np.eye(4)[y]) * (w / w.sum())[:, None]
    np.testing.assert_allclose(dlogits, expected, rtol=1e-12, atol=1e-16)


def test_inputs_not_modified(problem):
    logits, y, w = problem
    saved = logits.copy(), y.copy(), w.copy()
    SoftmaxCrossEntropy()(logits, y, w)
    for a, b in zip((logits, y, w), saved):
        np.testing.assert_array_equal(a, b)


def test_huge_logits_are_stable():
    logits = np.array([
        [1e4, -1e4, 0.0],  # confident and right
        [-1e4, 1e4, 0.0],  # confident and wrong
        [1e4, 1e4, -1e4],  # a tie between two classes
    ])
    y = np.array([0, 0, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dlogits = SoftmaxCrossEntropy()(logits, y)
    assert np.isfinite(loss) and np.isfinite(dlogits).all()
    assert loss == pytest.approx((0.0 + 2e4 + np.log(2)) / 3, rel=1e-12)
    expected = np.array([
        [0.0, 0.0, 0.0],
        [-1.0, 1.0, 0.0],
        [-0.5, 0.5, 0.0],
    ]) / 3
    np.testing.assert_allclose(dlogits, expected, atol=1e-15)


def test_shift_invariance(problem):
    logits, y, w = problem
    loss_fn = SoftmaxCrossEntropy()
    loss, grad = loss_fn(logits, y, w)
    loss_shifted, grad_shifted = loss_fn(logits + 1e3, y, w)
    assert loss_shifted == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(grad_shifted, grad, atol=1e-12)


def test_integer_weights_equal_repeated_rows(problem):
    logits, y, _ = problem
    counts = np.array([1, 3, 0, 2, 1, 4, 2])
    loss_fn = SoftmaxCrossEntropy()
    loss_w, grad_w = loss_fn(logits, y, counts.astype(float))
    rows = np.repeat(np.arange(len(y)), counts)
    loss_r, grad_r = loss_fn(logits[rows], y[rows])
    assert loss_w == pytest.approx(loss_r, rel=1e-13)
    # The gradient of a weighted row is the sum over its copies.
    summed = np.zeros_like(grad_w)
    np.add.at(summed, rows, grad_r)
    np.testing.assert_allclose(grad_w, summed, rtol=1e-12, atol=1e-16)
    assert not grad_w[2].any()  # weight zero: no gradient


def test_unit_weights_equal_no_weights(problem):
    logits, y, _ = problem
    loss_fn = SoftmaxCrossEntropy()
    loss_a, grad_a = loss_fn(logits, y)
    loss_b, grad_b = loss_fn(logits, y, np.ones(len(y)))
    assert loss_a == pytest.approx(loss_b, rel=1e-15)
    np.testing.assert_allclose(grad_a, grad_b, rtol=1e-15)


def test_weights_are_normalized(problem):
    """Scaling every weight by a constant changes nothing (mean, not sum)."""
    logits, y, w = problem
    loss_fn = SoftmaxCrossEntropy()
    loss_a, grad_a = loss_fn(logits, y, w)
    loss_b, grad_b = loss_fn(logits, y, 37.0 * w)
    assert loss_a == pytest.approx(loss_b, rel=1e-13)
    np.testing.assert_allclose(grad_a, grad_b, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_logits_give_float32_gradient(problem, weighted):
    logits, y, w = problem
    w = w if weighted else None
    loss32, grad32 = SoftmaxCrossEntropy()(logits.astype(np.float32), y, w)
    loss64, grad64 = SoftmaxCrossEntropy()(logits, y, w)
    assert grad32.dtype == np.float32
    assert isinstance(loss32, float)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6)


def test_single_sample_two_classes():
    loss, grad = SoftmaxCrossEntropy()(np.array([[0.0, np.log(3.0)]]), np.array([1]))
    assert loss == pytest.approx(-np.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.25, -0.25]], rtol=1e-14)


# ------------------------------------------------------- regression losses


@pytest.mark.parametrize("loss_cls", [SquaredError, PoissonLoss], ids=["squared", "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_loss_gradients_finite_differences(loss_cls, weighted):
    rng = np.random.RandomState(0)
    out = rng.standard_normal((6, 3))
    y = rng.poisson(2.0, size=(6, 3)).astype(float)
    w = rng.uniform(0.1, 3.0, size=6) if weighted else None
    loss = loss_cls(3)
    _, grad = loss(out, y, w)
    numeric = numerical_gradient(lambda: loss(out, y, w)[0], out)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_regression_loss_values_follow_scikit_learn():
    rng = np.random.RandomState(1)
    out = rng.standard_normal((8, 2))
    y = rng.poisson(3.0, size=(8, 2)).astype(float)
    w = rng.uniform(0.5, 2.0, size=8)
    # MLPRegressor's squared loss: half the mean squared error, mean over outputs.
    value, _ = SquaredError(2)(out, y, w)
    expected = 0.5 * np.average(((out - y) ** 2).mean(axis=1), weights=w)
    assert value == pytest.approx(expected, rel=1e-12)
    # Poisson with a log link: half the deviance, up to a term of y alone.
    value, _ = PoissonLoss(2)(out, y, w)
    mean = np.exp(out)
    half_deviance = 0.5 * mean_poisson_deviance(y.ravel(), mean.ravel(), sample_weight=np.repeat(w, 2))
    constant = np.average(np.where(y > 0, y * np.log(np.where(y > 0, y, 1)) - y, 0).mean(axis=1), weights=w)
    assert value == pytest.approx(half_deviance - constant, rel=1e-10)


def test_unweighted_and_all_ones_weights_give_equal_bits():
    rng = np.random.RandomState(2)
    for loss, y in [(SoftmaxCrossEntropy(), rng.randint(0, 4, 9)), (SquaredError(4), rng.rand(9, 4))]:
        out = rng.standard_normal((9, 4)).astype(np.float32)
        a = loss(out, y, None, 20.0)
        b = loss(out, y, np.ones(9, dtype=np.float32), 20.0)
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
