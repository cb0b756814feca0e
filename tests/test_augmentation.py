"""Random transforms of training batches (``skcnn.augmentation``, ``augment=``)."""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import (
    check_estimators_overwrite_params,
    check_estimators_pickle,
    check_fit_idempotent,
    check_get_params_invariance,
    check_set_params,
)

from skcnn import NumpyCNNClassifier, _base
from skcnn._training import stochastic as _stochastic
from skcnn._random import mix_seed, sample_keys
from skcnn._training.parallel import forward_flops, MIN_FLOPS_PER_SAMPLE
from skcnn.augmentation import (
    RandomFlip,
    RandomRotation,
    RandomShift,
    _uniforms,
    apply_transforms,
    augment_batch,
)


def draws_for(values, m):
    """Uniform numbers that RandomShift(m) turns into the shifts ``values``."""
    return (np.asarray(values, dtype=np.float64) + m + 0.5) / (2 * m + 1)


def naive_shift(image, dy, dx):
    """Pixel (i, j) of ``image`` (C, H, W) moves to (i + dy, j + dx); zeros move in."""
    out = np.zeros_like(image)
    _, h, w = image.shape
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[:, i + dy, j + dx] = image[:, i, j]
    return out


def test_a_shift_by_one_row_moves_every_pixel_one_row_down():
    X = np.arange(1 * 1 * 4 * 3, dtype=np.float32).reshape(1, 1, 4, 3) + 1
    u = np.column_stack([draws_for([1], 2), draws_for([0], 2)])
    out = RandomShift(2)._apply(X, u)
    np.testing.assert_array_equal(out[0, 0, 1:], X[0, 0, :-1])
    np.testing.assert_array_equal(out[0, 0, 0], 0)
    assert out.dtype == np.float32


@pytest.mark.parametrize("seed", range(3))
def test_shifts_equal_the_naive_reference(seed):
    rng = np.random.RandomState(seed)
    n, m = 12, (3, 2)
    X = rng.standard_normal((n, 2, 5, 7))
    dy, dx = rng.randint(-m[0], m[0] + 1, n), rng.randint(-m[1], m[1] + 1, n)
    u = np.column_stack([draws_for(dy, m[0]), draws_for(dx, m[1])])
    out = RandomShift(m)._apply(X, u)
    for k in range(n):
        np.testing.assert_array_equal(out[k], naive_shift(X[k], dy[k], dx[k]))
    # Along an axis of length n the shifts are drawn from -(n - 1) to n - 1:
    # a sample keeps at least one row and one column of its own.
    big = RandomShift(9)._apply(X[:2], np.column_stack([draws_for([4, -4], 4), draws_for([6, -6], 6)]))
    np.testing.assert_array_equal(big[0], naive_shift(X[0], 4, 6))
    np.testing.assert_array_equal(big[1], naive_shift(X[1], -4, -6))
    assert (big[0, :, 4, 6] != 0).all() and (big[1, :, 0, 0] != 0).all()


def test_flips_reverse_the_drawn_samples_only():
    X = np.random.RandomState(0).standard_normal((4, 3, 5, 6)).astype(np.float32)
    u = np.array([[0.1, 0.9], [0.9, 0.1], [0.3, 0.2], [0.7, 0.8]])
    out = RandomFlip(horizontal=True, vertical=True)._apply(X, u)
    np.testing.assert_array_equal(out[0], X[0, :, :, ::-1])
    np.testing.assert_array_equal(out[1], X[1, :, ::-1, :])
    np.testing.assert_array_equal(out[2], X[2, :, ::-1, ::-1])
    np.testing.assert_array_equal(out[3], X[3])
    np.testing.assert_array_equal(RandomFlip()._apply(X, u)[1], X[1])  # horizontal only
    assert out.dtype == np.float32


@pytest.mark.parametrize("order", [0, 1])
def test_rotations_equal_scipy_ndimage_rotate_image_by_image(order):
    rng = np.random.RandomState(0)
    X = rng.rand(5, 2, 9, 7)
    u = rng.rand(5, 1)
    out = RandomRotation(30, order=order)._apply(X, u)
    angles = (2 * u[:, 0] - 1) * 30
    for k in range(5):
        for c in range(2):
            want = ndimage.rotate(X[k, c], angles[k], reshape=False, order=order, mode="constant")
            np.testing.assert_allclose(out[k, c], want, atol=1e-12)
    if order == 0:  # every pixel is one of the image's, or a zero moved in
        assert np.isin(out, np.append(X, 0)).all()
    assert RandomRotation(10)._apply(X.astype(np.float32), u).dtype == np.float32


def test_nearest_rotation_keeps_the_pixel_statistics_bilinear_smooths_them():
    # Why RandomRotation(order=0) exists: bilinear rotation averages pixels,
    # lowering their variance, which batch norm's running statistics record.
    rng = np.random.RandomState(0)
    X = rng.rand(200, 1, 16, 16)
    u = rng.rand(200, 1)
    inner = (slice(None), slice(None), slice(4, 12), slice(4, 12))  # away from the corners
    nearest = RandomRotation(20, order=0)._apply(X, u)[inner].var()
    bilinear = RandomRotation(20, order=1)._apply(X, u)[inner].var()
    assert abs(nearest / X[inner].var() - 1) < 0.05 and bilinear / X[inner].var() < 0.8


def test_draws_follow_the_seed_and_the_sample_values():
    rng = np.random.RandomState(0)
    X = rng.rand(400, 1, 6, 6)
    X[7] = X[3]  # a repeated sample
    shifted = apply_transforms(X, RandomShift(2), seed=1)
    again = apply_transforms(X, [RandomShift(2)], seed=1)
    np.testing.assert_array_equal(shifted, again)
    np.testing.assert_array_equal(shifted[7], shifted[3])
    assert not np.array_equal(apply_transforms(X, RandomShift(2), seed=2), shifted)
    # A sample's draw does not depend on its company or position in the batch.
    order = [7, 100, 3]
    np.testing.assert_array_equal(apply_transforms(X[order], RandomShift(2), seed=1), shifted[order])
    # Every shift in [-2, 2] shows up on both axes; about half of the samples flip.
    seen = {(dy, dx) for k in range(60) for dy in range(-2, 3) for dx in range(-2, 3)
            if np.array_equal(shifted[k], naive_shift(X[k], dy, dx))}
    assert {dy for dy, _ in seen} == {dx for _, dx in seen} == set(range(-2, 3))
    flipped = apply_transforms(X, RandomFlip(), seed=1)
    n_flipped = sum(not np.array_equal(flipped[k], X[k]) for k in range(400))
    assert 160 < n_flipped < 240


def test_a_list_applies_its_transforms_in_order():
    """Transform ``i`` of a list acts on the output of transform ``i - 1``, with
    draws hashed from the seed, ``i`` and the sample's values before any
    transform. A flip then a shift is not a shift then a flip: the flip
    reverses the direction of the shift."""
    X = np.random.RandomState(0).rand(200, 1, 6, 6)
    keys = sample_keys(X.reshape(len(X), -1))
    shift, flip = RandomShift(1), RandomFlip()
    u0 = _uniforms(keys, mix_seed(5, 0), shift.n_draws)
    u1 = _uniforms(keys, mix_seed(5, 1), flip.n_draws)
    expected = flip._apply(shift._apply(X, u0), u1)
    np.testing.assert_array_equal(augment_batch([shift, flip], X, (5,)), expected)
    reversed_order = shift._apply(flip._apply(X, u0[:, :flip.n_draws]), u1[:, :shift.n_draws])
    assert not np.array_equal(expected, reversed_order)


def test_apply_transforms_takes_3d_images_and_leaves_them_alone():
    X = np.random.RandomState(0).rand(3, 4, 4)
    X.setflags(write=False)
    out = apply_transforms(X, [RandomRotation(20)], seed=0)
    assert out.shape == X.shape and out.flags.writeable
    with pytest.raises(ValueError, match=r"shape \(n_samples, C, H, W\).*Received an array of shape \(3, 16\)"):
        apply_transforms(X.reshape(3, 16), RandomFlip())


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RandomShift(-1), r"max_shift must be a non-negative int or a pair.*max_shift=-1"),
        (lambda: RandomShift(1.5), r"Received max_shift=1.5"),
        (lambda: RandomRotation(-5), r"degrees must be a non-negative real number.*degrees=-5"),
        (lambda: RandomRotation(5, order=3), r"order must be 0 \(nearest\) or 1 \(bilinear\). Received order=3"),
        (lambda: RandomFlip(horizontal="yes"), r"horizontal must be a bool. Received horizontal='yes'"),
    ],
)
def test_bad_transform_parameters(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("augment, where", [("flip", "augment='flip'"), ([RandomFlip(), 3], r"augment\[1\]=3")])
def test_bad_augment_values(few_digits, augment, where):
    X, y = few_digits
    with pytest.raises(ValueError, match=rf"augment must be None, a transform.*Received {where}"):
        NumpyCNNClassifier(augment=augment, max_iter=1).fit(X, y)


# ------------------------------------------------------------- estimators


def small(**params):
    return NumpyCNNClassifier(
        **{"filters": (4,), "hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0, **params}
    )


@pytest.fixture
def spy_batches(monkeypatch):
    """Record the batches augment_batch transforms in training."""
    seen = []

    def spy(transforms, X, seed):
        seen.append((X.shape[0], seed))
        return augment_batch(transforms, X, seed)

    monkeypatch.setattr(_stochastic, "augment_batch", spy)  # the epoch loop's
    return seen


def test_only_training_batches_are_augmented(few_digits, spy_batches):
    X, y = few_digits
    clf = small(augment=[RandomShift(1)], early_stopping=True, validation_fraction=0.2,
                batch_size=50).fit(X, y)
    n_train = 300 - 60
    per_epoch = [sum(n for n, (_, epoch, _) in spy_batches if epoch == e) for e in range(3)]
    assert per_epoch == [n_train] * 3
    assert len({seed for _, (seed, _, _) in spy_batches}) == 1  # one draw per training call
    assert sorted({(epoch, batch) for _, (_, epoch, batch) in spy_batches}) == [
        (e, b) for e in range(3) for b in range(5)
    ]
    spy_batches.clear()
    clf.predict_proba(X)
    clf.score(X, y)
    assert spy_batches == []


def test_augmentation_changes_training_and_is_reproducible(few_digits):
    X, y = few_digits
    plain = small().fit(X, y)
    augmented = small(augment=[RandomShift(1), RandomRotation(10)]).fit(X, y)
    assert augmented.loss_curve_ != plain.loss_curve_
    again = small(augment=[RandomShift(1), RandomRotation(10)]).fit(X, y)
    assert again.loss_curve_ == augmented.loss_curve_
    for p, q in zip(again.coefs_ + again.intercepts_, augmented.coefs_ + augmented.intercepts_):
        np.testing.assert_array_equal(p, q)
    other = small(augment=[RandomShift(1), RandomRotation(10)], random_state=1).fit(X, y)
    assert other.loss_curve_ != augmented.loss_curve_


def test_augmented_model_is_the_same_whatever_n_jobs(digits):
    X, y = digits
    models = [
        NumpyCNNClassifier(filters=(32, 64), pool_size=1, max_iter=1, random_state=2, n_jobs=n_jobs,
                           augment=[RandomFlip(), RandomShift(1)]).fit(X[:256], y[:256])
        for n_jobs in (1, 2)
    ]
    assert forward_flops(models[1]._network) >= MIN_FLOPS_PER_SAMPLE  # shards side by side
    for p, q in zip(models[0].coefs_ + models[0].intercepts_, models[1].coefs_ + models[1].intercepts_):
        np.testing.assert_array_equal(p, q)
    assert models[0].loss_curve_ == models[1].loss_curve_


def test_integer_weights_equal_repeated_samples_with_augmentation(few_digits):
    X, y = few_digits
    X, y = X[:60], y[:60]
    w = np.random.RandomState(0).randint(0, 3, 60)
    params = dict(augment=[RandomShift(1), RandomFlip()], batch_size=500, dropout=0.0)
    weighted = small(**params).fit(X, y, sample_weight=w)
    repeated = small(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6)


def test_transforms_clone_and_grid_search():
    clf = small(augment=[RandomShift((2, 1)), RandomRotation(5)])
    twin = clone(clf)
    assert twin.augment[0] is not clf.augment[0]
    assert [t.get_params() for t in twin.augment] == [{"max_shift": (2, 1)}, {"degrees": 5, "order": 1}]
    assert repr(twin.augment[0]) == "RandomShift(max_shift=(2, 1))"
    twin.augment[0].set_params(max_shift=0)
    assert clf.augment[0].get_params() == {"max_shift": (2, 1)}


def test_grid_search_over_augment(few_digits):
    X, y = few_digits
    search = GridSearchCV(
        small(max_iter=2), {"augment": [None, [RandomFlip()]]}, cv=2, error_score="raise"
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert len(search.cv_results_["params"]) == 2


@pytest.mark.parametrize(
    "check",
    [check_estimators_overwrite_params, check_fit_idempotent, check_get_params_invariance,
     check_set_params, check_estimators_pickle],
)
def test_estimator_checks_with_augmentation(check):
    # No rotation: the checks' data are short signals (1 x 3), which it refuses.
    est = NumpyCNNClassifier(filters=(4,), hidden_layer_sizes=(8,), max_iter=5,
                             augment=[RandomShift(1), RandomFlip()])
    check(type(est).__name__, est)


# ------------------------------------------- the geometry transforms act on


def digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize(
    "transforms, expected",
    [
        ([RandomShift(2)], "239cd3caaa8e8e9d"),
        ([RandomShift((1, 3))], "a1d98750c5549f2b"),
        ([RandomFlip(True, True)], "cfb432ea8bbf5e7f"),
        ([RandomRotation(30)], "1f721c9cc9085fb8"),
        ([RandomRotation(30, order=0)], "4ac5adf597549104"),
        ([RandomShift(1), RandomFlip(), RandomRotation(10)], "bb77bfae7a61830e"),
    ],
)
def test_images_get_the_bits_they_got_before_transforms_knew_signals(transforms, expected):
    """The digests were taken with skcnn 0.1.0's transforms (main at 577d1c3):
    images of at least 2 x 2 pixels, shifted by less than their size, are
    transformed exactly as before."""
    X = np.random.RandomState(0).rand(64, 2, 6, 5).astype(np.float32)
    assert digest(apply_transforms(X, transforms, seed=3)) == expected


def test_a_shift_moves_a_one_row_signal_along_the_row_only():
    # The case: RandomShift(2) used to move 82 % of these out of their row.
    X = np.random.RandomState(0).standard_normal((1000, 1, 1, 128)).astype(np.float32)
    out = apply_transforms(X, [RandomShift(2)], seed=0)
    assert not (out.reshape(1000, -1) == 0).all(axis=1).any()
    shifts = []
    for k in range(1000):
        (dx,) = [d for d in range(-2, 3) if np.array_equal(out[k], naive_shift(X[k], 0, d))]
        shifts.append(dx)
    assert set(shifts) == set(range(-2, 3))
    # A column moves along its column; 1-D samples (C, L) as one-row images.
    column = np.ascontiguousarray(X[:200].transpose(0, 1, 3, 2))
    moved = apply_transforms(column, [RandomShift(2)], seed=0)
    assert all(
        any(np.array_equal(moved[k], naive_shift(column[k], d, 0)) for d in range(-2, 3))
        for k in range(200)
    )
    np.testing.assert_array_equal(
        apply_transforms(X[:, :, 0], [RandomShift(2)], seed=0, sample_ndim=1), out[:, :, 0]
    )


def test_a_flip_reverses_a_signal_whichever_way_it_lies():
    X = np.random.RandomState(1).standard_normal((400, 2, 1, 16))
    row = apply_transforms(X, [RandomFlip()], seed=0)
    flipped = np.array([np.array_equal(row[k], X[k, :, :, ::-1]) for k in range(400)])
    assert all(flipped[k] or np.array_equal(row[k], X[k]) for k in range(400))
    assert 160 < flipped.sum() < 240
    column = X.transpose(0, 1, 3, 2)  # the same signals as columns: RandomFlip() reverses them too
    np.testing.assert_array_equal(apply_transforms(column, RandomFlip(), seed=0), row.transpose(0, 1, 3, 2))
    np.testing.assert_array_equal(
        apply_transforms(column, RandomFlip(horizontal=False, vertical=True), seed=0),
        row.transpose(0, 1, 3, 2),
    )
    np.testing.assert_array_equal(apply_transforms(X[:, :, 0], RandomFlip(), seed=0, sample_ndim=1), row[:, :, 0])
    np.testing.assert_array_equal(apply_transforms(X, RandomFlip(False, False), seed=0), X)


@pytest.mark.parametrize(
    "shape, sample_ndim, what",
    [
        ((1, 1, 128), 2, r"samples of shape \(1, 1, 128\) \(channels, height, width\): a signal"),
        ((2, 50, 1), 2, r"samples of shape \(2, 50, 1\) \(channels, height, width\): a signal"),
        ((3, 128), 1, r"samples of shape \(3, 128\) \(channels, length\): 1-D samples"),
        ((1, 2, 2), 2, r"samples of shape \(1, 2, 2\).*at least 3 x 3 pixels"),
    ],
)
def test_a_rotation_refuses_signals_and_tiny_images(shape, sample_ndim, what):
    X = np.ones((4,) + shape)
    message = rf"RandomRotation\(degrees=10, order=1\) cannot rotate {what}.*Remove it from augment"
    with pytest.raises(ValueError, match=message):
        apply_transforms(X, [RandomShift(1), RandomRotation(10)], sample_ndim=sample_ndim)


def test_fit_refuses_a_transform_that_cannot_apply_before_any_training(monkeypatch):
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((40, 128)), np.arange(40) % 2  # 1 x 128 signals
    clf = small(max_iter=1).fit(X, y)
    before = [a.copy() for a in clf.coefs_ + clf.intercepts_]
    monkeypatch.setattr(_base.BaseCNN, "_initialize", lambda *args: pytest.fail("trained"))
    monkeypatch.setattr(_base.BaseCNN, "_train_stochastic", lambda *args: pytest.fail("trained"))
    clf.set_params(augment=[RandomShift(2), RandomRotation(10)])
    for call in (clf.fit, clf.partial_fit):
        with pytest.raises(ValueError, match=r"RandomRotation.*cannot rotate samples of shape \(1, 1, 128\)"):
            call(X, y)
    for a, b in zip(before, clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"cannot rotate samples of shape \(1, 1, 128\)"):
        clone(clf).fit(X, y)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 6),
    shape=st.one_of(
        st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7)),  # images, 1-row, 1-column
        st.tuples(st.integers(1, 3), st.integers(1, 40)),  # 1-D samples (C, L)
    ),
    max_shift=st.one_of(st.integers(0, 50), st.tuples(st.integers(0, 50), st.integers(0, 50))),
    flips=st.tuples(st.booleans(), st.booleans()),
    degrees=st.floats(0, 360),
    order=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**31 - 1),
)
def test_no_transform_turns_a_sample_into_zeros(n, shape, max_shift, flips, degrees, order, seed):
    """Samples without a zero value keep at least one: nothing is moved or
    turned entirely out of its frame, or the transform refuses the shape.
    (A rotation after a large shift can turn what is left out of the frame,
    as it can a digit drawn in a corner: the guarantee is per transform.)"""
    X = np.random.RandomState(seed % 1000).uniform(0.5, 1.0, (n,) + shape).astype(np.float32)
    sample_ndim = len(shape) - 1
    alone = [[RandomShift(max_shift)], [RandomFlip(*flips)], [RandomRotation(degrees, order)]]
    for transforms in alone + [alone[1] + alone[0], alone[0] + alone[1]]:
        try:
            out = apply_transforms(X, transforms, seed=seed, sample_ndim=sample_ndim)
        except ValueError as error:
            assert "RandomRotation" in str(error)
            assert sample_ndim == 1 or min(shape[1:]) < 3
            continue
        assert out.shape == X.shape and out.dtype == X.dtype
        assert (out.reshape(n, -1) != 0).any(axis=1).all(), transforms
